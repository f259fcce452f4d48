"""`mlspec import checklist`: an exported CheckList suite becomes a spec and its data files.

The export (JSON, optionally gzipped: a list of tests with `name`, `type`, `capability`,
`description`, `data`, `labels`) keeps everything but the expectation functions, which are
closures: only their names survive. So a test's expectation is found by its name for
CheckList's released sentiment suite (the semantics of its notebook), and otherwise by
CheckList's defaults: an MFT with labels expects the label, an INV is `Expect.inv(0.1)`.
A test whose expectation cannot be known is written commented out, and named in a warning.

Each test's data goes to `data/NN-name.jsonl`: one case per line, the MFT string with its
label, or the INV/DIR original with its variants (CheckList's first string of a case).
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path

from mlspec.errors import UsageError

DEFAULT_LABELS = ("negative", "neutral", "positive")
SENTIMENT_SOURCE = "CheckList's sentiment notebook (notebooks/Sentiment.ipynb)"

# Expectations of CheckList's released sentiment suite, by test name. Each is a list of
# spec lines; "{neg}", "{neu}", "{pos}" are the suite's labels 0, 1 and 2.
MORE_CONFIDENT = ["where original.label != {neu}", "expect confidence not decreasing tolerance 0.1"]
LESS_CONFIDENT = [
    "where original.label != {neu}",
    "where original.confidence < 0.9  # CheckList cannot fail a decrease from >= 0.9",
    "expect confidence not increasing tolerance 0.1",
]
POSITIVITY_UP = ["expect margin({pos}, {neg}) not decreasing tolerance 0.1"]
POSITIVITY_DOWN = ["expect margin({pos}, {neg}) not increasing tolerance 0.1"]
NOT_NEGATIVE = ["expect label != {neg}"]
SENTIMENT_EXPECTATIONS = {
    "intensifiers": MORE_CONFIDENT,
    "reducers": LESS_CONFIDENT,
    '"used to" should reduce': LESS_CONFIDENT,
    "add positive phrases": POSITIVITY_UP,
    "add negative phrases": POSITIVITY_DOWN,
    "simple negations: not negative": NOT_NEGATIVE,
    "simple negations: I thought x was negative, but it was not (should be neutral or positive)": NOT_NEGATIVE,
    "Hard: Negation of negative with neutral stuff in the middle (should be positive or neutral)": NOT_NEGATIVE,
}
# "Q & A: no": a case labelled neutral passes when the prediction is neutral or positive.
LABEL_WIDENED = {"Q & A: no": {1: (1, 2)}}


@dataclass
class ImportedTest:
    """One CheckList test as spec lines and a data file."""

    name: str
    capability: str
    lines: list[str]
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
    imported = [_import_test(number, test, tuple(labels), max_fail_rate) for number, test in enumerate(tests, 1)]
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
    for field in ("name", "type", "data"):
        if field not in test:
            raise UsageError(f"{where} has no `{field}`")
    if test["type"] not in ("MFT", "INV", "DIR"):
        raise UsageError(f"{where} ({test['name']!r}): type {test['type']!r} is not MFT, INV or DIR")
    if test["type"] != "MFT" and not all(isinstance(case, list) and case for case in test["data"]):
        raise UsageError(f"{where} ({test['name']!r}): every {test['type']} case must be a non-empty list of strings, the original first")


def _import_test(number: int, test: dict, labels: tuple[str, ...], max_fail_rate: str | None = None) -> ImportedTest:
    name = test["name"]
    data_file = f"data/{number:02d}-{_slug(name, '-')}.jsonl"
    dataset = f"t{number:02d}_{_slug(name, '_')}"
    body, rows, known = _body_and_rows(test, labels)
    if max_fail_rate:
        body.append(f"max_fail_rate {max_fail_rate}")
    description = (test.get("description") or "").strip()
    lines = [f"# {number}. {name}"]
    if description and description != "TODO_DESCRIPTION":
        lines += [f"# {line}" for line in description.splitlines()]
    lines += [f"{test['type'].lower()} {quote(name)} {{", f"  from {dataset}"] + [f"  {line}" for line in body] + ["}"]
    if not known:
        lines = lines[:1] + ["# mlspec import: CheckList's expectation of this test is not in the export;", "# write its `expect` and uncomment it."] + [f"# {line}" for line in lines[1:]]
    return ImportedTest(name, test.get("capability") or "Uncategorized", lines, dataset, data_file, rows, known)


def _body_and_rows(test: dict, labels: tuple[str, ...]) -> tuple[list[str], list[dict], bool]:
    """The test's statements after `from`, its data rows, and whether its expectation is known."""
    names = {"neg": labels[0], "neu": labels[1 % len(labels)], "pos": labels[-1]}
    special = SENTIMENT_EXPECTATIONS.get(test["name"])
    if test["type"] != "MFT":
        rows = [{"text": case[0], "variants": case[1:]} for case in test["data"]]
        if special is not None:
            return [line.format(**names) for line in special], rows, True
        return ["expect unchanged tolerance 0.1"], rows, test["type"] == "INV"
    if special is not None:
        return [line.format(**names) for line in special], [{"text": text} for text in test["data"]], True
    case_labels = test.get("labels")
    if case_labels is None:
        return [], [{"text": text} for text in test["data"]], False
    if isinstance(case_labels, int) and test["name"] not in LABEL_WIDENED:
        return [f"expect label == {_label(case_labels, labels)}"], [{"text": text} for text in test["data"]], True
    if isinstance(case_labels, int):
        case_labels = [case_labels] * len(test["data"])
    widened = LABEL_WIDENED.get(test["name"], {})
    rows = [{"text": text, "label": _case_label(label, widened, labels)} for text, label in zip(test["data"], case_labels)]
    return ["expect label == expected"], rows, True


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
        f"# Imported from the CheckList suite {suite_path.name} by `mlspec import checklist`.",
        "# Each test keeps CheckList's type, capability, name, data and labels; the expectations",
        f"# of the sentiment suite's tests follow {SENTIMENT_SOURCE}.",
        "# Run it on another model with: mlspec run THIS.mlspec --model sentiment=MODEL.onnx (or a model card).",
        f'spec {quote(_stem(suite_path))}',
        "",
        "model sentiment {",
        f"  onnx {quote(model_file or 'model.onnx')}" + ("" if model_file else "  # replace, or pass --model sentiment=PATH"),
        "  input text",
        f"  output probabilities labels [{', '.join(labels)}]",
        "}",
        "",
    ]
    datasets = [f"dataset {t.dataset} = jsonl {quote(t.data_file)}" + (" { variants: variants }" if _has_variants(t) else "") for t in tests]
    return "\n".join(header + datasets + [""] + _capabilities(tests)).rstrip("\n") + "\n"


def _capabilities(tests: list[ImportedTest]) -> list[str]:
    order = list(dict.fromkeys(t.capability for t in tests))
    lines = []
    for capability in order:
        lines.append(f"capability {quote(capability)} {{")
        for test in (t for t in tests if t.capability == capability):
            lines += [f"  {line}" for line in test.lines] + [""]
        lines[-1:] = ["}", ""]
    return lines


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


def quote(text: str) -> str:
    """A spec string literal for `text`."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'
