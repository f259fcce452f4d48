"""The failing examples a report shows: the first failing cases in case order, each with its
first failing variant in variant order (mlspec/kinds/behavioural.py), never the last one
or the one that moved most — on hand-made probabilities and end to end on the demo model."""

import json
from pathlib import Path

import numpy as np

from mlspec.cli import main
from mlspec.compile.plan import TestPlan, UnchangedCheck
from mlspec.kinds.behavioural import MAX_EXAMPLES, rate_result
from mlspec.run.expectations import evaluate

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "specs/sentiment/model/sentiment.onnx"
LABELS = ("negative", "positive")
BASE = dict(id="t", title="t", capability="c", kind="inv", model="m", file="f", line=1)


def inv_plan(originals, variants, variant_case) -> TestPlan:
    return TestPlan(
        id="t", title="t", capability="c", kind="inv", models=("m",), file="f", line=1,
        checks=(UnchangedCheck(None),), where=(),
        inputs=np.array(originals, dtype=np.int64),
        variants=np.array(variants, dtype=np.int64),
        variant_case=np.array(variant_case, dtype=np.int64),
    )


def shown_examples(test: TestPlan, probs: np.ndarray) -> list[tuple[str, str]]:
    result = rate_result(BASE, test, evaluate(test, probs, LABELS), probs, LABELS, describe=lambda i: f"input {i}")
    return [(e.original.text, e.prediction.text) for e in result.examples]


POSITIVE, NEGATIVE = (0.2, 0.8), (0.9, 0.1)


def test_each_failing_case_shows_its_first_failing_variant():
    # case 0: input 0, variants 1 (passes), 2, 3, 4 (fail; 3 moved most); case 1: input 5, variants 6, 7 (fail)
    probs = np.array([POSITIVE, POSITIVE, (0.6, 0.4), (0.99, 0.01), (0.7, 0.3), POSITIVE, (0.95, 0.05), (0.55, 0.45)], dtype=np.float32)
    test = inv_plan(originals=(0, 5), variants=(1, 2, 3, 4, 6, 7), variant_case=(0, 0, 0, 0, 1, 1))
    assert shown_examples(test, probs) == [("input 0", "input 2"), ("input 5", "input 6")]


def test_variants_listed_out_of_case_order_still_show_the_first_of_each_case():
    probs = np.array([POSITIVE, POSITIVE, NEGATIVE, NEGATIVE, NEGATIVE, NEGATIVE], dtype=np.float32)
    test = inv_plan(originals=(0, 1), variants=(2, 3, 4, 5), variant_case=(1, 0, 1, 0))
    assert shown_examples(test, probs) == [("input 0", "input 3"), ("input 1", "input 2")]


def test_only_the_first_failing_cases_are_shown_in_case_order():
    n = MAX_EXAMPLES + 3
    probs = np.array([POSITIVE] * n + [NEGATIVE] * n, dtype=np.float32)
    test = inv_plan(originals=range(n), variants=range(n, 2 * n), variant_case=range(n))
    shown = shown_examples(test, probs)
    assert shown == [(f"input {c}", f"input {n + c}") for c in range(MAX_EXAMPLES)]


def test_end_to_end_the_report_shows_the_first_failing_variant(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = [
        {"text": "the flight was great", "variants": ["the flight was great!", "the flight was terrible", "the flight was awful", "the flight was horrible and awful"]},
        {"text": "the crew was lovely", "variants": ["the crew was lovely.", "the flight was awful", "the flight was terrible"]},
    ]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    spec = tmp_path / "s.mlspec"
    spec.write_text(
        f'model m {{\n  onnx "{MODEL}"\n  input text\n  output probabilities labels [negative, positive]\n}}\n'
        'dataset d = jsonl "d.jsonl" { variants: variants }\ncapability "C" {\n  inv "given" {\n    from d\n  }\n}\n'
    )
    assert main(["run", str(spec), "--json", "out.json", "--examples", "5"]) == 1
    [test] = json.loads((tmp_path / "out.json").read_text())["specs"][0]["tests"]
    assert test["metrics"]["failures"] == 2
    shown = [(e["original"]["text"], e["prediction"]["text"]) for e in test["examples"]]
    assert shown == [("the flight was great", "the flight was terrible"), ("the crew was lovely", "the flight was awful")]
