"""The command line's options mean the same in every command: `--model NAME=PATH`, the
report options of `run` and `report`, `--format`, the exit codes in `--help`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlspec.cli import EXIT_CODES, main

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "sentiment" / "sentiment.mlspec"
LSTM_CARD = ROOT / "specs" / "sentiment" / "model" / "lstm.mlspec"
CHECKLIST_SUITE = ROOT / "specs" / "checklist" / "sentiment_suite.json.gz"
CHECKLIST_MODEL = ROOT / "specs" / "checklist" / "demo_model.mlspec"


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["check", "--help"], ["report", "--help"]])
def test_help_lists_the_exit_codes(argv, capsys):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 0
    shown = capsys.readouterr().out
    assert EXIT_CODES in shown
    assert "1  a test failed, or regressed" in shown


def test_check_takes_a_model_like_run(tmp_path, capsys):
    """An imported CheckList suite names a placeholder model; `check --model` checks it with a real one."""
    subset = tmp_path / "suite"
    assert main(["import", "checklist", str(CHECKLIST_SUITE), "-o", str(subset)]) == 0
    spec = subset / "sentiment_suite.mlspec"
    capsys.readouterr()
    assert main(["check", str(spec), "--allow-path", str(ROOT / "specs")]) == 2  # the placeholder model file is not there
    shown = capsys.readouterr().err
    assert "file not found" in shown and "--model sentiment=PATH" in shown
    assert main(["check", str(spec), "--model", f"sentiment={CHECKLIST_MODEL}", "--allow-path", str(ROOT / "specs")]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_check_quiet_prints_nothing_for_good_files(capsys):
    assert main(["check", str(SPEC), "--no-models", "-q"]) == 0
    assert capsys.readouterr().out == ""


def test_check_format_github_annotates_the_spec_line(tmp_path, capsys):
    spec = tmp_path / "bad.mlspec"
    spec.write_text(SPEC.read_text(encoding="utf-8").replace("{pos_adj}", "{pos_adjs}", 1), encoding="utf-8")
    shutil.copytree(SPEC.parent / "lexicons", tmp_path / "lexicons")
    assert main(["check", str(spec), "--no-models", "--format", "github"]) == 2
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line]
    assert line.startswith("::error ") and "file=" in line and ",line=" in line and "pos_adjs" in line


def test_plan_format_json_and_markdown(capsys):
    assert main(["plan", str(SPEC), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["tests"]
    assert main(["plan", str(SPEC), "--json"]) == 0  # the older spelling
    assert json.loads(capsys.readouterr().out)["tests"]
    assert main(["plan", str(SPEC), "--format", "markdown"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[0] == "```text" and shown[-1] == "```"


def test_predict_takes_a_model_like_run(capsys):
    assert main(["predict", str(SPEC), "--model", f"sentiment={LSTM_CARD}", "A triumph."]) == 0
    lstm = capsys.readouterr().out
    assert main(["predict", str(SPEC), "--name", "sentiment", "A triumph."]) == 0
    tfidf = capsys.readouterr().out
    assert main(["predict", str(SPEC), "--model", "sentiment", "A triumph."]) == 0  # a bare name, as before
    assert capsys.readouterr().out == tfidf
    assert lstm != tfidf and "'A triumph.'" in lstm


def test_fail_on_regression_needs_a_baseline(capsys):
    assert main(["run", str(SPEC), "--fail-on-regression"]) == 2
    assert "--baseline" in capsys.readouterr().err


def test_a_bad_tolerance_is_a_usage_error_before_the_run(tmp_path, capsys):
    saved = tmp_path / "r.json"
    assert main(["run", str(SPEC), "--json", str(saved), "-q"]) == 1
    capsys.readouterr()
    assert main(["run", str(SPEC), "--baseline", str(saved), "--fail-on-regression", "lots"]) == 2
    assert "lots" in capsys.readouterr().err


def test_a_regression_against_the_baseline_fails_the_run(tmp_path, capsys):
    """The LSTM is worse than the TF-IDF model on some tests: gated on the TF-IDF run, exit 1
    and REGRESSED in the console, JUnit, JSON and Markdown; the same run without the gate
    keeps its own exit code."""
    saved = tmp_path / "tfidf.json"
    assert main(["run", str(SPEC), "--json", str(saved), "-q"]) == 1
    capsys.readouterr()
    outputs = {name: tmp_path / name for name in ("r.json", "j.xml", "s.md")}
    argv = ["run", str(SPEC), "--model", f"sentiment={LSTM_CARD}", "--baseline", str(saved)]
    code = main([*argv, "--fail-on-regression", "--json", str(outputs["r.json"]), "--junit", str(outputs["j.xml"]), "--markdown", str(outputs["s.md"])])
    shown = capsys.readouterr().out
    regressed = [t for spec in json.loads(outputs["r.json"].read_text())["specs"] for t in spec["tests"] if t["regression"]]
    assert code == 1 and regressed
    assert "REGRESSED" in shown
    assert "regressed: " in outputs["j.xml"].read_text()
    assert regressed[0]["title"] in outputs["s.md"].read_text()


def test_report_writes_every_report_from_saved_results(tmp_path, capsys):
    shards = []
    for index in (1, 2):
        shards.append(tmp_path / f"shard-{index}.json")
        main(["run", str(SPEC), "--shard", f"{index}/2", "--json", str(shards[-1]), "-q"])
    capsys.readouterr()
    paths = {suffix: tmp_path / f"report.{suffix}" for suffix in ("html", "md", "xml", "json")}
    code = main(["report", *map(str, shards), "--html", str(paths["html"]), "--markdown", str(paths["md"]), "--junit", str(paths["xml"]), "--json", str(paths["json"])])
    assert code == 1
    merged = json.loads(paths["json"].read_text())
    assert merged["summary"]["tests"] == 25
    assert "<html" in paths["html"].read_text().lower() and paths["md"].read_text().strip()
    shown = capsys.readouterr().out.splitlines()
    assert shown[-4:] == [f"{label}: {paths[suffix]}" for label, suffix in (("JUnit report", "xml"), ("JSON results", "json"), ("HTML report", "html"), ("Markdown summary", "md"))]
    assert shown[-6].startswith("mlspec: ")  # then the blank line that ends the summary


def test_an_unreachable_ray_cluster_stops_the_run_at_once(capsys):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["run", str(SPEC), "--ray", f"127.0.0.1:{port}"]) == 3
    assert capsys.readouterr().err.strip().splitlines() == [f"mlspec: no Ray cluster answers at 127.0.0.1:{port}: Connection refused"]


def test_ray_options_go_with_ray(capsys):
    assert main(["run", str(SPEC), "--ray-actors", "2"]) == 2
    assert "go with --ray" in capsys.readouterr().err
