"""How a run ends when its surroundings misbehave: reports are never lost.

- the reader of standard output goes away (`mlspec run ... | head -1`): the reports are
  written in full and the exit code is the run's verdict;
- a report path cannot be written: a usage error before anything runs, and when writing
  fails at the end anyway, the other report is still written and the exit code is 3;
- SIGINT or SIGTERM mid-run: the tests that finished keep their results, every other
  test is ERROR ("interrupted"), both reports are written, exit 3.
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlspec.cli import main

SPEC = """\
spec "quick"
model m {
  python "scorer:predict"
  input text
  output probabilities labels [negative, positive]
  batch 2
}
capability "Vocabulary" {
  mft "positive words" {
    template "{word}" -> positive
  }
  mft "negative words" {
    template "{word} not" -> negative
  }
}
lexicon word = ["good", "great", "fine", "nice"]
"""

SCORER = """\
import os, time
def predict(texts):
    delay = float(os.environ.get("SCORER_DELAY", "0"))
    time.sleep(delay * len(texts))
    return [[0.2, 0.8] if "not" not in t else [0.9, 0.1] for t in texts]
"""


def write_spec(folder: Path, name: str = "quick.mlspec") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scorer.py").write_text(SCORER, encoding="utf-8")
    spec = folder / name
    spec.write_text(SPEC.replace('spec "quick"', f'spec "{Path(name).stem}"'), encoding="utf-8")
    return spec


def mlspec(*args: str, **kwargs) -> subprocess.Popen:
    """`python -m mlspec ARGS`, with Ctrl-C's default disposition: a shell's background job
    (a CI script started with `&`, say) ignores SIGINT, and its children would inherit that."""
    return subprocess.Popen(
        [sys.executable, "-m", "mlspec", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_default_interrupt, **kwargs
    )


def _default_interrupt() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_reports_are_written_when_stdout_goes_away(tmp_path):
    spec = write_spec(tmp_path)
    junit, results = tmp_path / "junit.xml", tmp_path / "results.json"
    process = mlspec("run", str(spec), "--allow-python", "--no-cache", "--junit", str(junit), "--json", str(results))
    process.stdout.read(1)  # `| head -c 1`: read a little, then go away
    process.stdout.close()
    code = process.wait(timeout=120)
    stderr = process.stderr.read().decode()
    assert "Traceback" not in stderr
    assert code == 0  # both tests pass: the verdict, not the pipe, decides
    assert json.loads(results.read_text())["summary"]["passed"] == 2
    assert junit.read_text().count("<testcase") == 2


def test_a_report_path_under_a_file_is_a_usage_error_before_the_run(tmp_path, capsys):
    spec = write_spec(tmp_path)
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    code = main(["run", str(spec), "--allow-python", "--no-cache", "--junit", str(blocker / "junit.xml"), "--json", str(tmp_path / "r.json")])
    assert code == 2
    err = capsys.readouterr().err
    assert "--junit" in err and "cannot be written" in err
    assert not (tmp_path / "r.json").exists()  # nothing ran


def test_a_report_that_fails_at_the_end_leaves_the_other_written(tmp_path, capsys, monkeypatch):
    spec = write_spec(tmp_path)
    import mlspec.report

    def broken(result, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mlspec.report, "write_junit", broken)
    code = main(["run", str(spec), "--allow-python", "--no-cache", "--junit", str(tmp_path / "j.xml"), "--json", str(tmp_path / "r.json")])
    assert code == 3
    assert "could not write the JUnit report" in capsys.readouterr().err
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["passed"] == 2


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_reports_what_it_did(tmp_path, signum):
    first = write_spec(tmp_path, "first.mlspec")
    second = write_spec(tmp_path, "second.mlspec")
    junit, results = tmp_path / "junit.xml", tmp_path / "results.json"
    marker = tmp_path / "slow_model_loaded"
    # The first spec runs at once; the second one's model sleeps until it is interrupted.
    second.write_text(second.read_text().replace('python "scorer:predict"', 'python "slow:predict"'), encoding="utf-8")
    # the marker is written as the model starts scoring, so the signal lands while it sleeps, however loaded the machine
    (tmp_path / "slow.py").write_text(f"import time\ndef predict(texts):\n    open({str(marker)!r}, 'w').close()\n    time.sleep(60)\n", encoding="utf-8")
    process = mlspec("run", str(first), str(second), "--allow-python", "--no-cache", "--junit", str(junit), "--json", str(results))
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), process.communicate(timeout=10)
    time.sleep(0.3)
    process.send_signal(signum)
    out, err = process.communicate(timeout=90)
    assert process.returncode == 3, err.decode()
    assert "Traceback" not in err.decode()
    data = json.loads(results.read_text())
    by_spec = {spec["spec"]: spec["tests"] for spec in data["specs"]}
    assert [t["status"] for t in by_spec["first"]] == ["PASS", "PASS"]
    assert [t["status"] for t in by_spec["second"]] == ["ERROR", "ERROR"]
    assert all("interrupted" in t["message"] for t in by_spec["second"])
    assert junit.read_text().count("<testcase") == 4


@pytest.mark.parametrize("make", ["directory", "deep", "nul"])
def test_a_bad_baseline_or_merge_file_is_a_usage_error(tmp_path, capsys, make):
    spec = write_spec(tmp_path)
    if make == "directory":
        bad = tmp_path / "results"
        bad.mkdir()
    elif make == "deep":
        bad = tmp_path / "deep.json"
        bad.write_text("[" * 100_000 + "]" * 100_000)
    else:
        bad = tmp_path / "a\0b.json"
    assert main(["run", str(spec), "--allow-python", "--no-cache", "--baseline", str(bad)]) == 2
    assert main(["merge", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 2


def test_the_command_ends_at_once_after_the_exit_handlers_unless_a_thread_still_works(monkeypatch):
    """`mlspec` skips the interpreter's teardown (`_exit_at_once`): exit handlers run, the
    streams are flushed, then the process ends with the run's code; a non-daemon thread
    still working is waited for as usual (the function returns)."""
    import atexit
    import threading

    from mlspec import cli

    calls = []  # the process's real exit handlers are not run here: they would tear down this test session's libraries
    monkeypatch.setattr(atexit, "_run_exitfuncs", lambda: calls.append("exit handlers"))
    monkeypatch.setattr(cli.os, "_exit", lambda code: calls.append(code))
    cli._exit_at_once(1)
    assert calls == ["exit handlers", 1]

    release = threading.Event()
    worker = threading.Thread(target=release.wait)
    worker.start()
    try:
        cli._exit_at_once(0)
    finally:
        release.set()
        worker.join()
    assert calls == ["exit handlers", 1]  # not ended while the thread worked


def test_python_m_mlspec_writes_its_reports_and_output_before_it_ends(tmp_path):
    spec = write_spec(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "mlspec", "run", str(spec), "--allow-python", "--no-cache", "--json", "r.json", "--junit", "r.xml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["JUnit report: r.xml", "JSON results: r.json"]
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["passed"] == 2
    assert (tmp_path / "r.xml").read_text().rstrip().endswith("</testsuites>")
