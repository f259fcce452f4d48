"""Plots for the HTML report, drawn with matplotlib and returned as inline SVG text.

- `robustness_svg(tests)`: robust accuracy against eps for an attack sweep, a line per
  model, the baseline's points dashed beside them;
- `group_bars_svg(test)`: a fairness test's group values as sorted horizontal bars, with
  the thresholds its checks set (`max_gap <= 0.1`: highest - 0.1; `min_ratio >= 0.8`:
  highest x 0.8) drawn and the groups beyond them in red;
- `confusion_svg(confusion)`: a classifier's confusion matrix as a heat map.

matplotlib is imported inside the functions only (commands that never draw start fast).
Each figure is drawn on its own Agg canvas, with no pyplot state, under fixed settings:
text stays text (`svg.fonttype: none`), model texts are never read as math, the hash
salt is fixed and the date left out, so the same figures give the same bytes. The ids in
each SVG get a prefix of its own, so several SVGs share one HTML page.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager

from mlspec.report._text import one_line, truncate
from mlspec.results import ConfusionMatrix, GroupFigure, TestResult

SWEEP_PREFIX = "robust_accuracy@eps="
MAX_BARS = 40  # more groups: the 20 highest and the 20 lowest are drawn
LABEL_LIMIT = 40
GAP_CHECKS = ("max_gap", "demographic_parity_difference")  # highest value - lowest
RATIO_CHECKS = ("min_ratio", "demographic_parity_ratio", "disparate_impact")  # lowest value / highest
_CHECK = re.compile(r"^\s*(\w+)\s*(<=|>=|<|>)\s*([-+]?[0-9.]+(?:[eE][-+]?\d+)?)(%?)\s*$")
_SETTINGS = {"svg.fonttype": "none", "text.parse_math": False, "font.size": 9, "axes.titlesize": 10, "legend.fontsize": 8}
_PASS_COLOR, _FAIL_COLOR, _LINE_COLOR = "#4a7fb5", "#c62828", "#333333"


# ---- robustness curves


def sweep_points(figures: dict | None) -> list[tuple[float, float]]:
    """(eps, robust accuracy) of every `robust_accuracy@eps=E` figure that has a value, by eps."""
    points = []
    for name, value in (figures or {}).items():
        if not name.startswith(SWEEP_PREFIX) or not _is_number(value):
            continue
        try:
            points.append((float(name[len(SWEEP_PREFIX) :]), float(value)))
        except ValueError:
            continue
    return sorted(points)


def robustness_svg(tests: list[TestResult], key: str) -> str:
    """Robust accuracy against eps for `tests` (one attack test, on one model each)."""
    with _drawing(key) as new_figure:
        figure, axes = new_figure(6.0, 3.2)
        for test in tests:
            _robustness_lines(axes, test)
        axes.set_xlabel("eps")
        axes.set_ylabel("robust accuracy")
        axes.set_ylim(-0.02, 1.02)
        axes.grid(alpha=0.3)
        axes.legend(loc="best")
        axes.set_title("robust accuracy against eps")
        return _svg(figure, key)


def _robustness_lines(axes, test: TestResult) -> None:
    model = _label(test.model or "model")
    points = sweep_points(test.metrics)
    line = axes.plot([eps for eps, _ in points], [value for _, value in points], marker="o", label=model)[0]
    baseline = sweep_points(test.baseline)
    if baseline:
        axes.plot(
            [eps for eps, _ in baseline],
            [value for _, value in baseline],
            linestyle="--",
            marker="o",
            markerfacecolor="none",
            color=line.get_color(),
            alpha=0.7,
            label=f"{model} (baseline)",
        )


# ---- fairness groups


def thresholds(test: TestResult) -> list[tuple[str, float]]:
    """(check, value) for each check that bounds the group values: a group below the value violates it."""
    values = [group.value for group in scored_groups(test.groups)]
    if not values:
        return []
    highest = max(values)
    lines = []
    for check in test.checks:
        match = _CHECK.match(check)
        if not match:
            continue
        name, number = match.group(1), float(match.group(3)) / (100 if match.group(4) else 1)
        if name in GAP_CHECKS:
            lines.append((check, highest - number))
        elif name in RATIO_CHECKS:
            lines.append((check, highest * number))
    return lines


def scored_groups(groups: list[GroupFigure]) -> list[GroupFigure]:
    """The groups with a finite value that were scored, highest value first (ties keep their order)."""
    return sorted((g for g in groups if g.scored and _is_number(g.value)), key=lambda g: -g.value)


def shown_groups(groups: list[GroupFigure]) -> tuple[list[GroupFigure], list[GroupFigure], int]:
    """(highest, lowest, number left out): all groups as `highest` when they fit in MAX_BARS."""
    ranked = scored_groups(groups)
    if len(ranked) <= MAX_BARS:
        return ranked, [], 0
    half = MAX_BARS // 2
    return ranked[:half], ranked[-half:], len(ranked) - MAX_BARS


def group_bars_svg(test: TestResult, key: str) -> str | None:
    """Each scored group's value as a bar, highest on top, with the checks' thresholds; None without groups."""
    highest, lowest, left_out = shown_groups(test.groups)
    if not highest:
        return None
    rows = [(g.group, g.value) for g in highest] + ([(f"... {left_out} groups not drawn ...", None)] if left_out else []) + [(g.group, g.value) for g in lowest]
    limits = thresholds(test)
    bound = max((value for _, value in limits), default=-math.inf)
    with _drawing(key) as new_figure:
        figure, axes = new_figure(6.5, 0.9 + 0.2 * len(rows))
        positions = range(len(rows))
        values = [value if value is not None else 0.0 for _, value in rows]
        colors = [_FAIL_COLOR if value is not None and value < bound else _PASS_COLOR for _, value in rows]
        axes.barh(positions, values, color=colors, height=0.7)
        axes.set_yticks(list(positions), [_label(name) for name, _ in rows], fontsize=7)
        axes.invert_yaxis()
        for (check, value), style in zip(limits, ("-", "--", ":", "-.")):
            axes.axvline(value, color=_LINE_COLOR, linestyle=style, linewidth=1, label=f"{_label(check)} -> {value:.3f}")
        if limits:
            axes.legend(loc="lower right")
        axes.set_xlabel("selection rate" if any(g.figures for g in test.groups) else "value")
        axes.grid(axis="x", alpha=0.3)
        return _svg(figure, key)


# ---- confusion matrix


def confusion_svg(confusion: ConfusionMatrix, key: str) -> str | None:
    """The counts as a heat map, true labels down, predicted across; None when it is empty."""
    labels, counts = confusion.labels, confusion.counts
    if not labels or len(counts) != len(labels):
        return None
    size = len(labels)
    peak = max((max(row, default=0) for row in counts), default=0) or 1
    with _drawing(key) as new_figure:
        figure, axes = new_figure(1.6 + 0.5 * size, 1.3 + 0.5 * size)
        axes.pcolormesh(counts, cmap="Blues", vmin=0, vmax=peak, edgecolors="white", linewidth=0.5)
        for row, values in enumerate(counts):
            for column, count in enumerate(values):
                axes.text(column + 0.5, row + 0.5, str(count), ha="center", va="center", fontsize=8, color="white" if count > peak / 2 else "black")
        ticks = [index + 0.5 for index in range(size)]
        names = [_label(label) for label in labels]
        axes.set_xticks(ticks, names, rotation=45, ha="right")
        axes.set_yticks(ticks, names)
        axes.invert_yaxis()
        axes.set_xlabel("predicted")
        axes.set_ylabel("true")
        axes.set_aspect("equal")
        return _svg(figure, key)


# ---- drawing


@contextmanager
def _drawing(key: str) -> Iterator:
    """Fixed settings for one figure; yields a function making a (figure, axes) of a size in inches."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def new_figure(width: float, height: float):
        figure = Figure(figsize=(width, height), layout="constrained")
        FigureCanvasAgg(figure)
        return figure, figure.subplots()

    with matplotlib.rc_context({**_SETTINGS, "svg.hashsalt": f"mlspec-{key}"}):
        yield new_figure


def _svg(figure, key: str) -> str:
    """The figure as an `<svg>` element: no XML prologue, ids prefixed, unreferenced ids dropped."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buffer.getvalue()
    return _own_ids(text[text.index("<svg") :], prefix=f"{_id_safe(key)}-")


def _own_ids(svg: str, prefix: str) -> str:
    referenced = set(re.findall(r'(?:href="#|url\(#)([^")]+)', svg))

    def rename(match: re.Match) -> str:
        name = match.group(1)
        return f' id="{prefix}{name}"' if name in referenced else ""

    svg = re.sub(r' id="([^"]+)"', rename, svg)
    return re.sub(r'(href="#|url\(#)([^")]+)', lambda m: f"{m.group(1)}{prefix}{m.group(2)}", svg)


def _id_safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", key)


def _label(text: str) -> str:
    return one_line(truncate(text, LABEL_LIMIT))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
