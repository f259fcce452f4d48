"""Comparing a run with a saved one (`mlspec run ... --baseline results.json`).

A model iteration is judged against the last accepted one: each test of the new run is
matched by id with the same test in a JSON results file written by `--json`, and gets
that test's status and figures as `baseline`. Reporters show both side by side.

`judge_regressions` then marks the tests worse than their baseline (`regression`, a
one-line reason), which fails the run (`--fail-on-regression`). A test regressed when it
went from PASS to FAIL, or when a figure it is judged by (`judged_figures`: a rated
test's fail_rate, else each figure its checks bound with `<=`/`<` or `>=`/`>`) moved in the
worse direction by more than the tolerance. A figure missing or undefined on either
side is not judged; neither is a test that now ERRORs or is SKIPped (an ERROR fails the
run anyway, exit 3). A worsening exactly equal to the tolerance is not a regression.
Improvements are not reported here: the baseline figures beside the new ones show them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from mlspec.errors import UsageError
from mlspec.results import JudgedFigure, RunResult, TestResult, figure_label, figure_value, format_judged, judged_figures
from mlspec.run.merge import load_result


def load_baseline(path: str | Path) -> dict[str, dict]:
    """Test id -> {"status": ..., **metrics} from a results file written by `--json`."""
    return {test.id: {"status": test.status, **test.metrics} for test in load_result(path, "--baseline").tests}


def with_baseline(result: RunResult, baseline: dict[str, dict]) -> RunResult:
    """A copy of `result` whose tests carry their baseline figures (tests new since then carry none)."""
    specs = [
        spec.model_copy(update={"tests": [test.model_copy(update={"baseline": baseline.get(test.id)}) for test in spec.tests]})
        for spec in result.specs
    ]
    return result.model_copy(update={"specs": specs})


# ---- regressions


@dataclass(frozen=True)
class Tolerance:
    """How much worse a figure may get: `amount` in the figure's own units (a failure rate
    as a fraction, so 0.02 is 2 points; latencies in seconds), or with `relative` a fraction
    of the baseline figure (`10%` -> 0.1)."""

    amount: float = 0.0
    relative: bool = False

    def allowed(self, before: float) -> float:
        """The worsening allowed from a baseline figure of `before`."""
        return self.amount * abs(before) if self.relative else self.amount

    def __str__(self) -> str:
        return f"{self.amount * 100:g}%" if self.relative else f"{self.amount:g}"


_TOLERANCE = re.compile(r"(?P<number>\d+(?:\.\d*)?|\.\d+)(?P<percent>%?)")


def parse_tolerance(text: str | None) -> Tolerance:
    """`0.02` (absolute, in the figure's units) or `10%` (of the baseline figure); no text: 0, any worsening."""
    if text is None or not text.strip():
        return Tolerance()
    match = _TOLERANCE.fullmatch(text.strip())
    if match is None:
        raise UsageError(
            f"--fail-on-regression {text!r} is not a tolerance",
            hint="write a number in the figure's units (0.02: 2 points of a failure rate) or a percentage of the baseline figure (10%)",
        )
    number = float(match["number"])
    return Tolerance(number / 100, relative=True) if match["percent"] else Tolerance(number)


def judge_regressions(result: RunResult, tolerance: Tolerance = Tolerance()) -> RunResult:
    """A copy of `result` whose tests worse than their baseline carry the reason in `regression`."""
    specs = [
        spec.model_copy(update={"tests": [test.model_copy(update={"regression": regression(test, tolerance)}) for test in spec.tests]})
        for spec in result.specs
    ]
    return result.model_copy(update={"specs": specs})


def regression(test: TestResult, tolerance: Tolerance = Tolerance()) -> str | None:
    """Why `test` is worse than its baseline, on one line; None when it is not (or has no baseline)."""
    if test.baseline is None or test.status not in ("PASS", "FAIL"):
        return None
    reasons = ["PASS -> FAIL"] if test.status == "FAIL" and test.baseline.get("status") == "PASS" else []
    reasons += [reason for figure in judged_figures(test) if (reason := _worsened(figure, test, tolerance))]
    return "; ".join(reasons) or None


def _worsened(figure: JudgedFigure, test: TestResult, tolerance: Tolerance) -> str | None:
    """`max_gap 0.080 -> 0.150 (+0.070, tolerance 0)` when the figure got worse beyond the tolerance."""
    before, after = figure_value(test.baseline, figure.name), figure_value(test.metrics, figure.name)
    if before is None or after is None:
        return None
    change = after - before
    worse = change if figure.higher_is_worse else -change
    allowed = tolerance.allowed(before)
    if worse <= allowed or math.isclose(worse, allowed, rel_tol=1e-9, abs_tol=1e-12):
        return None
    shown = f"{figure_label(figure.name)} {format_judged(before, figure.unit)} -> {format_judged(after, figure.unit)}"
    of = " of baseline" if tolerance.relative else ""
    return f"{shown} ({_signed(change, figure.unit)}, tolerance {tolerance}{of})"


def _signed(change: float, unit: str) -> str:
    """A change of a figure, with its sign, in its unit: `+6.7 points`, `+8ms`, `-0.240`, `+3`."""
    if unit == "%":
        return f"{change * 100:+.1f} points"
    if unit == "ms":
        return f"{change * 1000:+.3g}ms"
    if unit == "s" or (change and abs(change) < 0.001):
        return f"{change:+.3g}" + unit
    return f"{change:+d}" if isinstance(change, int) else f"{change:+.3f}"
