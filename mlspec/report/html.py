"""HTML reporter: a RunResult as one self-contained HTML page.

- `html_report(result)` -> the page (text); `write_html(result, path)` writes it.

The page: a header with the totals and the specs run; a capability x kind matrix (each
cell: its tests, their statuses and the failure rate over the cases of its `rated`
tests, coloured by its worst status); then every test, by spec and capability, in a
`<details>` that is open when it failed, broke or regressed: status, kind, title, model,
file:line, checks, figures beside the baseline's, message, details, plots
(`mlspec.report.html_plots`) and failing examples, an INV/DIR variant shown as a word
diff against its original.

Nothing is fetched when the page is opened: no scripts, no external styles or fonts, and
its Content-Security-Policy forbids any. Every text from the result is escaped. Apart
from the times, the same result gives the same page.
"""

from __future__ import annotations

import difflib
import html
from pathlib import Path

from mlspec.report import html_plots
from mlspec.report._text import format_probs, one_line, truncate, xml_safe
from mlspec.results import Example, Prediction, RunResult, SpecResult, TestResult, counted_cases, format_figure, format_percent, whole

KIND_ORDER = ("mft", "inv", "dir", "fairness", "attack", "metrics", "data", "drift", "load")
STATUS_ORDER = ("ERROR", "FAIL", "SKIP", "PASS")  # worst first: a cell takes its worst test's colour
MAX_EXAMPLES = 10
MAX_FIGURE_COLUMNS = 8  # more figures: a row each
TEXT_LIMIT = 600
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; padding: 0 1em; color: #1d1d1f; }
h1 { margin: 0 0 .3em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; } h3 { margin: 1.2em 0 .4em; }
code, pre, .mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; }
pre { background: #f6f6f6; padding: .5em .7em; overflow-x: auto; white-space: pre-wrap; margin: .4em 0; }
table { border-collapse: collapse; margin: .5em 0; } th, td { border: 1px solid #d0d0d0; padding: .3em .55em; text-align: left; vertical-align: top; }
.totals span { margin-right: 1.1em; font-weight: 600; }
.matrix td { min-width: 7.5em; font-size: 12.5px; white-space: nowrap; } .matrix td.empty { background: #fafafa; } .matrix th a { color: inherit; }
.st-PASS { background: #e3f3e6; } .st-FAIL { background: #fbe1df; } .st-ERROR { background: #fff0c7; } .st-SKIP { background: #ececec; }
.badge { display: inline-block; min-width: 3.6em; text-align: center; border-radius: 3px; padding: 0 .35em; font-weight: 700; font-size: 12px; color: #fff; }
.b-PASS { background: #2e7d32; } .b-FAIL { background: #c62828; } .b-ERROR { background: #b26a00; } .b-SKIP { background: #757575; }
.b-REGRESSED { background: #6a1b9a; }
details.test { border: 1px solid #d6d6d6; border-left-width: 5px; border-radius: 4px; margin: .35em 0; background: #fff; }
details.test > summary { cursor: pointer; padding: .35em .6em; } details.test > div { padding: 0 .9em .7em; }
details.st-PASS { border-left-color: #2e7d32; } details.st-FAIL { border-left-color: #c62828; }
details.st-ERROR { border-left-color: #b26a00; } details.st-SKIP { border-left-color: #9e9e9e; }
.kind { color: #555; font-family: ui-monospace, monospace; margin: 0 .5em; } .title { font-weight: 600; }
.model, .digest, .meta, .note { color: #555; } .digest { margin-left: .6em; font-size: 12.5px; }
.regression { color: #6a1b9a; font-weight: 600; }
ul.examples { padding-left: 1.2em; } ul.examples li { margin: .3em 0; }
.text { background: #f4f4f4; padding: 0 .2em; } del { background: #fdd; color: #b71c1c; } ins { background: #d7f5dc; color: #1b5e20; text-decoration: none; }
.panels { display: flex; flex-wrap: wrap; gap: .4em 1.5em; align-items: flex-start; }
.scroll { overflow-x: auto; max-width: 100%; } table.figures td, table.figures th { padding: .2em .5em; font-size: 12.5px; white-space: nowrap; }
figure { margin: .6em 0; } figure svg { max-width: 100%; height: auto; } figcaption { color: #555; font-size: 12.5px; }
"""


def html_report(result: RunResult) -> str:
    """The HTML page of `result`, ending in a newline."""
    sweeps = _sweep_groups(result)
    parts = [_head(result), _header(result), _matrix(result)]
    for spec_index, spec in enumerate(result.specs):
        parts.append(_spec_section(spec, spec_index, sweeps))
    parts.append("</body>\n</html>\n")
    return "\n".join(parts)


def write_html(result: RunResult, path) -> None:
    """Write the HTML page of `result` to `path` (UTF-8), creating its folder."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html_report(result), encoding="utf-8")


# ---- page head and header


def _head(result: RunResult) -> str:
    names = ", ".join(spec.spec for spec in result.specs)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>mlspec report: {_text(names)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>"
    )


def _header(result: RunResult) -> str:
    totals = [
        ("passed", result.count("PASS")),
        ("failed", result.count("FAIL")),
        ("errors", result.count("ERROR")),
        ("skipped", result.count("SKIP")),
        ("regressed", result.regressed),
    ]
    counts = "".join(f"<span>{number} {word}</span>" for word, number in totals)
    rows = "".join(_spec_row(spec, index) for index, spec in enumerate(result.specs))
    return (
        "<header>\n<h1>mlspec report</h1>\n"
        f'<p class="totals">{counts}<span>{_plural(len(result.tests), "test")} in {result.seconds:.1f}s</span></p>\n'
        '<table class="specs"><tr><th>spec</th><th>path</th><th>seed</th><th>tests</th><th>passed</th><th>failed</th>'
        f"<th>errors</th><th>skipped</th><th>time</th><th>notes</th></tr>{rows}</table>\n</header>"
    )


def _spec_row(spec: SpecResult, index: int) -> str:
    cells = [
        f'<a href="#s{index}">{_text(spec.spec)}</a>',
        f'<span class="mono">{_text(spec.path)}</span>',
        str(spec.seed),
        str(len(spec.tests)),
        *(str(spec.count(status)) for status in ("PASS", "FAIL", "ERROR", "SKIP")),
        f"{spec.seconds:.1f}s",
        "<br>".join(_text(note) for note in spec.notes),
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


# ---- the capability x kind matrix


def _matrix(result: RunResult) -> str:
    kinds = _kinds(result)
    several = len(result.specs) > 1
    head = "<tr><th>capability</th>" + "".join(f"<th>{_text(kind)}</th>" for kind in kinds) + "<th>all</th></tr>"
    rows = []
    for spec_index, spec in enumerate(result.specs):
        for capability_index, (capability, tests) in enumerate(_by_capability(spec.tests)):
            where = f'<br><span class="note">{_text(spec.spec)}</span>' if several else ""
            name = f'<th><a href="#s{spec_index}-c{capability_index}">{_text(capability)}</a>{where}</th>'
            rows.append("<tr>" + name + "".join(_cell([t for t in tests if t.kind == kind]) for kind in kinds) + _cell(tests) + "</tr>")
    everything = result.tests
    rows.append("<tr><th>all</th>" + "".join(_cell([t for t in everything if t.kind == kind]) for kind in kinds) + _cell(everything) + "</tr>")
    return '<section id="matrix">\n<h2>Capabilities by kind</h2>\n<table class="matrix">' + head + "".join(rows) + "</table>\n</section>"


def _kinds(result: RunResult) -> list[str]:
    present = list(dict.fromkeys(test.kind for test in result.tests))
    return [kind for kind in KIND_ORDER if kind in present] + [kind for kind in present if kind not in KIND_ORDER]


def _cell(tests: list[TestResult]) -> str:
    if not tests:
        return '<td class="empty"></td>'
    statuses = " &middot; ".join(f"{count} {status.lower()}" for status in STATUS_ORDER[::-1] if (count := sum(t.status == status for t in tests)))
    lines = [f"<b>{_plural(len(tests), 'test')}</b>", statuses]
    regressed = sum(1 for t in tests if t.regression)
    if regressed:
        lines.append(f'<span class="regression">{regressed} regressed</span>')
    rate = _failure_rate(tests)
    if rate is not None:
        failures, cases = rate
        lines.append(f"{format_percent(failures / cases)} of {_plural(cases, 'case')}" if cases else "no cases")
    return f'<td class="st-{_worst(tests)}">' + "<br>".join(lines) + "</td>"


def _failure_rate(tests: list[TestResult]) -> tuple[int, int] | None:
    """(failures, cases) summed over the tests judged by a failure rate (as the console's capability line); None without any."""
    rated = [t for t in tests if t.rated and whole(t.metrics.get("cases")) is not None]
    if not rated:
        return None
    cases = sum(counted_cases(t.metrics) or 0 for t in rated)
    failures = sum(whole(t.metrics.get("failures")) or 0 for t in rated)
    return failures, cases


def _worst(tests: list[TestResult]) -> str:
    present = {test.status for test in tests}
    return next(status for status in STATUS_ORDER if status in present)


def _by_capability(tests: list[TestResult]) -> list[tuple[str, list[TestResult]]]:
    groups: dict[str, list[TestResult]] = {}
    for test in tests:
        groups.setdefault(test.capability, []).append(test)
    return list(groups.items())


# ---- specs, capabilities, tests


def _spec_section(spec: SpecResult, spec_index: int, sweeps: dict[str, list[TestResult]]) -> str:
    parts = [f'<section id="s{spec_index}">', f'<h2>spec {_text(spec.spec)} <span class="note mono">{_text(spec.path)}, seed {spec.seed}</span></h2>']
    test_index = 0
    for capability_index, (capability, tests) in enumerate(_by_capability(spec.tests)):
        parts.append(f'<h3 id="s{spec_index}-c{capability_index}">{_text(capability)} <span class="note">{_capability_counts(tests)}</span></h3>')
        for test in tests:
            parts.append(_test(test, f"s{spec_index}-t{test_index}", sweeps))
            test_index += 1
    parts.append("</section>")
    return "\n".join(parts)


def _capability_counts(tests: list[TestResult]) -> str:
    text = _plural(len(tests), "test")
    rate = _failure_rate(tests)
    if rate is not None:
        failures, cases = rate
        text += f", {_plural(cases, 'case')}, {_plural(failures, 'failure')}" + (f" ({format_percent(failures / cases)})" if cases else "")
    return text


def _test(test: TestResult, anchor: str, sweeps: dict[str, list[TestResult]]) -> str:
    opened = " open" if test.status in ("FAIL", "ERROR") or test.regression else ""
    body = [
        _meta(test),
        _regression(test),
        _checks(test),
        _message(test),
        _details(test),
        _panels(_figures(test) + _plots(test, anchor, sweeps)),
        _groups_table(test),
        _examples(test),
    ]
    return f'<details class="test st-{test.status}" id="{anchor}"{opened}>\n<summary>{_summary(test)}</summary>\n<div>{"".join(body)}</div>\n</details>'


def _panels(content: str) -> str:
    """The figures table and the plots side by side, as wide as the page allows."""
    return f'<div class="panels">{content}</div>' if content else ""


def _summary(test: TestResult) -> str:
    badges = _badge(test.status) + (" " + _badge("REGRESSED") if test.regression else "")
    model = f' <span class="model">on {_text(test.model)}</span>' if test.model else ""
    digest = f'<span class="digest">{_text(test.digest)}</span>' if test.digest else ""
    return f'{badges}<span class="kind">{_text(test.kind)}</span><span class="title">{_text(test.title)}</span>{model}{digest}'


def _badge(status: str) -> str:
    return f'<span class="badge b-{status}">{status}</span>'


def _meta(test: TestResult) -> str:
    model = f"model {_text(test.model)} &middot; " if test.model else ""
    return f'<p class="meta">{_text(test.kind)} &middot; {model}<span class="mono">{_text(test.file)}:{test.line}</span> &middot; {test.seconds:.2f}s</p>'


def _regression(test: TestResult) -> str:
    return f'<p class="regression">Regressed: {_text(test.regression)}</p>' if test.regression else ""


def _checks(test: TestResult) -> str:
    if not test.checks:
        return ""
    return "<p>checks: " + ", ".join(f"<code>{_text(check)}</code>" for check in test.checks) + "</p>"


def _message(test: TestResult) -> str:
    return f'<pre class="message">{_block(test.message)}</pre>' if test.message.strip() else ""


def _details(test: TestResult) -> str:
    return f'<pre class="details">{_block(chr(10).join(test.details))}</pre>' if test.details else ""


# ---- figures beside the baseline's


def _figures(test: TestResult) -> str:
    """The figures beside the baseline's and the change: a column each, or a row each when there are many."""
    baseline = test.baseline
    if not test.metrics and baseline is None:
        return ""
    names = list(test.metrics) + [name for name in (baseline or {}) if name not in test.metrics and name != "status"]
    header = ["<code>status</code>"] * (baseline is not None) + [f"<code>{_text(name)}</code>" for name in names]
    lines = {"this run": [_badge(test.status)] * (baseline is not None) + [_figure_in(test.metrics, name) for name in names]}
    if baseline is not None:
        status = str(baseline.get("status", ""))
        lines["baseline"] = [_badge(status) if status in STATUS_ORDER else _text(status)] + [_figure_in(baseline, name) for name in names]
        lines["change"] = [""] + [_change(test.metrics.get(name), baseline.get(name)) for name in names]
    if len(names) <= MAX_FIGURE_COLUMNS:
        columns, body = header, list(lines.items())
    else:
        columns, body = list(lines), [(name, [cells[index] for cells in lines.values()]) for index, name in enumerate(header)]
    return '<div class="scroll"><table class="figures">' + _labelled_table(columns, body) + "</table></div>"


def _labelled_table(columns: list[str], body: list[tuple[str, list[str]]]) -> str:
    """A heading row of `columns`, then each row's label and cells (all already HTML)."""
    heading = "<tr><th></th>" + "".join(f"<th>{column}</th>" for column in columns) + "</tr>"
    return heading + "".join(f"<tr><th>{label}</th>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>" for label, cells in body)


def _figure_in(figures: dict, name: str) -> str:
    return _figure(figures[name]) if name in figures else "&ndash;"


def _figure(value) -> str:
    if isinstance(value, str):
        return _text(value)
    return _text(format_figure(value))


def _change(value, before) -> str:
    if not _is_number(value) or not _is_number(before) or value == before:
        return ""
    delta = value - before
    return f"{'+' if delta > 0 else ''}{format_figure(delta)}"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and whole(value) is not None


# ---- plots


def _sweep_groups(result: RunResult) -> dict[str, list[TestResult]]:
    """Attack sweeps by test id without its ` [model]` suffix: one test on several models, a line each."""
    groups: dict[str, list[TestResult]] = {}
    for test in result.tests:
        if test.kind == "attack" and html_plots.sweep_points(test.metrics):
            groups.setdefault(_sweep_key(test), []).append(test)
    return groups


def _sweep_key(test: TestResult) -> str:
    return test.id.removesuffix(f" [{test.model}]") if test.model else test.id


def _plots(test: TestResult, anchor: str, sweeps: dict[str, list[TestResult]]) -> str:
    figures = []
    if test.kind == "attack" and _sweep_key(test) in sweeps:
        group = sweeps[_sweep_key(test)]
        models = f" ({_plural(len(group), 'model')})" if len(group) > 1 else ""
        dashed = "; dashed: the baseline's" if any(html_plots.sweep_points(t.baseline) for t in group) else ""
        figures.append((html_plots.robustness_svg(group, f"{anchor}-sweep"), f"robust accuracy at each eps{models}{dashed}"))
    if test.groups:
        figures.append((html_plots.group_bars_svg(test, f"{anchor}-groups"), _groups_caption(test)))
    if test.confusion is not None:
        figures.append((html_plots.confusion_svg(test.confusion, f"{anchor}-confusion"), "confusion matrix: true label down, predicted across"))
    return "".join(f"<figure>{svg}<figcaption>{caption}</figcaption></figure>" for svg, caption in figures if svg)


def _groups_caption(test: TestResult) -> str:
    highest, lowest, left_out = html_plots.shown_groups(test.groups)
    text = f"{_plural(len(highest) + len(lowest) + left_out, 'scored group')}, highest first"
    if left_out:
        text += f"; the {len(highest)} highest and {len(lowest)} lowest drawn, {left_out} between them in the table below"
    limits = html_plots.thresholds(test)
    if limits:
        text += "; red: beyond " + ", ".join(f"<code>{_text(check)}</code> ({value:.3f})" for check, value in limits)
    unscored = [g for g in test.groups if not g.scored or not _is_number(g.value)]
    if unscored:
        text += f"; {_plural(len(unscored), 'group')} without a value or too small to score, not drawn"
    return text


def _groups_table(test: TestResult) -> str:
    if not test.groups:
        return ""
    names = list(dict.fromkeys(name for group in test.groups for name in group.figures))
    head = "<tr><th>group</th><th>cases</th><th>value</th>" + "".join(f"<th>{_text(name)}</th>" for name in names) + "<th>scored</th></tr>"
    rows = []
    for group in test.groups:
        figures = [_figure(group.figures.get(name)) for name in names]
        cells = [_text(group.group), str(group.count), _figure(group.value), *figures, "yes" if group.scored else "no"]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return f'<details><summary>all {_plural(len(test.groups), "group")}</summary><table class="groups">{head}{"".join(rows)}</table></details>'


# ---- failing examples


def _examples(test: TestResult) -> str:
    if not test.examples:
        return ""
    shown = test.examples[:MAX_EXAMPLES]
    items = "".join(f"<li>{_example(example)}</li>" for example in shown)
    failures = whole(test.metrics.get("failures"))
    total = failures if failures is not None and failures >= len(test.examples) else len(test.examples)
    more = f'<p class="note">{_plural(total - len(shown), "more failing case")} in the JSON report</p>' if total > len(shown) else ""
    return f'<p><b>failing examples</b></p><ul class="examples">{items}</ul>{more}'


def _example(example: Example) -> str:
    expected = f" &middot; expected <b>{_text(example.expected)}</b>" if example.expected is not None else ""
    if example.original is None:
        return f'<span class="text">{_text(_shown(example.prediction.text))}</span> &rarr; {_prediction(example.prediction)}{expected}'
    original, variant = example.original, example.prediction
    return (
        f'<div>original: <span class="text">{_text(_shown(original.text))}</span> &rarr; {_prediction(original)}{expected}</div>'
        f'<div>variant: <span class="text diff">{word_diff(_shown(original.text), _shown(variant.text))}</span> &rarr; {_prediction(variant)}</div>'
    )


def _prediction(prediction: Prediction) -> str:
    label = f"<b>{_text(prediction.label)}</b>"
    if prediction.label not in prediction.probs:  # a regression model's values: the label shows them
        return label
    return f'{label} <span class="note">({_text(format_probs(prediction.probs, 2, top=3))})</span>'


def word_diff(original: str, variant: str) -> str:
    """`variant` as HTML against `original`, word by word: removed words in `<del>`, added ones in `<ins>`."""
    before, after = original.split(), variant.split()
    parts = []
    for operation, start, end, new_start, new_end in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        if operation == "equal":
            parts.append(_text(" ".join(before[start:end])))
            continue
        if operation in ("delete", "replace"):
            parts.append(f"<del>{_text(' '.join(before[start:end]))}</del>")
        if operation in ("insert", "replace"):
            parts.append(f"<ins>{_text(' '.join(after[new_start:new_end]))}</ins>")
    return " ".join(parts)


# ---- text


def _shown(text: str) -> str:
    """A model text on one line, control characters escaped, cut to TEXT_LIMIT."""
    return one_line(truncate(text, TEXT_LIMIT))


def _text(text: str) -> str:
    """Inline text, escaped for HTML, on one line."""
    return html.escape(one_line(text), quote=True)


def _block(text: str) -> str:
    """Multi-line text for a `<pre>`, escaped for HTML, keeping its newlines and tabs."""
    return html.escape(xml_safe(text), quote=True)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
