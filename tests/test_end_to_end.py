"""End to end on the committed demo model: `mlspec run` -> console, JUnit and JSON.

Also how a run copes with broken models and data: the affected tests become ERROR with
the reason, every other test still runs, and the reports are written.
"""

import json
import re
import shutil
from pathlib import Path

import junitparser
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from spec_helpers import without_times

from mlspec.cli import main
from mlspec.run.executor import run_plan
from mlspec.run.pipeline import plan_file

ROOT = Path(__file__).resolve().parent.parent
DEMO = "specs/sentiment/sentiment.mlspec"
MODEL = ROOT / "specs/sentiment/model/sentiment.onnx"
DEMO_TESTS = sum(line.lstrip().startswith(("mft ", "inv ", "dir ", "fairness ")) for line in (ROOT / DEMO).read_text().splitlines())


@pytest.fixture(autouse=True)
def in_repository(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One run of the demo spec, shared by the tests that only read its reports."""
    out = tmp_path_factory.mktemp("demo")
    import os

    previous = os.getcwd()
    os.chdir(ROOT)
    try:
        code = main(["run", DEMO, "--junit", str(out / "junit.xml"), "--json", str(out / "results.json")])
    finally:
        os.chdir(previous)
    return code, out


def results_of(path: Path) -> dict:
    return {t["title"]: t for spec in json.loads(path.read_text())["specs"] for t in spec["tests"]}


def test_demo_finds_the_models_known_weaknesses(demo_run):
    code, out = demo_run
    assert code == 1  # some tests fail: the spec is written to find weaknesses
    tests = results_of(out / "results.json")
    assert len(tests) == DEMO_TESTS
    # The TF-IDF model cannot read negation: "not bad" stays negative.
    negation = tests["negated negative is not negative"]
    assert negation["status"] == "FAIL"
    assert negation["metrics"]["fail_rate"] > 0.9
    assert negation["examples"][0]["prediction"]["label"] == "negative"
    # ...and is not thrown by final punctuation.
    assert tests["final punctuation does not matter"]["status"] == "PASS"
    assert {t["status"] for t in tests.values()} <= {"PASS", "FAIL"}


def test_junit_report_read_by_an_independent_parser(demo_run):
    _, out = demo_run
    xml = junitparser.JUnitXml.fromfile(str(out / "junit.xml"))
    suites = list(xml)
    assert [s.name for s in suites] == ["sentiment"]
    cases = list(suites[0])
    assert len(cases) == DEMO_TESTS
    assert len({c.name for c in cases}) == DEMO_TESTS
    source = (ROOT / DEMO).read_text().splitlines()
    for case in cases:
        capability = case.classname.split(".", 1)[1]
        assert case.classname == f"sentiment.{capability}"
        assert case._elem.get("file") == DEMO
        line = int(case._elem.get("line"))
        assert f'"{case.name}"' in source[line - 1], (case.name, line)
        properties = {p.get("name"): p.get("value") for p in case._elem.iter("property")}
        assert {"cases", "failures"} <= set(properties) or "groups" in properties
        for result in case.result:
            if isinstance(result, junitparser.Failure) and "fail_rate" in properties:
                assert re.fullmatch(r"fail_rate=\S+ > max_fail_rate=\S+ \(\d+/\d+ cases\)", result.message)
                assert "\n" not in result.message
                assert "failing examples" in result.text
    statuses = {c.name: type(c.result[0]).__name__ if c.result else "Pass" for c in cases}
    assert statuses["negated negative is not negative"] == "Failure"
    assert statuses["final punctuation does not matter"] == "Pass"


def test_same_spec_model_and_seed_give_the_same_results(demo_run, tmp_path):
    _, out = demo_run
    assert main(["run", DEMO, "--json", str(tmp_path / "again.json")]) == 1

    assert without_times(json.loads((out / "results.json").read_text())) == without_times(json.loads((tmp_path / "again.json").read_text()))


def test_model_option_swaps_in_another_model_file(demo_run, tmp_path):
    _, out = demo_run
    copy = tmp_path / "candidate.onnx"
    shutil.copy(MODEL, copy)
    assert main(["run", DEMO, "--model", f"sentiment={copy}", "--json", str(tmp_path / "r.json")]) == 1
    original, swapped = results_of(out / "results.json"), results_of(tmp_path / "r.json")
    assert {k: v["metrics"] for k, v in original.items()} == {k: v["metrics"] for k, v in swapped.items()}


def test_a_file_that_is_not_onnx_turns_tests_into_errors_and_reports_are_written(tmp_path, capsys):
    broken = tmp_path / "broken.onnx"
    broken.write_text("this is not a model")
    junit = tmp_path / "junit.xml"
    code = main(["run", DEMO, "--model", f"sentiment={broken}", "--junit", str(junit)])
    assert code == 3
    cases = list(list(junitparser.JUnitXml.fromfile(str(junit)))[0])
    assert len(cases) == DEMO_TESTS
    assert all(isinstance(c.result[0], junitparser.Error) for c in cases)
    assert "could not be loaded as an ONNX model" in cases[0].result[0].message
    assert "Traceback" not in capsys.readouterr().err


def save_model(path: Path, input_type, output_width: int) -> Path:
    """A tiny ONNX model: any input -> constant scores of the given width."""
    shape = [None, 1]
    scores = helper.make_tensor("scores", TensorProto.FLOAT, [1, output_width], [1.0 / output_width] * output_width)
    nodes = [
        helper.make_node("Shape", ["text"], ["shape"], start=0, end=1),
        helper.make_node("Concat", ["shape", "width"], ["target"], axis=0),
        helper.make_node("Expand", ["scores"], ["probabilities"]),
    ]
    nodes[2].input.append("target")
    width = helper.make_tensor("width", TensorProto.INT64, [1], [output_width])
    graph = helper.make_graph(
        nodes,
        "constant",
        [helper.make_tensor_value_info("text", input_type, shape)],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, output_width])],
        initializer=[scores, width],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def error_messages(json_path: Path) -> set[str]:
    return {t["message"] for t in results_of(json_path).values() if t["status"] == "ERROR"}


def test_a_model_whose_input_does_not_fit_the_declaration(tmp_path):
    model = save_model(tmp_path / "floats.onnx", TensorProto.FLOAT, 2)
    assert main(["run", DEMO, "--model", f"sentiment={model}", "--json", str(tmp_path / "r.json")]) == 3
    (message,) = error_messages(tmp_path / "r.json")
    assert "declared `input text`" in message and "tensor(float)" in message
    assert message.startswith("specs/sentiment/sentiment.mlspec:6:1: error:")


def test_a_model_with_the_wrong_number_of_scores(tmp_path):
    model = save_model(tmp_path / "three.onnx", TensorProto.STRING, 3)
    assert main(["run", DEMO, "--model", f"sentiment={model}", "--json", str(tmp_path / "r.json")]) == 3
    messages = error_messages(tmp_path / "r.json")
    assert any("returns 3 scores per input, but the spec declares 2 labels" in m for m in messages)


def test_a_constant_model_runs_end_to_end(tmp_path):
    """A real ONNX model other than the demo's: 50/50 on everything."""
    model = save_model(tmp_path / "coin.onnx", TensorProto.STRING, 2)
    assert main(["run", DEMO, "--model", f"sentiment={model}", "--json", str(tmp_path / "r.json")]) == 1
    tests = results_of(tmp_path / "r.json")
    assert tests["final punctuation does not matter"]["status"] == "PASS"  # nothing ever changes
    assert tests["negated positive is not positive"]["status"] == "PASS"  # ties go to the first label
    assert tests["positive adjectives"]["metrics"]["fail_rate"] == 1.0


class CountingRunner:
    """Scores inputs by a rule, and records every batch it was given."""

    def __init__(self, labels, fail_on=None, nan_on=None):
        self.labels = labels
        self.device = "cpu"
        self.gradients = False
        self.concurrency = 1
        self.split_failed_batches = True
        self.batches = []
        self.fail_on = fail_on
        self.nan_on = nan_on

    def predict(self, inputs, split=True):
        self.batches.append(list(inputs))
        if self.fail_on and self.fail_on in inputs:
            raise RuntimeError("connection reset")
        positive = np.array([0.9 if "good" in text else 0.2 for text in inputs], dtype=np.float32)
        scores = np.stack([1 - positive, positive], axis=1)
        if self.nan_on:
            scores[[self.nan_on in text for text in inputs]] = np.nan
        return scores


def test_every_unique_input_is_scored_once_in_batches_of_the_model_setting():
    _, plan = plan_file(DEMO)
    runner = CountingRunner(("negative", "positive"))
    run_plan(plan, lambda model: runner)
    scored = [text for batch in runner.batches for text in batch]
    assert len(scored) == len(set(scored)) == len(plan.inputs)
    assert sum(t.n_examples for t in plan.tests) > len(plan.inputs)  # tests share inputs
    assert max(len(b) for b in runner.batches) == plan.models["sentiment"].batch


def test_a_failing_batch_errors_only_the_tests_that_need_it():
    _, plan = plan_file(DEMO)
    target = next(t for t in plan.tests if t.title == "positive adjectives")
    poisoned = plan.inputs[target.inputs[0]]
    runner = CountingRunner(("negative", "positive"), fail_on=poisoned)
    result = run_plan(plan, lambda model: runner)
    errors = {t.title: t.message for t in result.tests if t.status == "ERROR"}
    assert "positive adjectives" in errors
    assert "connection reset" in errors["positive adjectives"]
    assert 0 < len(errors) < len(result.tests)
    assert all(t.status in ("PASS", "FAIL", "SKIP") for t in result.tests if t.title not in errors)


def test_nan_scores_are_errors_not_silent_failures():
    _, plan = plan_file(DEMO)
    runner = CountingRunner(("negative", "positive"), nan_on="Bosnian")
    result = run_plan(plan, lambda model: runner)
    (error,) = [t for t in result.tests if t.status == "ERROR"]
    assert error.title == "nationality parity"
    assert "NaN" in error.message


def test_broken_data_file_errors_its_tests_and_the_run_finishes(tmp_path):
    spec_dir = tmp_path / "spec"
    shutil.copytree(ROOT / "specs/sentiment", spec_dir, ignore=shutil.ignore_patterns("train"))
    (spec_dir / "data/reviews_test.jsonl").write_text('{"text": "fine", "label": "positive"}\n{"text": oops}\n')
    junit = tmp_path / "junit.xml"
    code = main(["run", str(spec_dir / "sentiment.mlspec"), "--junit", str(junit), "--json", str(tmp_path / "r.json")])
    assert code == 3
    tests = results_of(tmp_path / "r.json")
    broken = tests["two typos keep the label"]
    assert broken["status"] == "ERROR"
    assert "reviews_test.jsonl: line 2: not valid JSON" in broken["message"]
    assert sum(t["status"] == "ERROR" for t in tests.values()) == 1
    assert junit.exists()


def test_control_characters_in_model_inputs_keep_the_junit_valid(tmp_path):
    data = tmp_path / "weird.jsonl"
    texts = ["bad \x00 movie \x1b[31m red", "a \x0b vertical tab < & > \" '", "terrible\x07 bell"]
    data.write_text("".join(json.dumps({"text": t, "label": "positive"}) + "\n" for t in texts))
    spec = tmp_path / "weird.mlspec"
    spec.write_text(
        f'model m {{\n  onnx "{MODEL}"\n  input text\n  output probabilities labels [negative, positive]\n}}\n'
        f'dataset weird = jsonl "weird.jsonl"\n'
        'capability "Robustness" {\n  mft "odd bytes" {\n    from weird\n  }\n}\n'
    )
    junit = tmp_path / "junit.xml"
    assert main(["run", str(spec), "--junit", str(junit)]) == 1
    (case,) = list(list(junitparser.JUnitXml.fromfile(str(junit)))[0])
    body = case.result[0].text
    assert "\\x1b[31m" in body and "\\x00" in body and "< & >" in body


def test_plan_json_lists_cases_without_running_a_model(capsys):
    assert main(["plan", DEMO, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert len(plan["tests"]) == DEMO_TESTS
    religion = next(t for t in plan["tests"] if t["title"] == "religion does not change sentiment")
    first = religion["case_list"][0]
    assert len(first["variants"]) == 21  # one example per other religion_adj value
    assert plan["model_calls"]["sentiment"] == plan["unique_inputs"]
