"""Cases whose variants and labels come written in the data (as in a CheckList suite):
variants lists, label sets, and the `margin(a, b)` subject — on hand-made probabilities
and end to end on the demo model."""

import json
from pathlib import Path

import numpy as np

from mlspec.cli import main
from mlspec.compile.plan import LabelCheck, MonotonicCheck, Subject, TestPlan
from mlspec.run.expectations import evaluate
from mlspec.run.pipeline import plan_file

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "specs/sentiment/model/sentiment.onnx"
LABELS = ("negative", "neutral", "positive")


def spec(tmp_path: Path, body: str, files: dict[str, list[dict]]) -> Path:
    for name, rows in files.items():
        (tmp_path / name).write_text("".join(json.dumps(row) + "\n" for row in rows))
    path = tmp_path / "s.mlspec"
    path.write_text(f'model m {{\n  onnx "{MODEL}"\n  input text\n  output probabilities labels [negative, positive]\n}}\n' + body)
    return path


VARIANTS = [
    {"text": "the flight was good", "variants": ["the flight was good!", "the flight was good."]},
    {"text": "no variants here", "variants": []},
    {"text": "I hated the crew", "variants": ["I hated teh crew"]},
]


def test_variants_come_from_the_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = spec(tmp_path, 'dataset d = jsonl "d.jsonl" { variants: variants }\ncapability "C" {\n  inv "given" {\n    from d\n  }\n}\n', {"d.jsonl": VARIANTS})
    _, plan = plan_file(path)
    (test,) = plan.tests
    assert [plan.inputs[i] for i in test.inputs] == ["the flight was good", "I hated the crew"]
    assert [plan.inputs[i] for i in test.variants] == ["the flight was good!", "the flight was good.", "I hated teh crew"]
    assert test.variant_case.tolist() == [0, 0, 1]
    assert test.dropped == 1  # a case without variants is not counted


def test_variants_and_a_perturbation_are_not_both_allowed(tmp_path, capsys):
    path = spec(tmp_path, 'dataset d = jsonl "d.jsonl" { variants: variants }\ncapability "C" {\n  inv "given" {\n    from d\n    perturb typos\n  }\n}\n', {"d.jsonl": VARIANTS})
    assert main(["check", str(path)]) == 2
    assert "the dataset gives each case its variants; a `perturb` would make others" in capsys.readouterr().err


def test_a_variants_cell_that_is_not_a_list(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = spec(tmp_path, 'dataset d = jsonl "d.jsonl" { variants: variants }\ncapability "C" {\n  inv "given" {\n    from d\n  }\n}\n', {"d.jsonl": [{"text": "a", "variants": "b"}]})
    (test,) = plan_file(path)[1].tests
    assert "line 1: `variants` must be a JSON list of texts" in test.error


def test_a_label_set_is_met_by_any_of_its_labels():
    test = TestPlan(
        id="t", title="t", capability="c", kind="mft", models=("m",), file="f", line=1,
        checks=(LabelCheck("==", expected=True),),
        inputs=np.array([0, 1, 2]), expected=np.array([0, 0, 1]), expected_labels=("neutral|positive", "negative"),
    )
    probs = np.array([[0.1, 0.2, 0.7], [0.8, 0.1, 0.1], [0.8, 0.1, 0.1]], dtype=np.float32)
    assert evaluate(test, probs, LABELS).passed.tolist() == [True, False, True]
    negated = TestPlan(**{**test.__dict__, "checks": (LabelCheck("!=", expected=True),)})
    assert evaluate(negated, probs, LABELS).passed.tolist() == [False, True, False]


def test_label_sets_from_json_lists_and_indices(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = [{"text": "Is it good? No", "label": 0}, {"text": "Is it bad? No", "label": [0, 1]}]
    path = spec(tmp_path, 'dataset d = jsonl "d.jsonl"\ncapability "C" {\n  mft "qa" {\n    from d\n  }\n}\n', {"d.jsonl": rows})
    (test,) = plan_file(path)[1].tests
    assert [test.expected_labels[e] for e in test.expected] == ["negative", "negative|positive"]


def test_margin_is_the_difference_of_two_probabilities():
    check = MonotonicCheck(Subject("positive", minus="negative"), "decreasing", True, 0.1)
    assert str(check.subject) == "margin(positive, negative)"
    test = TestPlan(
        id="t", title="t", capability="c", kind="dir", models=("m",), file="f", line=1, checks=(check,),
        inputs=np.array([0, 2]), variants=np.array([1, 3]), variant_case=np.array([0, 1]),
    )
    # CheckList's "positivity up": change = (p_neg_o - p_neg_v) + (p_pos_v - p_pos_o); passes if change + 0.1 >= 0
    probs = np.array([[0.5, 0.0, 0.5], [0.53125, 0.0, 0.46875], [0.5, 0.0, 0.5], [0.625, 0.0, 0.375]], dtype=np.float64)
    assert evaluate(test, probs, LABELS).passed.tolist() == [True, False]  # changes -0.0625 and -0.25


def test_end_to_end_on_the_demo_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    body = (
        'dataset d = jsonl "d.jsonl" { variants: variants }\n'
        'capability "C" {\n'
        '  dir "a positive tail" {\n    from d\n    expect margin(positive, negative) not decreasing tolerance 0.1\n  }\n'
        '}\n'
    )
    path = spec(tmp_path, body, {"d.jsonl": VARIANTS})
    assert main(["run", str(path), "--json", "r.json"]) in (0, 1)
    (result,) = json.loads(Path("r.json").read_text())["specs"][0]["tests"]
    assert result["metrics"]["cases"] == 2 and result["checks"] == ["margin(positive, negative) not decreasing tolerance 0.1"]
