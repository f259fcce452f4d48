"""Scoring on a Ray cluster (`mlspec run SPEC --ray [ADDRESS]`): a model's batches go to Ray actors.

The driver compiles the spec and runs mlspec's own executor as usual; only the runner is
remote. `RayRunner` implements the `ModelRunner` protocol by sending each batch to an
idle `ModelActor`, one of `actors` that each load the model once (`load_runner`) on some
node. The executor keeps `concurrency` (= the number of actors) batches in flight, so
its batching, cache, padding, ordering and splitting of failing batches are those of a
local run, and so are the scores.

- An exception the model raises inside an actor reaches the executor as itself (the
  Ray wrapper is taken off), so a failing batch is split and reported as locally.
- An actor that dies (its process, or its node) is replaced by a new one and the batch
  is sent again, up to `RETRIES` times.
- Models that are not scored in-process (`http` endpoints, `python` callables) get their
  ordinary local runner: an endpoint is a remote service already.
- White-box attacks (`tensor`, `forward`) use the model loaded on the driver as well,
  when the first one runs: the attack steps run there; the adversarial inputs are then
  scored by the actors like any other batch.
- Actors of several models share the cluster: a runner that needs room releases the
  actors of the others, which start again when those are next called.

Every node needs mlspec and the model's back end installed, and the model files at the
path the spec names (or shipped with the job's `runtime_env`). `ray` is imported only here,
when `connect` or a loader is called.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import weakref
from collections import deque
from typing import Any, Sequence

from mlspec.errors import ModelError, RunError, UsageError, first_line
from mlspec.model import ModelInfo

RETRIES = 3  # further tries of a batch whose actor died, each on a fresh or another actor
READY_SECONDS = 600.0  # how long actors may take to start and load the model
CONNECT_SECONDS = 15.0
ROOM_SECONDS = 10.0  # how long a replacement waits for room on the cluster before the others go on without it
_RUNNERS: weakref.WeakSet = weakref.WeakSet()  # every RayRunner of this process: they share the cluster


class ClusterError(RunError):
    """The Ray cluster cannot be reached or cannot hold the actors asked for (a one-line reason)."""


def _ray():
    """The `ray` module; a UsageError saying how to install it when it is not."""
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray", hint="pip install '.[ray]'") from None
    return ray


# ------------------------------------------------------------------ connecting


def connect(address: str | None, timeout: float = CONNECT_SECONDS) -> None:
    """Join the Ray cluster at `address` (`host:port`, `ray://host:port` or `auto`), or start a
    local one on loopback when it is None. Raises ClusterError, within about `timeout`
    seconds, when no cluster answers."""
    ray = _ray()
    if address is None:
        if ray.is_initialized():
            return
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        _init(ray, "a local Ray cluster", num_cpus=cores)
        return
    target = _bootstrap_address(address) if address == "auto" else address
    if target != "auto":
        _check_port(target, timeout)
    if not ray.is_initialized():
            _init(ray, f"the Ray cluster at {address}", address=target)


def _init(ray, what: str, **options) -> None:
    try:
        ray.init(include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False, **options)
    except Exception as error:  # ConnectionError, RuntimeError, ...: Ray's reason, on one line
        raise ClusterError(f"could not start or join {what}: {first_line(error)}") from None


def _bootstrap_address(address: str) -> str:
    """The `host:port` that `auto` stands for (RAY_ADDRESS, or the cluster `ray start` started on
    this machine), so that it is checked like any other; `auto` itself where Ray's helper moved."""
    try:
        from ray._private.services import canonicalize_bootstrap_address_or_die
    except ImportError:
        return address
    try:
        return canonicalize_bootstrap_address_or_die(address)
    except Exception as error:  # ConnectionError: none is running
        raise ClusterError(f"--ray auto: no running Ray cluster found ({first_line(error)})") from None


def _check_port(address: str, timeout: float) -> None:
    """A ClusterError unless `host:port` accepts a TCP connection within `timeout` seconds."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"--ray {address}: expected HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        raise ClusterError(f"no Ray cluster answers at {address}: {error.strerror or first_line(error)}") from None


# ------------------------------------------------------------------ the actor


class ModelActor:
    """One copy of the model on a node (made a Ray actor by `_actor_class`): loads it once and scores batches."""

    def __init__(self, model: ModelInfo, device: str, allow_python: bool):
        from runners import load_runner  # in the actor's process

        self.error: Exception | None = None
        try:
            self.runner = load_runner(model, device, allow_python)
        except Exception as error:  # reported by `describe`, which the driver calls first
            self.error = error

    def describe(self) -> dict:
        """The runner's attributes the driver copies; raises the load error, if any."""
        if self.error is not None:
            raise self.error
        runner = self.runner
        return {
            "labels": tuple(runner.labels),
            "device": runner.device,
            "gradients": bool(runner.gradients),
            "split_failed_batches": bool(runner.split_failed_batches),
            "ordered": callable(getattr(runner, "order", None)),
            "node": _node(),
        }

    def predict(self, inputs: Sequence, split: bool) -> Any:
        return self.runner.predict(inputs, split=split)

    def order(self, inputs: Sequence) -> Any:
        return self.runner.order(inputs)


def _node() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id()
    except Exception:  # not in a Ray worker
        return ""


_ACTOR_CLASS = None


def _actor_class(ray):
    global _ACTOR_CLASS
    if _ACTOR_CLASS is None:
        _ACTOR_CLASS = ray.remote(ModelActor)
    return _ACTOR_CLASS


# ------------------------------------------------------------------ the runner


class RayRunner:
    """A ModelRunner whose batches are scored by Ray actors, one batch per idle actor."""

    def __init__(self, model: ModelInfo, device: str, allow_python: bool, actors: int, gpus_per_actor: float):
        self.ray = _ray()
        self.model = model
        self.device_asked = device
        self.allow_python = allow_python
        self.size = max(1, actors)
        self.gpus_per_actor = gpus_per_actor
        self.concurrency = self.size  # the executor keeps one batch per actor in flight
        self.calls = 0  # predict calls sent to actors (tests, benchmarks)
        self.restarts = 0  # actors replaced after they died
        self._live: list = []  # the actors, busy or idle
        self._idle: deque = deque()
        self._changed = threading.Condition()
        self._starting = threading.Lock()
        self._local = None  # the model loaded on the driver: white-box attacks
        _RUNNERS.add(self)
        self._start_actors()
        info = self._info
        self.labels = info["labels"]
        self.device = info["device"]
        self.gradients = info["gradients"]
        self.split_failed_batches = info["split_failed_batches"]
        self.order = self._order if info["ordered"] else None  # as the back end's own `order`

    @property
    def actors(self) -> list:
        """The live actors' handles."""
        with self._changed:
            return list(self._live)

    # -------------------------------------------------------- ModelRunner

    def predict(self, inputs: Sequence, split: bool = True):
        with self._changed:
            self.calls += 1
        return self._call("predict", inputs, split)

    def _order(self, inputs: Sequence):
        """The back end's scoring order (texts by token length), computed by an actor (`order`)."""
        return self._call("order", inputs)

    def tensor(self, inputs: Any) -> Any:
        return self._driver_runner().tensor(inputs)

    def forward(self, batch: Any) -> Any:
        return self._driver_runner().forward(batch)

    # -------------------------------------------------------- actors

    def release(self) -> None:
        """Stop the actors (another model needs the room); the next call starts them again."""
        with self._changed:
            actors, self._live, self._idle = self._live, [], deque()
        for actor in actors:
            self._kill(actor)

    def _start_actors(self) -> None:
        """Start `size` actors when none are live, and wait until they have loaded the model."""
        with self._starting:
            if self._live:
                return
            self._make_room()
            actors = [self._new_actor() for _ in range(self.size)]
            try:
                infos = self._ready(actors)
            except BaseException:
                for actor in actors:
                    self._kill(actor)
                raise
            self._info = infos[0]
            with self._changed:
                self._live, self._idle = list(actors), deque(actors)
                self._changed.notify_all()

    def _room_for(self, actors: int) -> bool:
        free = self.ray.available_resources()
        return free.get("CPU", 0) >= actors and free.get("GPU", 0) >= actors * self.gpus_per_actor

    def _make_room(self) -> None:
        """Release other models' actors when the cluster has no room left for these."""
        if self._room_for(self.size):
            return
        for runner in list(_RUNNERS):
            if runner is not self:
                runner.release()

    def _new_actor(self):
        options = {"num_cpus": 1, "num_gpus": self.gpus_per_actor, "max_restarts": 0}
        device = self.device_asked if self.gpus_per_actor else "cpu"  # an actor without a GPU scores on its CPU
        return _actor_class(self.ray).options(**options).remote(self.model, device, self.allow_python)

    def _ready(self, actors: list) -> list[dict]:
        """Each actor's `describe`, once it has loaded the model; the model's own load error, as is."""
        ray = self.ray
        try:
            return ray.get([actor.describe.remote() for actor in actors], timeout=READY_SECONDS)
        except ray.exceptions.GetTimeoutError:
            raise ClusterError(f"{len(actors)} Ray actors of model `{self.model.name}` were not ready within {READY_SECONDS:g} s (does the cluster have the room?)") from None
        except ray.exceptions.RayTaskError as error:
            raise _cause(error) from None
        except ray.exceptions.RayActorError as error:
            raise ModelError(f"model `{self.model.name}`: a Ray actor died while loading it: {first_line(error)}") from None

    def _call(self, method: str, *args):
        """Run `method` on an idle actor; on an actor that died, again on a new one."""
        ray = self.ray
        died = None
        for _ in range(RETRIES + 1):
            actor = self._take()
            try:
                result = ray.get(getattr(actor, method).remote(*args))
            except ray.exceptions.RayActorError as error:  # died, or its node did (ActorDiedError, ActorUnavailableError)
                died = error
                self._replace(actor)
                continue
            except ray.exceptions.RayTaskError as error:
                self._give(actor)
                raise _cause(error) from None
            except BaseException:
                self._give(actor)
                raise
            self._give(actor)
            return result
        raise ModelError(f"model `{self.model.name}`: its Ray actor died {RETRIES + 1} times on one batch: {first_line(died)}")

    def _take(self):
        """An idle actor, waiting for one; the actors start again when none is live (released, or none could be replaced)."""
        while True:
            if not self.actors:
                self._start_actors()
            with self._changed:
                while not self._idle and self._live:
                    self._changed.wait()
                if self._idle:
                    return self._idle.popleft()

    def _give(self, actor) -> None:
        with self._changed:
            if any(actor is live for live in self._live):
                self._idle.append(actor)
            self._changed.notify_all()

    def _replace(self, dead) -> None:
        """Put a new actor in place of one that died; if none starts, carry on with the others."""
        self._kill(dead)
        with self._changed:
            if not any(dead is live for live in self._live):
                return  # released meanwhile
            self._live = [actor for actor in self._live if actor is not dead]
            self.restarts += 1
        deadline = time.monotonic() + ROOM_SECONDS  # the dead actor's CPU is free again soon, unless its node is gone
        while not self._room_for(1) and time.monotonic() < deadline:
            time.sleep(0.1)
        actor = self._new_actor() if self._room_for(1) else None
        try:
            if actor is None:
                raise ClusterError("no room")
            self._ready([actor])
        except Exception:  # no room or no node left for it: the others go on
            if actor is not None:
                self._kill(actor)
            with self._changed:
                self._changed.notify_all()
            return
        with self._changed:
            self._live.append(actor)
            self._idle.append(actor)
            self._changed.notify_all()

    def _kill(self, actor) -> None:
        try:
            self.ray.kill(actor)
        except Exception:  # already gone
            pass

    def _driver_runner(self):
        """The model loaded on the driver too, for white-box attacks' differentiable forward."""
        with self._starting:
            if self._local is None:
                from runners import load_runner

                self._local = load_runner(self.model, self.device_asked, self.allow_python)
            return self._local


def _cause(error: BaseException) -> BaseException:
    """The exception the model raised inside an actor, without Ray's wrapper."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else RuntimeError(first_line(error))


# ------------------------------------------------------------------ the loader


class RayLoader:
    """`load(model)` for the executor: a RayRunner for each model scored in-process, reused across
    specs; the ordinary runner for endpoints and Python callables."""

    def __init__(self, actors: int, gpus_per_actor: float, device: str, allow_python: bool):
        self.actors = actors
        self.gpus_per_actor = gpus_per_actor
        self.device = device
        self.allow_python = allow_python
        self.runners: dict[Any, RayRunner] = {}
        self._lock = threading.Lock()

    @property
    def cache_device(self) -> str:
        """The device the actors score on, as the prediction cache keys it (the driver may have no GPU)."""
        if self.device != "auto":
            return self.device
        return "cuda" if self.gpus_per_actor else "cpu"

    def __call__(self, model: ModelInfo):
        from runners import load_runner

        if not model.local:
            return load_runner(model, self.device, self.allow_python)
        with self._lock:
            if model not in self.runners:
                self.runners[model] = RayRunner(model, self.device, self.allow_python, self.actors, self.gpus_per_actor)
            return self.runners[model]

    def close(self) -> None:
        """Stop every actor this loader started."""
        for runner in self.runners.values():
            runner.release()


def ray_loader(address: str | None, actors: int | None = None, gpus_per_actor: float | None = None, device: str = "auto", allow_python: bool = False) -> RayLoader:
    """The runner factory for `mlspec run --ray`: joins the cluster (see `connect`) unless joined,
    and sizes the actors. `actors`: default the cluster's CPUs, or its GPUs when models score on
    CUDA; `gpus_per_actor`: default 1 when `device` is cuda, or auto on a cluster with GPUs, else 0."""
    ray = _ray()
    connect(address)
    total = ray.cluster_resources()
    cpus, gpus = int(total.get("CPU", 0)), float(total.get("GPU", 0))
    if device == "cuda" and not gpus:
        raise ClusterError("--device cuda: the Ray cluster has no GPUs")
    if gpus_per_actor is None:
        gpus_per_actor = 1.0 if device == "cuda" or (device == "auto" and gpus) else 0.0
    if actors is None:
        actors = int(gpus // gpus_per_actor) if gpus_per_actor else cpus
    _check_room(actors, gpus_per_actor, cpus, gpus)
    return RayLoader(actors, gpus_per_actor, device, allow_python)


def _check_room(actors: int, gpus_per_actor: float, cpus: int, gpus: float) -> None:
    if actors < 1:
        raise ClusterError(f"--ray-actors {actors}: at least one actor is needed (the cluster has {cpus} CPUs, {gpus:g} GPUs)")
    if actors > cpus:
        raise ClusterError(f"{actors} Ray actors of one CPU each do not fit the cluster's {cpus} CPUs (--ray-actors)")
    if actors * gpus_per_actor > gpus:
        raise ClusterError(f"{actors} Ray actors of {gpus_per_actor:g} GPUs each do not fit the cluster's {gpus:g} GPUs (--ray-actors, --ray-gpus-per-actor)")
