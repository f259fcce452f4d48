"""`mlspec import checklist`: an exported CheckList suite becomes a spec and its data files.

The export (JSON, optionally gzipped: a list of tests with `name`, `type`, `capability`,
`description`, `data`, `labels`) keeps everything but the expectation functions, which are
closures: only their names survive. So a test's expectation is found by its name for
CheckList's released sentiment suite (the semantics of its notebook), and otherwise by
CheckList's defaults: an MFT with labels expects the label, an INV is `Expect.inv(0.1)`.
A test whose expectation cannot be known is written commented out, and named in a warning.

Each test's data goes to `data/NN-name.jsonl`: one case per line, the MFT string with its
label, or the INV/DIR original with its variants (CheckList's first string of a case).

The spec is built as AST nodes and layout items and written by `mlspec.language.printer`,
so names, titles and labels from the export are quoted where they must be (a label
`very bad` is written `"very bad"`), and the text is already in `mlspec fmt`'s layout.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlspec.errors import UsageError
from mlspec.language import ast, printer
from mlspec.language.printer import BLANK, NOWHERE, Block, Comment, Line

DEFAULT_LABELS = ("negative", "neutral", "positive")
SENTIMENT_SOURCE = "CheckList's sentiment notebook (notebooks/Sentiment.ipynb)"
TOLERANCE = "0.1"  # CheckList's default tolerance of Expect.inv and of the sentiment suite's monotonic tests


@dataclass(frozen=True)
class Labels:
    """The suite's labels 0, 1 and 2 (negative, neutral, positive in the sentiment suite)."""

    neg: str
    neu: str
    pos: str


@dataclass
class Checks:
    """A test's statements after `from`: conditions on the original, expectations, and
    comments to write after some of them (by the statement's text)."""

    where: list = field(default_factory=list)
    expects: list = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)


def _name(value: str) -> ast.Name:
    return ast.Name(value=value, span=NOWHERE)


def _number(text: str) -> ast.Quantity:
    """A number or percentage as written (`0.1`, `5%`)."""
    if re.fullmatch(r"-?\d+(\.\d+)?%", text):
        return ast.Quantity(value=float(text[:-1]) / 100, percent=True, text=text, span=NOWHERE)
    if re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", text):
        return ast.Quantity(value=float(text), text=text, span=NOWHERE)
    raise UsageError(f"{text!r} is not a number or a percentage", hint="write it like 0.1 or 5%")


def _label_is(op: str, label: str) -> ast.LabelCondition:
    return ast.LabelCondition(op=op, labels=[_name(label)], span=NOWHERE)


def _not_trending(subject: ast.Subject, direction: str) -> ast.MonotonicExpect:
    """`expect SUBJECT not DIRECTION tolerance 0.1`."""
    return ast.MonotonicExpect(subject=subject, direction=direction, negated=True, tolerance=_number(TOLERANCE), span=NOWHERE)


def _confidence() -> ast.Subject:
    return ast.Subject(kind="confidence", span=NOWHERE)


def _positivity(labels: Labels) -> ast.Subject:
    return ast.Subject(kind="margin", label=_name(labels.pos), minus=_name(labels.neg), span=NOWHERE)


# Expectations of CheckList's released sentiment suite, by test name, for the suite's labels.
def _more_confident(labels: Labels) -> Checks:
    return Checks(where=[_label_is("!=", labels.neu)], expects=[_not_trending(_confidence(), "decreasing")])


def _less_confident(labels: Labels) -> Checks:
    confident = ast.ScoreCondition(subject=_confidence(), op="<", value=_number("0.9"), span=NOWHERE)
    return Checks(
        where=[_label_is("!=", labels.neu), confident],
        expects=[_not_trending(_confidence(), "increasing")],
        notes={printer.where(confident): "CheckList cannot fail a decrease from >= 0.9"},
    )


def _positivity_up(labels: Labels) -> Checks:
    return Checks(expects=[_not_trending(_positivity(labels), "decreasing")])


def _positivity_down(labels: Labels) -> Checks:
    return Checks(expects=[_not_trending(_positivity(labels), "increasing")])


def _not_negative(labels: Labels) -> Checks:
    return Checks(expects=[_label_is("!=", labels.neg)])


SENTIMENT_EXPECTATIONS: dict[str, Callable[[Labels], Checks]] = {
    "intensifiers": _more_confident,
    "reducers": _less_confident,
    '"used to" should reduce': _less_confident,
    "add positive phrases": _positivity_up,
    "add negative phrases": _positivity_down,
    "simple negations: not negative": _not_negative,
    "simple negations: I thought x was negative, but it was not (should be neutral or positive)": _not_negative,
    "Hard: Negation of negative with neutral stuff in the middle (should be positive or neutral)": _not_negative,
}
# "Q & A: no": a case labelled neutral passes when the prediction is neutral or positive.
LABEL_WIDENED = {"Q & A: no": {1: (1, 2)}}


@dataclass
class ImportedTest:
    """One CheckList test as layout items (comments and its block) and a data file."""

    name: str
    capability: str
    items: list
    dataset: str
    data_file: str
    rows: list[dict]
    known: bool


def import_checklist(
    suite_path: str | Path, out_dir: str | Path, labels=DEFAULT_LABELS, model_file: str | None = None, max_fail_rate: str | None = None
) -> tuple[Path, list[str]]:
    """Write the spec and data files of a CheckList suite into `out_dir`; return the spec's
    path and warnings. `max_fail_rate` (e.g. "5%") goes into every test: CheckList reports
    fail rates without a threshold, which mlspec reads as 0%."""
    suite_path, out_dir = Path(suite_path), Path(out_dir)
    tests = read_suite(suite_path)
    fail_rate = _number(max_fail_rate) if max_fail_rate else None
    imported = [_import_test(number, test, tuple(labels), fail_rate) for number, test in enumerate(tests, 1)]
    (out_dir / "data").mkdir(parents=True, exist_ok=True)
    for test in imported:
        _write_jsonl(out_dir / test.data_file, test.rows)
    spec_path = out_dir / f"{_stem(suite_path)}.mlspec"
    spec_path.write_text(_spec_text(suite_path, imported, labels, model_file), encoding="utf-8")
    unknown = [t for t in imported if not t.known]
    warnings = [f"test {t.name!r}: its expectation is not in the export; it is written commented out" for t in unknown]
    return spec_path, warnings


def read_suite(path: Path) -> list[dict]:
    """The suite's tests, each checked for the fields the import needs."""
    try:
        raw = path.read_bytes()
        text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        tests = json.loads(text)
    except (OSError, EOFError, gzip.BadGzipFile, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read CheckList suite {path}: {error}", hint="export the suite to JSON (a list of tests), optionally gzipped") from None
    if not isinstance(tests, list) or not tests:
        raise UsageError(f"{path}: a CheckList export is a non-empty JSON list of tests")
    for number, test in enumerate(tests, 1):
        _validate(path, number, test)
    return tests


def _validate(path: Path, number: int, test) -> None:
    where = f"{path}: test {number}"
    if not isinstance(test, dict):
        raise UsageError(f"{where} is not a JSON object")
    for key in ("name", "type", "data"):
        if key not in test:
            raise UsageError(f"{where} has no `{key}`")
    if test["type"] not in ("MFT", "INV", "DIR"):
        raise UsageError(f"{where} ({test['name']!r}): type {test['type']!r} is not MFT, INV or DIR")
    if test["type"] != "MFT" and not all(isinstance(case, list) and case for case in test["data"]):
        raise UsageError(f"{where} ({test['name']!r}): every {test['type']} case must be a non-empty list of strings, the original first")


def _import_test(number: int, test: dict, labels: tuple[str, ...], max_fail_rate: ast.Quantity | None = None) -> ImportedTest:
    name = test["name"]
    data_file = f"data/{number:02d}-{_slug(name, '-')}.jsonl"
    dataset = f"t{number:02d}_{_slug(name, '_')}"
    checks, rows, known = _checks_and_rows(test, labels)
    decl = ast.TestDecl(
        kind=test["type"].lower(),
        title=name,
        title_span=NOWHERE,
        source=_name(dataset),
        where=checks.where,
        expects=checks.expects,
        max_fail_rate=max_fail_rate,
        span=NOWHERE,
    )
    block = printer.test(decl)
    block.body = [Line(statement, checks.notes.get(statement)) for statement in block.body]
    description = (test.get("description") or "").strip()
    if description and description != "TODO_DESCRIPTION":
        block.comments = description.splitlines()
    title = f"{number}. {name}"
    if known:
        block.comments.insert(0, title)
        items = [block]
    else:
        commented = printer.render([block]).rstrip("\n").split("\n")
        notes = ["mlspec import: CheckList's expectation of this test is not in the export;", "write its `expect` and uncomment it."]
        items = [BLANK, *map(Comment, [title, *notes, *commented])]
    return ImportedTest(name, test.get("capability") or "Uncategorized", items, dataset, data_file, rows, known)


def _checks_and_rows(test: dict, labels: tuple[str, ...]) -> tuple[Checks, list[dict], bool]:
    """The test's statements after `from`, its data rows, and whether its expectation is known."""
    names = Labels(neg=labels[0], neu=labels[1 % len(labels)], pos=labels[-1])
    special = SENTIMENT_EXPECTATIONS.get(test["name"])
    if test["type"] != "MFT":
        rows = [{"text": case[0], "variants": case[1:]} for case in test["data"]]
        if special is not None:
            return special(names), rows, True
        unchanged = ast.UnchangedExpect(tolerance=_number(TOLERANCE), span=NOWHERE)
        return Checks(expects=[unchanged]), rows, test["type"] == "INV"
    if special is not None:
        return special(names), [{"text": text} for text in test["data"]], True
    case_labels = test.get("labels")
    if case_labels is None:
        return Checks(), [{"text": text} for text in test["data"]], False
    if isinstance(case_labels, int) and test["name"] not in LABEL_WIDENED:
        return Checks(expects=[_label_is("==", _label(case_labels, labels))]), [{"text": text} for text in test["data"]], True
    if isinstance(case_labels, int):
        case_labels = [case_labels] * len(test["data"])
    widened = LABEL_WIDENED.get(test["name"], {})
    rows = [{"text": text, "label": _case_label(label, widened, labels)} for text, label in zip(test["data"], case_labels)]
    return Checks(expects=[ast.LabelCondition(op="==", expected=True, span=NOWHERE)]), rows, True


def _case_label(label: int, widened: dict, labels: tuple[str, ...]):
    if label in widened:
        return [_label(index, labels) for index in widened[label]]
    return _label(label, labels)


def _label(index: int, labels: tuple[str, ...]) -> str:
    if not isinstance(index, int) or not 0 <= index < len(labels):
        raise UsageError(f"label {index!r} has no name", hint=f"name the suite's labels in order with --labels (now {','.join(labels)})")
    return labels[index]


def _spec_text(suite_path: Path, tests: list[ImportedTest], labels, model_file: str | None) -> str:
    header = [
        f"Imported from the CheckList suite {suite_path.name} by `mlspec import checklist`.",
        "Each test keeps CheckList's type, capability, name, data and labels; the expectations",
        f"of the sentiment suite's tests follow {SENTIMENT_SOURCE}.",
        "Run it on another model with: mlspec run THIS.mlspec --model sentiment=MODEL.onnx (or a model card).",
    ]
    model = ast.ModelDecl(
        name=_name("sentiment"),
        format="onnx",
        path=model_file or "model.onnx",
        input_kind="text",
        output_kind="probabilities",
        labels=[_name(label) for label in labels],
        span=NOWHERE,
    )
    source, *settings = printer.model_statements(model)
    model_block = Block(f"model {model.name.value}", [Line(source, None if model_file else "replace, or pass --model sentiment=PATH"), *settings])
    datasets = [
        printer.dataset(
            ast.DatasetDecl(
                name=_name(t.dataset),
                format="jsonl",
                path=t.data_file,
                path_span=NOWHERE,
                fields={"variants": _name("variants")} if _has_variants(t) else {},
                span=NOWHERE,
            )
        )
        for t in tests
    ]
    items = [*map(Comment, header), printer.spec_line(_stem(suite_path)), BLANK, model_block, BLANK, *datasets, *_capabilities(tests)]
    return printer.render(items)


def _capabilities(tests: list[ImportedTest]) -> list[Block]:
    """A block for each capability, in the order of its first test, holding its tests."""
    blocks: dict[str, Block] = {}
    for test in tests:
        blocks.setdefault(test.capability, Block(f"capability {printer.string(test.capability)}")).body.extend(test.items)
    return list(blocks.values())


def _has_variants(test: ImportedTest) -> bool:
    return bool(test.rows) and "variants" in test.rows[0]


def _slug(name: str, sep: str) -> str:
    return re.sub(r"[^a-z0-9]+", sep, name.lower()).strip(sep)[:48].strip(sep) or "test"


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".json"):
        name = name.removesuffix(suffix)
    return _slug(name, "_")


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
