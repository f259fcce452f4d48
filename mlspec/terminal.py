"""What the command line shows on a terminal while it works: colour and progress.

- `use_color(choice, stream)`: `--color always|never`, else the conventions of the
  environment: `NO_COLOR` (any value) turns colour off, `FORCE_COLOR` turns it on,
  `TERM=dumb` off, and otherwise colour only on a terminal.
- `progress_display(verbosity)`: on a terminal, a live display on stderr drawn by rich
  (task, bar, steps done, rate, time left), cleared when the run ends; elsewhere (a CI
  log, a file) one plain line every `LINE_SECONDS` while a task lasts; with `-q`, none.

rich is imported only when a display is made, so commands that show none start fast.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO

from mlspec.run.executor import Progress

LINE_SECONDS = 5.0  # between two plain progress lines


def use_color(choice: str, stream: TextIO) -> bool:
    """Whether to colour what is written to `stream` (`choice`: auto, always or never)."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return os.environ.get("TERM") != "dumb" and _is_terminal(stream)


def progress_display(verbosity: int, stream: TextIO | None = None) -> Progress:
    """The progress display for a run at `verbosity` (-1 quiet, 0 normal, 1 verbose)."""
    stream = stream or sys.stderr
    if verbosity < 0:
        return Progress()
    if _is_terminal(stream) and os.environ.get("TERM") != "dumb":
        return LiveProgress(stream)
    return LineProgress(stream)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


class LineProgress(Progress):
    """A line like `mlspec: model sentiment: scoring 12000/45000 (2300/s, about 14s left)`
    every `interval` seconds while a task runs; a task shorter than that prints nothing."""

    def __init__(self, stream: TextIO, interval: float = LINE_SECONDS, clock=time.monotonic):
        self.stream, self.interval, self.clock = stream, interval, clock
        self.lock = threading.Lock()
        self.task, self.total, self.done = "", 0, 0
        self.started = self.last = 0.0

    def start(self, task: str, total: int) -> None:
        with self.lock:
            self.task, self.total, self.done = task, total, 0
            self.started = self.last = self.clock()

    def advance(self, steps: int) -> None:
        with self.lock:
            self.done += steps
            now = self.clock()
            if now - self.last >= self.interval:
                self.last = now
                self.stream.write(f"mlspec: {self.task} {self.done}/{self.total} {pace(self.done, self.total, now - self.started)}\n")
                self.stream.flush()


def pace(done: int, total: int, seconds: float) -> str:
    """`(2300/s, about 14s left)`: the rate so far and the time left at that rate."""
    if seconds <= 0 or done <= 0:
        return ""
    rate = done / seconds
    return f"({rate:.4g}/s, about {max(total - done, 0) / rate:.0f}s left)"


class LiveProgress(Progress):
    """rich's progress bar on a terminal, one task at a time, removed when the task ends."""

    def __init__(self, stream: TextIO):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(), TimeElapsedColumn(), TimeRemainingColumn())
        self.bar = RichProgress(*columns, console=Console(file=stream), transient=True)
        self.task_id = None

    def start(self, task: str, total: int) -> None:
        if self.task_id is None:
            self.bar.start()
        else:
            self.bar.remove_task(self.task_id)
        self.task_id = self.bar.add_task(task, total=total)

    def advance(self, steps: int) -> None:
        if self.task_id is not None:
            self.bar.advance(self.task_id, steps)

    def finish(self) -> None:
        if self.task_id is not None:
            self.bar.remove_task(self.task_id)
            self.task_id = None
            self.bar.stop()
