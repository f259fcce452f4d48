"""What a run shows on a terminal: colour by the environment's conventions, progress on
stderr (live on a terminal, a line every few seconds elsewhere, none with -q)."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mlspec.report import console_summary
from mlspec.results import RunResult, SpecResult, TestResult
from mlspec.run.executor import Progress
from mlspec.terminal import LineProgress, LiveProgress, pace, progress_display, use_color

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "sentiment" / "sentiment.mlspec"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "environment, stream, expected",
    [
        ({}, Terminal(), True),
        ({}, io.StringIO(), False),
        ({"NO_COLOR": "1"}, Terminal(), False),
        ({"TERM": "dumb"}, Terminal(), False),
        ({"FORCE_COLOR": "1"}, io.StringIO(), True),
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, Terminal(), False),  # NO_COLOR wins
        ({"NO_COLOR": ""}, Terminal(), True),  # an empty NO_COLOR is unset, as no-color.org says
    ],
)
def test_auto_colour_follows_the_environment(monkeypatch, environment, stream, expected):
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert use_color("auto", stream) is expected
    assert use_color("always", io.StringIO()) is True
    assert use_color("never", Terminal()) is False


def test_a_line_every_interval_with_rate_and_time_left():
    now = [0.0]
    out = io.StringIO()
    progress = LineProgress(out, interval=5.0, clock=lambda: now[0])
    progress.start("model sentiment: scoring", 1000)
    for _ in range(10):  # 100 inputs a second for 10 s: a line at 5 s and at 10 s
        now[0] += 1.0
        progress.advance(100)
    progress.finish()
    assert out.getvalue().splitlines() == [
        "mlspec: model sentiment: scoring 500/1000 (100/s, about 5s left)",
        "mlspec: model sentiment: scoring 1000/1000 (100/s, about 0s left)",
    ]


def test_a_short_task_prints_no_line():
    out = io.StringIO()
    progress = LineProgress(out, interval=5.0, clock=lambda: 0.0)
    progress.start("tests", 3)
    progress.advance(3)
    assert out.getvalue() == ""
    assert pace(0, 10, 0.0) == ""


def test_the_display_by_verbosity_and_stream(monkeypatch):
    monkeypatch.delenv("TERM", raising=False)
    assert type(progress_display(-1, Terminal())) is Progress  # -q: nothing
    assert isinstance(progress_display(0, io.StringIO()), LineProgress)
    assert isinstance(progress_display(0, Terminal()), LiveProgress)
    monkeypatch.setenv("TERM", "dumb")
    assert isinstance(progress_display(0, Terminal()), LineProgress)


def test_the_live_display_draws_and_clears():
    out = Terminal()
    progress = LiveProgress(out)
    progress.start("model sentiment: scoring", 4)
    progress.advance(2)
    progress.start("tests", 2)
    progress.advance(2)
    progress.finish()
    assert "tests" in out.getvalue()


def test_a_run_on_a_terminal_draws_progress_on_stderr_only(tmp_path):
    """A real pseudo-terminal on stderr: the live display goes there, stdout stays the summary."""
    controller, terminal = pty.openpty()
    environment = {**os.environ, "TERM": "xterm", "COLUMNS": "120"}
    environment.pop("NO_COLOR", None)
    drawn: list[str] = []
    reader = threading.Thread(target=lambda: drawn.append(_read_all(controller)))  # a full terminal would block the run
    reader.start()
    done = subprocess.run(
        [sys.executable, "-m", "mlspec", "run", str(SPEC), "--no-cache", "--color", "never"],
        stdout=subprocess.PIPE,
        stderr=terminal,
        cwd=ROOT,
        env=environment,
        timeout=300,
        check=False,
    )
    os.close(terminal)
    reader.join(timeout=30)
    assert done.returncode == 1
    assert "scoring" in drawn[0] and "\x1b[" in drawn[0]  # rich drew (and cleared) its display
    assert "\x1b[" not in done.stdout.decode()
    assert done.stdout.decode().strip().splitlines()[-1].startswith("mlspec: ")


def test_quiet_shows_no_progress_and_only_what_did_not_pass(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mlspec", "run", str(SPEC), "-q", "--cache-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1
    assert "mlspec:" not in done.stderr  # no progress line, no cache note
    assert "PASS " not in done.stdout and "FAIL " in done.stdout


def _read_all(descriptor: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(descriptor, 65536)
        except OSError:  # the other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(descriptor)
    return b"".join(chunks).decode(errors="replace")


def _rated(title: str, status: str, failures: int) -> TestResult:
    return TestResult(
        id=title, title=title, capability="Vocabulary", kind="mft", model="m", file="s.mlspec", line=1, status=status,
        message="", rated=True, metrics={"cases": 10, "failures": failures}, digest=f"{failures}/10 failed",
    )


def test_quiet_lists_what_did_not_pass_under_the_whole_capability_counts():
    result = RunResult(specs=[SpecResult(spec="s", path="s.mlspec", seed=1, tests=[_rated("fine", "PASS", 0), _rated("broken", "FAIL", 5)])])
    quiet = console_summary(result, verbosity=-1)
    assert "Vocabulary: 2 tests, 20 cases, 5 failures (25.0%)" in quiet
    assert "broken" in quiet and "fine" not in quiet
    verbose = console_summary(result, verbosity=1)
    assert verbose.count("checks: ") == 2  # details under passing tests too
