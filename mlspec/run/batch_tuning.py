"""Batch size and parallelism by measurement, for a local model whose declaration names no `batch`.

How fast a model scores an input depends on the batch size in ways a spec's author cannot
guess: a dense TF-IDF model may be fastest in mid-sized batches, a convolutional network in
large ones. So the executor times candidate settings — each size of `LADDER` with one call
per worker in flight, and the largest sizes also one call at a time — on real inputs (no
input is scored twice) and keeps the best for the rest.

A one-pass climb over growing sizes on the first inputs was biased towards small sizes:
the first inputs of a suite are often its shortest texts (and a back end that orders texts
by length scores the short ones first), the first calls of a session pay for its
allocations, and each size was timed once, at another moment of a shared machine's load.
So here:

- a warm-up (one batch of the largest candidate per worker) is scored first and not timed;
- the candidates are timed in `ROUNDS` rounds; in each round every candidate scores a slot
  of at least `SLOT_ROWS` inputs, the slots side by side in a region of the inputs, the
  rounds' regions spread evenly over all of them (so every candidate sees the same mix of
  inputs), the order of the candidates reversed every other round (so a drift of the
  machine's load favours none);
- a slot counts the seconds its calls took, added up, per input and call in parallel (not
  its wall time: with one batch per worker a slot waits for the slowest, which on a busy
  machine counted against the large sizes);
- a candidate's figure is the median over the rounds of its time against the round's
  median (a round timed while the machine was busier weighs like the others; one slow
  round is ignored); a candidate `FAR_SLOWER` than the best is dropped after any round
  (every input a probe scores at such a setting costs the run), and after `MIN_ROUNDS`
  rounds those `SLOWER` than the best;
- of the candidates within `EVEN` of the fastest the largest size (fewest calls), then the
  most calls in parallel, is kept: closer figures are noise.

The best size can depend on the machine's load: a dense model's large batches spill out of
the CPU's caches, which costs more while other processes share them. The choice is made
under the load of the run itself.

Tuning pays only when scoring takes long enough for a better setting to save more than the
probes cost: when the warm-up says the whole run would take under `QUICK_SECONDS` at its
setting (the largest candidate, one call per worker), that setting is kept untimed.

The probes are limited to `PROBE_SHARE` of the inputs (the largest sizes are left out of a
shorter run). Only runs of at least `MIN_TUNED_ROWS` inputs are tuned; shorter ones use
`FIXED_BATCH`. The scores do not depend on the choice: the back ends score each row of a
batch of 16 or more inputs with the same kernels (the executor pads shorter batches;
`tests/test_batch_tuning.py` checks the demo models).
"""

from __future__ import annotations

import math

from mlspec.model import FIXED_BATCH, MIN_TUNED_ROWS

LADDER = (32, 64, 128, 256, 512, 1024, 2048, 4096)
SERIAL_SIZES = 2  # the largest this many sizes are also timed one call at a time
SLOT_ROWS = 1024  # inputs a candidate scores in one round, at least (else one batch per worker)
ROUNDS = 5  # timings of each candidate; the median counts
MIN_ROUNDS = 3  # rounds before clearly slower candidates are dropped
PROBE_SHARE = 0.5  # at most this share of the inputs is scored in probes
SLOWER = 1.25  # a candidate this much slower per input than the best (median) is dropped after MIN_ROUNDS
FAR_SLOWER = 1.5  # a candidate this much slower is dropped after any round
EVEN = 1.03  # candidates this close to the fastest median count as as fast (closer figures are noise; a wider band would give up speed for fewer calls)
QUICK_SECONDS = 0.25  # a run the warm-up says takes less than this keeps the warm-up's setting

Setting = tuple[int, int]  # (batch size, calls in parallel)


class BatchTuner:
    """Plans the rounds of probes, learns from their timings and says the setting to keep."""

    def __init__(self, total_rows: int, workers: int = 1):
        self.workers = max(1, workers)
        self.total = total_rows
        self.candidates = self._candidates(total_rows)
        self.tuning = total_rows >= MIN_TUNED_ROWS and len(self.candidates) > 1
        self.timings: dict[Setting, list[float]] = {c: [] for c in self.candidates}  # seconds per input, one per round
        self.rounds = 0
        self.quick: float | None = None  # the whole run's seconds as the warm-up projected them, when under QUICK_SECONDS

    def _candidates(self, total_rows: int) -> list[Setting]:
        """The settings to time: sizes of the ladder, nearest FIXED_BATCH first, while their
        slots fit in the probe share; then the largest sizes one call at a time."""
        budget = PROBE_SHARE * total_rows / ROUNDS  # inputs one round may take
        chosen: list[Setting] = []
        for size in sorted(LADDER, key=lambda size: (abs(math.log2(size / FIXED_BATCH)), -size)):
            if self._rows(chosen) + self.slot_rows((size, self.workers)) <= budget:
                chosen.append((size, self.workers))
        chosen.sort()
        if self.workers > 1:
            for size, _ in chosen[-SERIAL_SIZES:]:
                if self._rows(chosen) + self.slot_rows((size, 1)) <= budget:
                    chosen.append((size, 1))
        return chosen

    def _rows(self, settings: list[Setting]) -> int:
        return sum(map(self.slot_rows, settings))

    def slot_rows(self, setting: Setting) -> int:
        """Inputs one round scores with `setting`: SLOT_ROWS, or one batch per call in flight."""
        size, calls = setting
        return max(SLOT_ROWS, size * calls)

    def warmup_rows(self) -> int:
        """Inputs scored (untimed) before the probes: one batch of the largest candidate per worker."""
        if not self.tuning:
            return 0
        size, calls = self.warmup_setting()
        return size * calls

    def warmup_setting(self) -> Setting:
        """The warm-up's setting: the largest candidate size, one call per worker."""
        return max(size for size, _ in self.candidates), self.workers

    def warmed_up(self, seconds: float, rows: int) -> None:
        """The warm-up's time (its calls' seconds added up) for its `rows` inputs: when the whole
        run would take under QUICK_SECONDS at that pace, tuning stops and keeps the warm-up's setting."""
        projected = seconds / max(1, rows) * self.total / self.workers
        if projected < QUICK_SECONDS:
            self.quick, self.tuning = projected, False

    def round_rows(self) -> int:
        """Inputs one round takes: the region of `next_round`'s slots."""
        return self._rows(self.alive())

    def alive(self) -> list[Setting]:
        """The candidates still timed: those not FAR_SLOWER than the best, and after MIN_ROUNDS
        rounds not SLOWER."""
        timed = [c for c in self.candidates if len(self.timings[c]) == self.rounds]
        if not self.rounds:
            return timed
        relative = self.relative(timed)
        limit = SLOWER if self.rounds >= MIN_ROUNDS else FAR_SLOWER
        return [c for c in timed if relative[c] <= limit * min(relative.values())]

    def next_round(self) -> list[Setting]:
        """The candidates to time in the next round, in the order to time them."""
        order = self.alive()
        return order if self.rounds % 2 == 0 else order[::-1]

    def record(self, timings: dict[Setting, float]) -> None:
        """One round's timings: seconds per input of each candidate timed (those of `next_round`)."""
        for setting, per_row in timings.items():
            self.timings[setting].append(per_row)
        self.rounds += 1
        if self.rounds >= ROUNDS or len(self.alive()) < 2:
            self.tuning = False

    def medians(self) -> dict[Setting, float]:
        """Median seconds per input of each candidate timed at least once."""
        return {c: _median(t) for c, t in self.timings.items() if t}

    def relative(self, settings: list[Setting]) -> dict[Setting, float]:
        """Each of `settings` (timed in the same rounds) against the others: the median over the
        rounds of its time per input over the round's median, so that a round timed while the
        machine was busier weighs like the others."""
        rounds = range(min(len(self.timings[c]) for c in settings))
        middle = [_median(self.timings[c][r] for c in settings) for r in rounds]
        return {c: _median(self.timings[c][r] / middle[r] for r in rounds) for c in settings}

    def finalists(self) -> list[Setting]:
        """The candidates timed in every round."""
        return [c for c in self.candidates if self.rounds and len(self.timings[c]) == self.rounds]

    @property
    def chosen(self) -> Setting:
        """The setting kept once tuning is over (or without tuning): of the finalists within EVEN
        of the fastest (relative median), the largest size, then the most calls in parallel."""
        if self.quick is not None:
            return self.warmup_setting()
        finalists = self.finalists()
        if not finalists:
            return FIXED_BATCH, self.workers
        relative = self.relative(finalists)
        best = min(relative.values())
        return max(c for c in finalists if relative[c] <= EVEN * best)

    def describe(self) -> str:
        """What was measured and chosen, for `--verbose` output and the JSON results."""
        size, calls = self.chosen
        kept = f"batch {size}, {calls} call{'s' if calls > 1 else ''} in parallel"
        if self.quick is not None:
            return f"{kept} (not tuned: the warm-up puts the whole run at {self.quick:.3f} s, under the {QUICK_SECONDS} s tuning could save from)"
        if not self.rounds:
            return kept
        relative = self.relative(self.finalists())
        best = min(relative.values())
        shown = ", ".join(f"{_name(c, self.workers)}: {m * 1e6:.1f} µs {_versus(relative.get(c), best)}" for c, m in self.medians().items())
        rounds = f"median per input of {self.rounds} interleaved rounds after a warm-up"
        return f"{kept} ({rounds}: {shown}; the largest size within {EVEN - 1:.0%} of the fastest is kept)"


def _name(setting: Setting, workers: int) -> str:
    size, calls = setting
    return str(size) if calls == workers else f"{size} x{calls}"


def _versus(relative: float | None, best: float) -> str:
    return "(dropped)" if relative is None else f"({relative / best - 1:+.0%})"


def _median(values) -> float:
    import statistics  # here: a quick run, never tuned, does not pay for its import (fractions, decimal)

    return statistics.median(values)
