"""Batch size by measurement, for a local model whose declaration names no `batch`.

How fast a model scores an input depends on the batch size in ways a spec's author cannot
guess: a dense TF-IDF model is fastest in small batches that stay in the CPU's cache, a
convolutional network in large ones. So the executor scores the first inputs in batches of
growing size (`LADDER`), timing each size over at least `PROBE_ROWS` inputs, and keeps the
size that was fastest per input for the rest. The probes are real work — no input is
scored twice — and the climb stops once two sizes in a row are clearly slower than the
best (one may be a noisy measurement). The batches of a probe are timed together, in
flight on every worker (one per core, or the endpoint's concurrency).
Only runs of at least `MIN_TUNED_ROWS` inputs are tuned; shorter ones use `FIXED_BATCH`.

Which size wins can change between runs (timings are noisy); the scores do not, since the
back ends score each row of a batch of 16 or more inputs with the same kernels (the
executor pads shorter batches; `tests/test_batch_tuning.py` checks the demo models).
"""

from __future__ import annotations

from mlspec.model import FIXED_BATCH, MIN_TUNED_ROWS

LADDER = (32, 64, 128, 256, 512, 1024, 2048, 4096)
PROBE_ROWS = 2048  # inputs timed at each size of the ladder
SLOWER = 1.10  # two sizes in a row this much slower per input than the best end the climb
EVEN = 1.03  # sizes this close to the fastest per input count as as fast


class BatchTuner:
    """Says the size of the next batch, and learns from how long each batch took."""

    def __init__(self, total_rows: int):
        self.tuning = total_rows >= MIN_TUNED_ROWS
        self.step = 0
        self.rows = 0
        self.seconds = 0.0
        self.best: tuple[float, int] | None = None  # (seconds per input, size)
        self.slower = 0  # sizes in a row slower than the best by SLOWER
        self.timings: list[tuple[int, float]] = []  # (size, seconds per input) of each probed size

    def probe_rows(self) -> int:
        """How many more inputs the size being probed needs to be timed on."""
        return max(PROBE_ROWS, LADDER[self.step]) - self.rows

    def size(self) -> int:
        if not self.tuning:
            return self.chosen
        return LADDER[self.step]

    @property
    def chosen(self) -> int:
        """The size used once tuning is over (or without tuning): the largest of those within
        EVEN of the fastest, since fewer calls cost less outside the model than a probe shows."""
        if self.best is None:
            return FIXED_BATCH
        return max(size for size, per_row in self.timings if per_row <= EVEN * self.best[0])

    def record(self, rows: int, seconds: float) -> None:
        """A batch of `rows` inputs took `seconds`."""
        if not self.tuning:
            return
        self.rows += rows
        self.seconds += seconds
        size = LADDER[self.step]
        if self.rows < max(PROBE_ROWS, size):
            return
        per_row = self.seconds / self.rows
        self.timings.append((size, per_row))
        if self.best is None or per_row < self.best[0]:
            self.best = (per_row, size)
        self.step, self.rows, self.seconds = self.step + 1, 0, 0.0
        self.slower = self.slower + 1 if per_row > SLOWER * self.best[0] else 0
        if self.slower == 2 or self.step == len(LADDER):
            self.tuning = False

    def describe(self) -> str:
        """What was measured and chosen, for `--verbose` output and the JSON results."""
        if not self.timings:
            return f"batch {self.chosen}"
        tried = ", ".join(f"{size}: {per_row * 1e6:.1f} µs" for size, per_row in self.timings)
        return f"batch {self.chosen} (per input at {tried})"
