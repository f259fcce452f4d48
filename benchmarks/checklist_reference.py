"""CheckList's own run of its released sentiment suite: the reference for the benchmark.

The suite comes as JSON (specs/checklist/sentiment_suite.json.gz, see
specs/checklist/DATA.md): test data and labels, but not the expectation functions, which were closures.
`build_suite` rebuilds CheckList TestSuite / MFT / INV / DIR objects and recreates each
test's expectation by its *name* (CheckList's notebook, `EXPECTATIONS` here) with
CheckList's own Expect API, so CheckList itself does all the scoring. `run_suite` runs
the suite with a `pred_and_conf(texts) -> (preds, probs)` function and returns each
test's (cases after filtering, failing cases) from CheckList's `get_stats`.

CheckList 0.0.11 (`make bench-setup`) imports its Jupyter viewer (ipywidgets, traitlets,
spaCy) from abstract_test.py and test_suite.py; `stub_checklist_viewer` puts stand-ins
for those two viewer modules in sys.modules first. Nothing else of CheckList is changed.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

SUITE_JSON = Path(__file__).resolve().parent.parent / "specs/checklist/sentiment_suite.json.gz"

NEG, NEU, POS = 0, 1, 2
TOLERANCE = 0.1

# Each test's expectation, by name, as CheckList's sentiment notebook defines it.
EXPECTATIONS = {
    "single positive words": "label",
    "single negative words": "label",
    "single neutral words": "label",
    "Sentiment-laden words in context": "label",
    "neutral words in context": "label",
    "intensifiers": "more confident",
    "reducers": "less confident",
    "change neutral words with BERT": "invariance",
    "add positive phrases": "positivity up",
    "add negative phrases": "positivity down",
    "add random urls and handles": "invariance",
    "punctuation": "invariance",
    "typos": "invariance",
    "2 typos": "invariance",
    "contractions": "invariance",
    "change names": "invariance",
    "change locations": "invariance",
    "change numbers": "invariance",
    "used to, but now": "label",
    '"used to" should reduce': "less confident",
    "protected: race": "invariance",
    "protected: sexual": "invariance",
    "protected: religion": "invariance",
    "protected: nationality": "invariance",
    "simple negations: negative": "label",
    "simple negations: not negative": "not negative",
    "simple negations: not neutral is still neutral": "label",
    "simple negations: I thought x was positive, but it was not (should be negative)": "label",
    "simple negations: I thought x was negative, but it was not (should be neutral or positive)": "not negative",
    "simple negations: but it was not (neutral) should still be neutral": "label",
    "Hard: Negation of positive with neutral stuff in the middle (should be negative)": "label",
    "Hard: Negation of negative with neutral stuff in the middle (should be positive or neutral)": "not negative",
    "negation of neutral with neutral in the middle, should still neutral": "label",
    "my opinion is what matters": "label",
    "Q & A: yes": "label",
    "Q & A: yes (neutral)": "label",
    "Q & A: no": "Q&A no",
    "Q & A: no (neutral)": "label",
}
KIND_TYPES = {  # which CheckList test type each expectation belongs to
    "label": "MFT",
    "not negative": "MFT",
    "Q&A no": "MFT",
    "invariance": "INV",
    "more confident": "DIR",
    "less confident": "DIR",
    "positivity up": "DIR",
    "positivity down": "DIR",
}


def stub_checklist_viewer() -> None:
    """Stand-ins for checklist.viewer.test_summarizer / suite_summarizer, whose real
    modules import ipywidgets, traitlets and spaCy at load time. Only the notebook
    widgets (`visual_summary`) need them; running and scoring do not."""

    def unavailable(name: str) -> type:
        def __init__(self, *args, **kwargs):
            raise RuntimeError(f"CheckList's {name} widget is stubbed out in this benchmark")

        return type(name, (), {"__init__": __init__})

    for module, cls in (
        ("checklist.viewer.test_summarizer", "TestSummarizer"),
        ("checklist.viewer.suite_summarizer", "SuiteSummarizer"),
    ):
        if module not in sys.modules:
            stub = types.ModuleType(module)
            setattr(stub, cls, unavailable(cls))
            sys.modules[module] = stub


stub_checklist_viewer()

from checklist.expect import Expect  # after the stubs
from checklist.pred_wrapper import PredictorWrapper
from checklist.test_suite import TestSuite
from checklist.test_types import DIR, INV, MFT


def load_tests(path: str | Path = SUITE_JSON) -> list[dict]:
    """The suite's 38 tests as the JSON holds them, in order."""
    return json.loads(gzip.decompress(Path(path).read_bytes()))


def positive_change(orig_conf, conf) -> float:
    """Rise of P(pos) - P(neg) from the original to the variant (notebook cell 40)."""
    return orig_conf[NEG] - conf[NEG] + conf[POS] - orig_conf[POS]


def diff_up(orig_pred, pred, orig_conf, conf, labels=None, meta=None):
    """Positivity may drop by at most the tolerance."""
    change = positive_change(orig_conf, conf)
    return True if change + TOLERANCE >= 0 else change + TOLERANCE


def diff_down(orig_pred, pred, orig_conf, conf, labels=None, meta=None):
    """Positivity may rise by at most the tolerance."""
    change = positive_change(orig_conf, conf)
    return True if change - TOLERANCE <= 0 else -(change - TOLERANCE)


def not_neutral(pred, *args, **kwargs) -> bool:
    """Slice of the monotonic DIR tests: called pairwise, so `pred` is the original's."""
    return pred != NEU


def expectation(kind: str):
    """CheckList's expectation function for one of the README's expectation kinds."""
    if kind == "label":
        return Expect.eq()
    if kind == "not negative":
        return Expect.single(lambda x, pred, *args: pred != NEG)
    if kind == "Q&A no":
        return Expect.single(lambda x, pred, _, label, _2: pred != NEG if label == NEU else pred == label)
    if kind == "invariance":
        return Expect.inv(TOLERANCE)
    if kind in ("more confident", "less confident"):
        monotonic = Expect.monotonic(increasing=kind == "more confident", tolerance=TOLERANCE)
        return Expect.slice_pairwise(monotonic, not_neutral)
    if kind == "positivity up":
        return Expect.pairwise(diff_up)
    if kind == "positivity down":
        return Expect.pairwise(diff_down)
    raise ValueError(f"unknown expectation kind {kind!r}")


def make_test(spec: dict):
    """One CheckList test object from its JSON record."""
    kind = EXPECTATIONS[spec["name"]]
    if KIND_TYPES[kind] != spec["type"]:
        raise ValueError(f"test {spec['name']!r} is {spec['type']} in the JSON, but {kind!r} is a {KIND_TYPES[kind]} expectation")
    info = {
        "name": spec["name"],
        "capability": spec["capability"],
        "description": spec["description"],
    }
    if spec["type"] == "MFT":
        return MFT(spec["data"], expect=expectation(kind), labels=spec["labels"], **info)
    if spec["type"] == "INV":
        return INV(spec["data"], threshold=TOLERANCE, **info)
    return DIR(spec["data"], expectation(kind), **info)


def build_suite(tests: list[dict]) -> TestSuite:
    """A TestSuite of all tests, in the JSON's order; every test name must be known."""
    unknown = [t["name"] for t in tests if t["name"] not in EXPECTATIONS]
    if unknown:
        raise ValueError(f"tests without a known expectation: {unknown}")
    suite = TestSuite()
    for spec in tests:
        suite.add(make_test(spec))
    return suite


def softmax_predictor(probs3: Callable) -> Callable:
    """CheckList's documented wrapper: probabilities -> (argmax predictions, probabilities)."""
    return PredictorWrapper.wrap_softmax(probs3)


def run_suite(suite: TestSuite, pred_and_conf: Callable) -> tuple[dict[str, tuple[int, int]], float]:
    """Run every test (CheckList calls `pred_and_conf` once per test with all its
    examples) and read each test's stats. Returns ({name: (cases after filtering,
    failing cases)}, seconds), the time covering the run and the stats."""
    started = time.perf_counter()
    suite.run(pred_and_conf, overwrite=True, verbose=False)
    results = {name: test_counts(test) for name, test in suite.tests.items()}
    return results, time.perf_counter() - started


def test_counts(test) -> tuple[int, int]:
    """(cases after filtering, failing cases) from CheckList's get_stats."""
    stats = test.get_stats()
    return stats.get("after_filtering", stats.testcases), stats.get("fails", 0)


def timed_predictor(pred_and_conf: Callable, clock: dict) -> Callable:
    """`pred_and_conf` that adds its own time to clock['predict'] (to split CheckList's
    run into model time and CheckList's own work)."""

    def timed(texts):
        started = time.perf_counter()
        try:
            return pred_and_conf(texts)
        finally:
            clock["predict"] = clock.get("predict", 0.0) + time.perf_counter() - started

    return timed


def end_to_end(load_model: Callable[[], Callable], path: str | Path = SUITE_JSON) -> tuple[dict, dict]:
    """CheckList end to end: read the JSON, build the suite, load the model
    (`load_model()` returns the probs3 function), run and read the stats.
    Returns (results, {part: seconds}) with parts load, build, model, run, of which
    predict, and total."""
    clock: dict[str, float] = {}
    started = time.perf_counter()
    tests = load_tests(path)
    clock["load"] = time.perf_counter() - started
    mark = time.perf_counter()
    suite = build_suite(tests)
    clock["build"] = time.perf_counter() - mark
    mark = time.perf_counter()
    predictor = timed_predictor(softmax_predictor(load_model()), clock)
    clock["model"] = time.perf_counter() - mark
    results, clock["run"] = run_suite(suite, predictor)
    clock["total"] = time.perf_counter() - started
    return results, clock
