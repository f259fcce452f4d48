"""`mlspec import checklist`: CheckList's released sentiment suite becomes a spec that keeps
each test's type, capability, name, data and labels, and scores every test as CheckList does.

The scoring is compared with an independent, plain re-implementation of CheckList's
semantics as CheckList's sentiment notebook defines them (README, "CheckList suites"), on a model whose probabilities are a
hash of the text (so every branch — neutral originals, confident originals, flips — occurs)."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from mlspec.cli import main
from mlspec.language.formatter import format_spec
from mlspec.run.executor import run_plan
from mlspec.run.pipeline import plan_file

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "specs/checklist/sentiment_suite.json.gz"
NEG, NEU, POS = 0, 1, 2


def suite_tests() -> list[dict]:
    return json.loads(gzip.decompress(SUITE.read_bytes()))


class HashedModel:
    """Three class probabilities that depend only on the text (a stable hash of it)."""

    labels = ("negative", "neutral", "positive")
    device = "cpu"
    gradients = False
    concurrency = 1
    split_failed_batches = True

    def predict(self, texts, split: bool = True) -> np.ndarray:
        hashes = np.array([zlib.crc32(text.encode()) for text in texts], dtype=np.int64)
        logits = np.stack([(hashes >> shift) & 1023 for shift in (0, 10, 20)], axis=1) / 150.0
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


# The README's expectation of each test, by name (tests not named here: label equality
# for MFTs, invariance for INVs).
NOT_NEGATIVE = {
    "simple negations: not negative",
    "simple negations: I thought x was negative, but it was not (should be neutral or positive)",
    "Hard: Negation of negative with neutral stuff in the middle (should be positive or neutral)",
}
MORE_CONFIDENT = {"intensifiers"}
LESS_CONFIDENT = {"reducers", '"used to" should reduce'}


def reference_counts(test: dict, scores: dict[str, np.ndarray]) -> tuple[int, int]:
    """(test cases after filtering, failing cases) of one test, by CheckList's rules."""
    if test["type"] == "MFT":
        return len(test["data"]), sum(not mft_passes(test, i, scores[text]) for i, text in enumerate(test["data"]))
    applicable = failing = 0
    for case in test["data"]:
        original = scores[case[0]]
        results = [pair_passes(test["name"], original, scores[variant]) for variant in case[1:]]
        if all(result is None for result in results):
            continue
        applicable += 1
        failing += any(result is False for result in results)
    return applicable, failing


def mft_passes(test: dict, index: int, p: np.ndarray) -> bool:
    pred = int(np.argmax(p))
    labels = test["labels"]
    label = labels if isinstance(labels, int) else None if labels is None else labels[index]
    if test["name"] in NOT_NEGATIVE:
        return pred != NEG
    if test["name"] == "Q & A: no":
        return pred != NEG if label == NEU else pred == label
    return pred == label


def pair_passes(name: str, orig: np.ndarray, variant: np.ndarray) -> bool | None:
    result = _pair_result(name, orig, variant)
    return None if result is None else bool(result)


def _pair_result(name: str, orig: np.ndarray, variant: np.ndarray):
    c = int(np.argmax(orig))
    orig, variant = orig.astype(np.float64), variant.astype(np.float64)
    if name in MORE_CONFIDENT:
        return None if c == NEU else variant[c] - orig[c] + 0.1 >= 0
    if name in LESS_CONFIDENT:
        return None if c == NEU or orig[c] >= 0.9 else variant[c] - orig[c] - 0.1 <= 0
    change = orig[NEG] - variant[NEG] + variant[POS] - orig[POS]
    if name == "add positive phrases":
        return change + 0.1 >= 0
    if name == "add negative phrases":
        return change - 0.1 <= 0
    return int(np.argmax(variant)) == c or abs(variant[c] - orig[c]) <= 0.1


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("imported")
    assert main(["import", "checklist", str(SUITE), "-o", str(out)]) == 0
    return out / "sentiment_suite.mlspec"


def test_every_test_keeps_its_type_capability_name_and_cases(imported):
    _, plan = plan_file(imported)
    tests = suite_tests()
    assert sorted((t.title, t.kind, t.capability) for t in plan.tests) == sorted((t["name"], t["type"].lower(), t["capability"]) for t in tests)
    by_name = {t.title: t for t in plan.tests}
    assert sum(t.error is None for t in plan.tests) == 38
    for test in tests:
        compiled = by_name[test["name"]]
        examples = len(compiled.inputs) + (0 if compiled.variants is None else len(compiled.variants))
        assert (len(compiled.inputs), examples) == (len(test["data"]), sum(1 if isinstance(c, str) else len(c) for c in test["data"])), test["name"]
    assert len(plan.inputs) == 164_771  # every distinct string, scored once


def test_fail_counts_equal_checklists_rules_on_every_test(imported):
    _, plan = plan_file(imported)
    model = HashedModel()
    result = run_plan(plan, load=lambda _: model)
    scores = dict(zip(plan.inputs, model.predict(plan.inputs)))
    got = {t.title: (t.metrics["applicable"], t.metrics["failures"]) for t in result.tests}
    expected = {t["name"]: reference_counts(t, scores) for t in suite_tests()}
    assert got == expected
    filtered = {name for name, (applicable, _) in expected.items() if applicable < len(next(t for t in suite_tests() if t["name"] == name)["data"])}
    assert filtered == {"intensifiers", "reducers", '"used to" should reduce'}  # the sliced tests did filter


def test_the_spec_reads_as_checklist_wrote_it(imported):
    text = imported.read_text()
    assert 'mft "Q & A: no" {' in text and "expect label == expected" in text
    assert 'where original.confidence < 0.9' in text
    assert "expect margin(positive, negative) not decreasing tolerance 0.1" in text
    qa_no = (imported.parent / "data/37-q-a-no.jsonl").read_text().splitlines()
    assert {json.dumps(json.loads(line)["label"]) for line in qa_no} == {'"negative"', '["neutral", "positive"]'}
    assert main(["fmt", "--check", str(imported)]) == 0


def write_suite(path: Path, tests) -> Path:
    path.write_bytes(gzip.compress(json.dumps(tests).encode()))
    return path


def test_an_unknown_expectation_is_written_commented_out_and_named(tmp_path, capsys):
    suite = write_suite(tmp_path / "mine.json.gz", [
        {"name": "labelled", "type": "MFT", "capability": "Vocabulary", "data": ["good", "bad"], "labels": [2, 0]},
        {"name": "no labels", "type": "MFT", "capability": "Vocabulary", "data": ["meh"], "labels": None},
        {"name": "some direction", "type": "DIR", "capability": "Robustness", "data": [["a", "b"]], "labels": None},
        {"name": "typos", "type": "INV", "capability": "Robustness", "data": [["a", "b", "c"]], "labels": None},
    ])
    assert main(["import", "checklist", str(suite), "-o", str(tmp_path / "out"), "--labels", "neg,neu,pos"]) == 0
    err = capsys.readouterr().err
    assert "test 'no labels': its expectation is not in the export" in err and "test 'some direction'" in err
    spec = (tmp_path / "out/mine.mlspec").read_text()
    assert '# dir "some direction" {' in spec and 'inv "typos" {' in spec and "output probabilities labels [neg, neu, pos]" in spec
    _, plan = plan_file(tmp_path / "out/mine.mlspec")
    assert [t.title for t in plan.tests] == ["labelled", "typos"]


def test_a_max_fail_rate_for_every_test(tmp_path, capsys):
    suite = write_suite(tmp_path / "s.json", [
        {"name": "a", "type": "MFT", "capability": "C", "data": ["good"], "labels": 2},
        {"name": "b", "type": "INV", "capability": "C", "data": [["x", "y"]], "labels": None},
    ])
    assert main(["import", "checklist", str(suite), "-o", str(tmp_path / "out"), "--max-fail-rate", "5%"]) == 0
    _, plan = plan_file(tmp_path / "out/s.mlspec")
    assert [t.max_fail_rate for t in plan.tests] == [0.05, 0.05]
    assert main(["import", "checklist", str(suite), "-o", str(tmp_path / "out"), "--max-fail-rate", "five"]) == 2
    assert "--max-fail-rate 'five' is not a percentage" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not json", "cannot read CheckList suite"),
        (json.dumps({"name": "x"}).encode(), "a CheckList export is a non-empty JSON list of tests"),
        (json.dumps([{"name": "x", "type": "MFT"}]).encode(), "test 1 has no `data`"),
        (json.dumps([{"name": "x", "type": "FOO", "data": []}]).encode(), "type 'FOO' is not MFT, INV or DIR"),
        (json.dumps([{"name": "x", "type": "INV", "data": ["a"]}]).encode(), "every INV case must be a non-empty list of strings"),
        (json.dumps([{"name": "x", "type": "MFT", "data": ["a"], "labels": 7}]).encode(), "label 7 has no name"),
    ],
)
def test_a_broken_suite_gets_a_clear_message(tmp_path, capsys, content, message):
    suite = tmp_path / "suite.json"
    suite.write_bytes(content)
    assert main(["import", "checklist", str(suite), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def small_suite(path: Path, cases: int = 25) -> Path:
    """The released suite with each test's first cases: every kind of expectation, quickly."""
    tests = []
    for test in suite_tests():
        labels = test.get("labels")
        tests.append({**test, "data": test["data"][:cases], "labels": labels[:cases] if isinstance(labels, list) else labels})
    return write_suite(path, tests)


def test_labels_that_are_not_names_are_written_as_strings_and_score_the_same(tmp_path):
    suite = small_suite(tmp_path / "small.json.gz")
    assert main(["import", "checklist", str(suite), "-o", str(tmp_path / "plain")]) == 0
    assert main(["import", "checklist", str(suite), "-o", str(tmp_path / "quoted"), "--labels", "very bad,so-so,expected"]) == 0
    spec = tmp_path / "quoted/small.mlspec"
    text = spec.read_text(encoding="utf-8")
    assert 'output probabilities labels ["very bad", "so-so", "expected"]' in text
    assert 'expect label == "very bad"' in text and 'expect label != "very bad"' in text and "expect label == expected" in text
    assert 'where original.label != "so-so"' in text and 'expect margin("expected", "very bad") not decreasing tolerance 0.1' in text
    assert format_spec(text, str(spec)) == text
    plain_text = (tmp_path / "plain/small.mlspec").read_text(encoding="utf-8")
    assert len(text.splitlines()) == len(plain_text.splitlines())
    rows = [json.loads(line) for line in (tmp_path / "quoted/data/37-q-a-no.jsonl").read_text().splitlines()]
    assert {json.dumps(row["label"]) for row in rows} <= {'"very bad"', '["so-so", "expected"]'}

    # The same model, its classes named either way, fails the same cases of every test.
    class Renamed(HashedModel):
        labels = ("very bad", "so-so", "expected")

    results = {}
    for folder, model in (("plain", HashedModel()), ("quoted", Renamed())):
        _, plan = plan_file(tmp_path / folder / "small.mlspec")
        assert all(t.error is None for t in plan.tests)
        result = run_plan(plan, load=lambda _, model=model: model)
        results[folder] = {t.title: (t.metrics["applicable"], t.metrics["failures"], t.status) for t in result.tests}
    assert results["quoted"] == results["plain"] and len(results["plain"]) == 38

    # `mlspec check` accepts it (a python model is not loaded by check; the ONNX placeholder would be).
    spec.write_text(text.replace('onnx "model.onnx"', 'python "model:predict"'), encoding="utf-8")
    assert main(["check", str(spec)]) == 0


def test_two_labels_with_spaces(tmp_path):
    """`--labels "very bad,very good"` once wrote `labels [very bad, very good]`, which does not parse."""
    suite = write_suite(tmp_path / "binary.json", [
        {"name": "good", "type": "MFT", "capability": "Vocabulary", "data": ["great", "awful"], "labels": [1, 0]},
        {"name": "bad", "type": "MFT", "capability": "Vocabulary", "data": ["awful"], "labels": 0},
    ])
    assert main(["import", "checklist", str(suite), "-o", str(tmp_path / "out"), "--labels", "very bad,very good"]) == 0
    text = (tmp_path / "out/binary.mlspec").read_text(encoding="utf-8")
    assert 'output probabilities labels ["very bad", "very good"]' in text and 'expect label == "very bad"' in text
    _, plan = plan_file(tmp_path / "out/binary.mlspec")
    assert [t.title for t in plan.tests] == ["good", "bad"]


def test_names_and_descriptions_are_written_safely(tmp_path, capsys):
    """Whatever a CheckList export holds in names, capabilities and descriptions, the spec
    parses, keeps them, and is already in `mlspec fmt`'s layout."""
    odd = 'say "hi" \\ back\\slash\ttab {x} é'
    suite = write_suite(tmp_path / "odd.json", [
        {"name": odd, "type": "MFT", "capability": 'caps "quoted"', "data": ["a"], "labels": 0,
         "description": "first line\n\n  indented # not a statement\nlast } {"},
        {"name": "two\nlines\rhere", "type": "INV", "capability": 'caps "quoted"', "data": [["a", "b"]], "labels": None},
        {"name": "unknown\nexpectation", "type": "DIR", "capability": "other", "data": [["a", "b"]], "labels": None,
         "description": "why\nnot"},
    ])
    assert main(["import", "checklist", str(suite), "-o", str(tmp_path / "out")]) == 0
    assert "test 'unknown\\nexpectation'" in capsys.readouterr().err
    spec = tmp_path / "out/odd.mlspec"
    text = spec.read_text(encoding="utf-8")
    assert format_spec(text, str(spec)) == text
    assert "  # first line\n  #\n  #   indented # not a statement\n  # last } {\n" in text
    assert '  # 3. unknown\n  # expectation\n  # mlspec import:' in text and '  # # why\n  # # not\n  # dir "unknown\\nexpectation" {\n' in text
    _, plan = plan_file(spec)
    assert [(t.title, t.capability) for t in plan.tests] == [(odd, 'caps "quoted"'), ("two\nlines\rhere", 'caps "quoted"')]
