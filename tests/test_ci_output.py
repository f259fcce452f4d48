"""What CI reads: JUnit system-out, times and regressions; the Markdown summary; GitHub
workflow commands for diagnostics; and the CI templates themselves."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mlspec.errors import Diagnostic, Span, render_github
from mlspec.report.junit import figures_line, junit_xml
from mlspec.report.markdown import PR_COMMENT_LIMIT, markdown_summary, write_markdown
from mlspec.results import Example, Prediction, RunResult, SpecResult
from mlspec.results import TestResult as TResult  # not collected by pytest

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "tests/schemas/junit-ci.xsd"
HOSTILE = "a | pipe `tick` <script>alert(1)</script> > end\nsecond line *bold* [link](http://x) @someone"
REASON = "fail_rate 12.0% > baseline 5.0% + 2.0%"


def rated(title: str, status: str = "PASS", **fields) -> TResult:
    values = dict(
        id=title, title=title, capability="Robustness", kind="inv", model="m", file="specs/s.mlspec", line=7,
        status=status, message="fail rate 0.117 > max_fail_rate 0.1 (14 of 120 cases)" if status == "FAIL" else "ok",
        checks=["fail_rate 0.117 <= 0.1"], metrics={"cases": 120, "failures": 14, "fail_rate": 14 / 120},
        digest="14/120 failed (11.7%), max 10.0%", rated=True, seconds=0.000738,
    )
    return TResult(**(values | fields))


def make_run() -> RunResult:
    tests = [
        rated("passes but regressed", baseline={"status": "PASS", "fail_rate": 0.05, "cases": 120}, regression=REASON),
        rated("fails and regressed", "FAIL", baseline={"status": "PASS", "fail_rate": 0.05}, regression=REASON, seconds=1.25),
        rated("plain pass", seconds=0.0),
        TResult(id="acc", title="accuracy", capability="Accuracy", kind="metrics", model="m", file="specs/s.mlspec", line=20,
                status="FAIL", message="accuracy 0.8 < 0.9", checks=["accuracy 0.8 >= 0.9: failed"],
                metrics={"cases": 120, "accuracy": 0.8}, seconds=2.0),
        TResult(id="err", title="broken", capability="Accuracy", kind="mft", model="m", file="specs/s.mlspec", line=30,
                status="ERROR", message="model failed\nsecond line", regression="was PASS"),
    ]
    return RunResult(specs=[SpecResult(spec="s", path="specs/s.mlspec", seed=1, tests=tests, seconds=11.5)], seconds=12.75)


def cases(text: str) -> dict[str, ET.Element]:
    return {case.get("name"): case for case in ET.fromstring(text).iter("testcase")}


# ---- JUnit


def test_junit_system_out_is_the_figures_line_with_the_baseline():
    text = junit_xml(make_run())
    by_name = cases(text)
    out = by_name["passes but regressed"].find("system-out").text
    assert out == "14/120 failed (11.7%), max 10.0% | baseline 5.0% PASS"  # as the console shows it
    assert by_name["plain pass"].find("system-out").text == "14/120 failed (11.7%), max 10.0%"
    # no digest: the figures the checks name
    assert by_name["accuracy"].find("system-out").text == "accuracy=0.800"
    for case in by_name.values():
        assert [child.tag for child in case].count("system-out") == 1
        assert case[-1].tag == "system-out"
        assert "\n" not in case[-1].text


def test_figures_line_falls_back_to_all_metrics():
    test = TResult(id="x", title="t", capability="C", kind="k", model="m", file="f", line=1, status="PASS", message="",
                   metrics={"cases": 3, "mean": 0.25})
    assert figures_line(test) == "cases=3 mean=0.250"


def test_junit_times_are_the_tests_the_specs_and_the_runs():
    run = make_run()
    root = ET.fromstring(junit_xml(run))
    assert float(root.get("time")) == run.seconds
    [suite] = root.findall("testsuite")
    assert float(suite.get("time")) == run.specs[0].seconds  # not the sum of its tests
    for case, test in zip(suite.findall("testcase"), run.specs[0].tests, strict=True):
        assert float(case.get("time")) == pytest.approx(test.seconds, abs=1e-6)
    assert cases(junit_xml(run))["passes but regressed"].get("time") == "0.000738"
    assert cases(junit_xml(run))["plain pass"].get("time") == "0.000000"  # written, not left out


def test_junit_tiny_times_have_no_exponent():
    run = make_run()
    run.specs[0].seconds = 1e-5
    run.specs[0].tests[0].seconds = 2e-7
    text = junit_xml(run)
    assert not re.search(r'time="[^"]*e', text)
    assert ET.fromstring(text).find("testsuite").get("time") == "0.000010"


def test_junit_regression_is_a_failure_with_a_one_line_message():
    run = make_run()
    root = ET.fromstring(junit_xml(run))
    by_name = cases(junit_xml(run))
    failure = by_name["passes but regressed"].find("failure")
    assert failure.get("message") == f"regressed: {REASON}"
    assert failure.text.startswith(f"regressed: {REASON}")
    fail = by_name["fails and regressed"].find("failure")
    assert fail.get("message") == f"fail rate 0.117 > max_fail_rate 0.1 (14 of 120 cases); regressed: {REASON}"
    error = by_name["broken"].find("error")
    assert by_name["broken"].find("failure") is None
    assert error.get("message") == "model failed; regressed: was PASS"
    assert by_name["plain pass"].find("failure") is None
    assert root.get("failures") == "3" and root.find("testsuite").get("failures") == "3"
    assert [c.tag for c in by_name["passes but regressed"]] == ["properties", "failure", "system-out"]


def test_junit_regression_reason_stays_on_one_line():
    run = make_run()
    run.specs[0].tests[0].regression = "worse\nby far\x1b"
    message = cases(junit_xml(run))["passes but regressed"].find("failure").get("message")
    assert message == "regressed: worse\\nby far\\x1b"


def test_junit_with_regressions_and_hostile_text_validates_against_the_schema():
    xmlschema = pytest.importorskip("xmlschema")
    run = make_run()
    run.specs[0].tests[0].title = HOSTILE
    run.specs[0].tests[0].digest = HOSTILE
    xmlschema.XMLSchema(str(SCHEMA)).validate(junit_xml(run))


def test_junit_is_deterministic_apart_from_time():
    first, second = make_run(), make_run()
    for test in second.specs[0].tests:
        test.seconds += 3.0
    second.specs[0].seconds += 1.0
    second.seconds += 1.0

    def without_time(text: str) -> str:
        return re.sub(r' time="[^"]*"', "", text)

    assert junit_xml(first) == junit_xml(make_run())
    assert without_time(junit_xml(first)) == without_time(junit_xml(second))


# ---- Markdown


def hostile_run() -> RunResult:
    run = make_run()
    test = run.specs[0].tests[1]
    test.title = HOSTILE
    test.examples = [Example(prediction=Prediction(text="x ``` y ```` z " + HOSTILE, label="pos", probs={"pos": 0.9, "neg": 0.1}))]
    return run


def outside_fences(markdown: str) -> str:
    """The Markdown with its fenced code blocks removed (their fences may be longer than 3)."""
    out, fence = [], None
    for line in markdown.splitlines():
        match = re.match(r"^(`{3,})", line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None and line.strip() == fence:
            fence = None
        elif fence is None:
            out.append(line)
    return "\n".join(out)


def unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_headline_counts_regressions_and_time():
    text = markdown_summary(make_run())
    assert text.startswith("## mlspec: **ERROR**\n\n2 passed, 2 failed, 1 error, 0 skipped, 3 regressed (5 tests, 12.8s)")


def test_markdown_escapes_hostile_titles_in_tables():
    text = markdown_summary(hostile_run())
    [row] = [line for line in text.splitlines() if line.startswith("| **FAIL**, **regressed** |")]
    assert unescaped_pipes(row) == 6  # five cells
    assert "\\| pipe \\`tick\\` &lt;script&gt;" in row
    assert "\\\\nsecond line \\*bold\\* \\[link\\](http://x) \\@someone" in row
    visible = outside_fences(text)
    assert "<script" not in visible
    assert "@someone" not in visible.replace("\\@someone", "").replace("&#64;someone", "")
    table_rows = [line for line in visible.splitlines() if line.startswith("| ")]
    assert all(line.endswith(" |") and unescaped_pipes(line) == unescaped_pipes(table_rows[0]) for line in table_rows[:2])


def test_markdown_failing_tests_show_message_and_examples_in_a_fence():
    run = hostile_run()
    run.specs[0].tests[1].examples *= 5
    text = markdown_summary(run)
    block = text[text.index("<details><summary><b>FAIL, regressed</b>"):]
    block = block[: block.index("</details>")]
    summary = block.splitlines()[0]
    assert "&lt;script&gt;" in summary and "<script" not in summary and "\n" not in summary
    fence = re.search(r"^(`{3,})text$", block, re.M).group(1)
    assert len(fence) == 5  # longer than the four backticks inside
    assert f"regressed: {REASON}" in block
    assert block.count("- \"x ``` y") == 3  # the first 3 examples


def test_markdown_plan_diff_in_a_fence():
    plan = "+ test \"new\" (120 cases)\n```\n- test \"old\""
    text = markdown_summary(make_run(), plan_diff=plan)
    assert "mlspec plan" in text
    assert "\n````\n+ test \"new\" (120 cases)\n```\n- test \"old\"\n````\n" in text
    assert "mlspec plan" not in markdown_summary(make_run())


def test_markdown_is_capped_with_a_note():
    tests = [rated(f"test {i} " + "x" * 150, "FAIL", examples=[Example(prediction=Prediction(text="y" * 300, label="a", probs={"a": 1.0}))])
             for i in range(800)]
    run = RunResult(specs=[SpecResult(spec=f"s{n}", path="s.mlspec", seed=0, tests=tests[n::4]) for n in range(4)])
    text = markdown_summary(run, plan_diff="line\n" * 50_000)
    assert len(text) <= PR_COMMENT_LIMIT
    assert "_Summary cut at 65,536 characters" in text
    small = markdown_summary(make_run(), plan_diff="p\n" * 5_000, limit=3_000)
    assert len(small) <= 3_000
    assert small.count("```") % 2 == 0  # no fence left open


def test_markdown_plan_is_cut_to_fit():
    text = markdown_summary(make_run(), plan_diff="+ a change\n" * 20_000)
    assert len(text) <= PR_COMMENT_LIMIT
    assert "plan cut to" in text


def test_write_markdown(tmp_path):
    path = tmp_path / "out" / "summary.md"
    write_markdown(make_run(), path, plan_diff="+ x")
    assert path.read_text(encoding="utf-8") == markdown_summary(make_run(), plan_diff="+ x")


# ---- GitHub workflow commands


def test_render_github_format():
    span = Span(file="specs/x.mlspec", line=12, col=5, end_line=12, end_col=15)
    line = render_github(Diagnostic("unknown lexicon `pos_adjs`", span, "did you mean `pos_adj`?"))
    assert line == (
        "::error title=mlspec,file=specs/x.mlspec,line=12,col=5,endLine=12,endColumn=15::"
        "unknown lexicon `pos_adjs` (did you mean `pos_adj`?)"
    )


def test_render_github_escapes_data_and_properties():
    span = Span(file="specs/a,b:c%.mlspec", line=1, col=1, end_line=2, end_col=3)
    line = render_github(Diagnostic("100% wrong\r\nnext: a, b", span, severity="warning"))
    assert line.startswith("::warning title=mlspec,file=specs/a%2Cb%3Ac%25.mlspec,line=1,")
    assert line.endswith("::100%25 wrong%0D%0Anext: a, b")
    assert "\n" not in line and "\r" not in line


def test_render_github_without_span_and_other_severities():
    assert render_github(Diagnostic("no file")) == "::error title=mlspec::no file"
    assert render_github(Diagnostic("fyi", severity="note")).startswith("::notice ")


# ---- CI templates

TEMPLATES = [ROOT / "docs/ci/github-actions.yml", ROOT / "docs/ci/gitlab-ci.yml"]
HOOKS = ROOT / ".pre-commit-hooks.yaml"


@pytest.mark.parametrize("path", [*TEMPLATES, HOOKS], ids=lambda p: p.name)
def test_templates_parse_as_yaml(path):
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", [*TEMPLATES, HOOKS], ids=lambda p: p.name)
def test_templates_never_install_mlspec_from_the_index(path):
    for line in path.read_text(encoding="utf-8").splitlines():
        code = line.split("#")[0]
        if re.search(r"pip install\b.*\bmlspec\b", code):
            assert re.search(r"mlspec @ |git\+|\./mlspec", code), line


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_templates_install_cpu_torch_and_run_only_listed_specs(path):
    text = path.read_text(encoding="utf-8")
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in text
    checks = [line for line in text.splitlines() if re.search(r"mlspec check\b", line.split("#")[0])]
    assert checks and all(":(exclude)tests/golden/*" in line for line in checks)
    runs = [line for line in text.splitlines() if re.search(r"mlspec (run|plan)\b", line.split("#")[0])]
    assert runs and all("$MLSPEC_SPECS" in line and "ls-files" not in line for line in runs)
    for option in ("--html", "--markdown", "--baseline", "--fail-on-regression", "MLSPEC_ALLOW_FAILURES"):
        assert option in text


def test_pre_commit_hooks_leave_out_the_golden_specs():
    text = HOOKS.read_text(encoding="utf-8")
    hooks = text.split("\n- id: ")[1:]
    assert len(hooks) == 2
    assert all("\n  exclude: ^tests/golden/\n" in hook + "\n" for hook in hooks)
