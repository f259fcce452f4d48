"""Models in production, end to end: the demo spec against the served demo model, load
tests, and a faulty server — every case accounted for, the run completes, reports written.

Servers run on 127.0.0.1 only; every request loop is bounded in count and time.
"""

import json
import shutil
from pathlib import Path

import pytest

from mlspec.cli import main
from mlspec.serve import app_for_spec
from tests.http_servers import dead_port, faulty_app, served

ROOT = Path(__file__).resolve().parent.parent
DEMO = "specs/sentiment/sentiment.mlspec"
INFER = "/v2/models/sentiment/infer"


@pytest.fixture(autouse=True)
def in_repository(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="module")
def sentiment_server():
    import os

    previous = os.getcwd()
    os.chdir(ROOT)
    try:
        _, app = app_for_spec(DEMO, "sentiment")
    finally:
        os.chdir(previous)
    with served(app) as base:
        yield base


def results(path: Path) -> dict:
    return {t["title"]: t for spec in json.loads(path.read_text())["specs"] for t in spec["tests"]}


def test_the_demo_spec_over_http_gives_the_same_results_as_the_model_file(sentiment_server, tmp_path):
    assert main(["run", DEMO, "--json", str(tmp_path / "local.json"), "--examples", "0"]) == 1
    url = sentiment_server + INFER
    assert main(["run", DEMO, "--model", f"sentiment={url}", "--json", str(tmp_path / "http.json"), "--examples", "0"]) == 1
    local, remote = results(tmp_path / "local.json"), results(tmp_path / "http.json")
    assert local.keys() == remote.keys()
    for title, test in local.items():
        assert remote[title]["status"] == test["status"], title
        assert remote[title]["metrics"] == test["metrics"], title
        assert remote[title]["examples"] == test["examples"], title


def service_spec(tmp_path: Path, url: str, body: str, settings: str = "") -> Path:
    shutil.copy(ROOT / "specs/sentiment/data/reviews_test.csv", tmp_path / "reviews_test.csv")  # a spec reads files of its own project
    spec = tmp_path / "service.mlspec"
    spec.write_text(
        f'model api {{\n  http "{url}"\n  input text\n  output probabilities labels [negative, positive]\n  batch 16\n{settings}}}\n'
        'dataset reviews = csv "reviews_test.csv"\n'
        f'capability "Service" {{\n{body}}}\n'
    )
    return spec


LOAD = """  load "latency under load" {
    from reviews sample 200 seed 1
    requests 120
    concurrency 4
    expect p95_latency <= 5s
    expect error_rate == 0%
  }
"""

MFT = """  mft "reviews" {
    from reviews sample 64 seed 2
    max_fail_rate 100%
  }
"""


def test_a_load_test_on_the_served_model(sentiment_server, tmp_path):
    spec = service_spec(tmp_path, sentiment_server + INFER, LOAD)
    assert main(["run", str(spec), "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "j.xml")]) == 0
    (test,) = results(tmp_path / "r.json").values()
    metrics = test["metrics"]
    assert test["status"] == "PASS"
    assert metrics["requests"] == 120 and metrics["errors"] == 0 and metrics["error_rate"] == 0.0
    assert 0 < metrics["p50_latency"] <= metrics["p95_latency"] <= metrics["p99_latency"] <= metrics["max_latency"]
    assert metrics["throughput"] > 0
    assert 'name="p95_latency"' in (tmp_path / "j.xml").read_text()


@pytest.mark.parametrize(
    "mode, settings, reason",
    [
        ("error500", "  retries 1\n", "HTTP 500"),
        ("malformed", "", "malformed JSON"),
        ("short", "", "rows of scores for 16 inputs"),
        ("wrong_width", "", "3 scores"),
        ("slow", "  timeout 200ms\n  retries 0\n", "timed out"),
    ],
)
def test_a_faulty_server_errors_the_tests_and_the_run_completes(mode, settings, reason, tmp_path):
    app = faulty_app(mode, ["negative", "positive"], delay=1.0)
    with served(app) as base:
        spec = service_spec(tmp_path, base + INFER, MFT + LOAD.replace("requests 120", "requests 20"), settings)
        code = main(["run", str(spec), "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "j.xml")])
    tests = results(tmp_path / "r.json")
    assert (tmp_path / "j.xml").exists()
    assert tests["reviews"]["status"] == "ERROR" and reason in tests["reviews"]["message"]
    assert tests["reviews"]["metrics"]["cases"] == 64  # every case accounted for, as errored
    load = tests["latency under load"]
    assert load["metrics"]["requests"] == 20 and load["metrics"]["errors"] == 20  # every request counted
    assert load["status"] == "ERROR" and load["message"].startswith("every one of 20 requests failed: ")
    assert code == 3


def test_a_server_that_is_down(tmp_path):
    with dead_port() as port:
        spec = service_spec(tmp_path, f"http://127.0.0.1:{port}{INFER}", MFT, "  retries 0\n")
        assert main(["run", str(spec), "--json", str(tmp_path / "r.json")]) == 3
    (test,) = results(tmp_path / "r.json").values()
    assert test["status"] == "ERROR" and "connection refused" in test["message"]


def test_predict_prints_label_and_probabilities(capsys):
    assert main(["predict", DEMO, "The movie was not bad.", "A triumph."]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("negative") and lines[0].endswith("'The movie was not bad.'")
    assert lines[1].startswith("positive") and "positive=0.7" in lines[1]
