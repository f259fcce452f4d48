"""The HTML report: one self-contained, escaped, deterministic page with a capability x
kind matrix, every test with its figures beside the baseline's, word diffs of INV/DIR
examples and matplotlib plots as inline SVG; opened in headless Chromium it renders
with no console errors (skipped without Chromium or playwright, unless CI is set)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from mlspec.report.html import html_report, word_diff, write_html
from mlspec.report.html_plots import MAX_BARS, thresholds
from mlspec.results import ConfusionMatrix, Example, GroupFigure, Prediction, RunResult, SpecResult, TestResult

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVIL = "<script>alert(1)</script>"
VOID = {"meta", "link", "br", "img", "hr", "input", "col", "wbr"}


# ---- results built by hand


def make_test(title: str, **fields) -> TestResult:
    values = {
        "id": f"demo.{fields.get('capability', 'Vocabulary')}.{title}",
        "title": title,
        "capability": "Vocabulary",
        "kind": "mft",
        "model": "sentiment",
        "file": "specs/demo.mlspec",
        "line": 7,
        "status": "PASS",
        "message": "",
        **fields,
    }
    return TestResult(**values)


def prediction(text: str, label: str = "negative", positive: float = 0.3) -> Prediction:
    return Prediction(text=text, label=label, probs={"negative": round(1 - positive, 2), "positive": positive})


def rated(failures: int, cases: int, applicable: int | None = None) -> dict:
    metrics = {"cases": cases, "failures": failures, "fail_rate": failures / (applicable or cases), "max_fail_rate": 0.1}
    if applicable is not None:
        metrics["applicable"] = applicable
    return metrics


def attack(model: str, points: dict[float, float], baseline: dict | None = None) -> TestResult:
    metrics = {"cases": 100, "clean_accuracy": 0.95, **{f"robust_accuracy@eps={eps:g}": value for eps, value in points.items()}}
    return make_test(
        f"PGD sweep [{model}]",
        id=f"demo.Robustness.PGD sweep [{model}]",
        capability="Robustness",
        kind="attack",
        model=model,
        checks=["robust_accuracy >= 0.5 at eps 0.05"],
        metrics=metrics,
        baseline=baseline,
    )


def groups(count: int) -> list[GroupFigure]:
    figures = [GroupFigure(group=f"group {index:03d}", count=20, value=round(0.3 + 0.6 * index / count, 4)) for index in range(count)]
    return figures + [GroupFigure(group=EVIL, count=3, value=0.9, scored=False), GroupFigure(group="nobody", count=0, value=None)]


def run_result(seconds: float = 3.25) -> RunResult:
    tests = [
        make_test(
            EVIL,
            status="FAIL",
            rated=True,
            metrics=rated(3, 10),
            checks=["label == positive"],
            message="fail_rate=0.3 > max_fail_rate=0.1",
            examples=[Example(prediction=prediction(f"{EVIL} was good."))],
            digest="3/10 failed (30.0%)",
        ),
        make_test("negative adjectives", rated=True, metrics=rated(1, 40, applicable=20), model=f"model {EVIL}"),
        make_test(
            "typos keep the label",
            kind="inv",
            status="FAIL",
            rated=True,
            metrics=rated(2, 50),
            checks=["unchanged tolerance 0.1"],
            examples=[Example(original=prediction("the movie was good", "positive", 0.8), prediction=prediction(f"the film was good {EVIL}"), expected="pos")],
            baseline={"status": "PASS", "cases": 50, "failures": 1, "fail_rate": 0.02},
            regression="fail_rate 0.040 is worse than the baseline's 0.020",
        ),
        attack("cnn", {0.05: 0.8, 0.1: 0.55, 0.2: 0.1}, baseline={"status": "PASS", "robust_accuracy@eps=0.05": 0.85, "robust_accuracy@eps=0.1": 0.6}),
        attack("onnx", {0.05: 0.7, 0.1: 0.4, 0.2: 0.05}),
        make_test(
            "nationality parity",
            capability="Fairness",
            kind="fairness",
            status="FAIL",
            checks=["max_gap <= 0.1", "min_ratio >= 0.8"],
            metrics={"cases": 4280, "groups": 214, "max_gap": 0.6, "min_ratio": 0.33},
            groups=groups(214),
        ),
        make_test(
            "held-out figures",
            capability="Fairness",
            kind="metrics",
            status="FAIL",
            checks=["accuracy >= 0.9"],
            metrics={"cases": 60, "accuracy": 0.85},
            baseline={"status": "FAIL", "accuracy": 0.8},
            confusion=ConfusionMatrix(labels=["negative", "positive", EVIL], counts=[[20, 5, 0], [4, 31, 1], [0, 0, 0]]),
            details=["confusion matrix:", f"  {EVIL}  0  0  0"],
        ),
        make_test("broken", capability=EVIL, kind="data", status="ERROR", message=f"specs/demo.mlspec:9:3: error: no such column {EVIL}\n  9 | x\n    | ^"),
        make_test("skipped", capability=EVIL, kind="drift", status="SKIP", message="no reference data"),
    ]
    spec = SpecResult(spec="demo", path="specs/demo.mlspec", seed=7, tests=tests, seconds=seconds, notes=["batch 64, measured"])
    return RunResult(specs=[spec], seconds=seconds)


class Page(HTMLParser):
    """The page's elements, checked to nest properly, with their attributes, ids and text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.ids: list[str] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()
        assert self.stack == [], f"unclosed elements: {self.stack}"

    def handle_starttag(self, tag, attrs):
        self.handle_startendtag(tag, attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.ids.extend(value for name, value in attrs if name == "id")

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)

    def find(self, tag: str, **wanted) -> list[dict]:
        return [attrs for name, attrs in self.tags if name == tag and all(attrs.get(key) == value for key, value in wanted.items())]


def details_of(page: str, title: str) -> str:
    """The `<details>` of the test with this (escaped) title."""
    start = page.index(f'<span class="title">{title}</span>')
    return page[page.rindex("<details", 0, start) : page.index("</details>\n", start)]


@pytest.fixture(scope="module")
def page() -> str:
    return html_report(run_result())


# ---- structure


def test_the_page_parses_and_its_elements_nest(page):
    parsed = Page(page)
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    assert len(parsed.find("details", **{"class": "test st-FAIL"})) == 4
    assert len(parsed.ids) == len(set(parsed.ids)), "duplicate ids (the SVGs' ids must be their own)"


def test_the_matrix_has_a_row_per_capability_and_a_column_per_kind(page):
    matrix = page[page.index('<table class="matrix">') : page.index("</table>", page.index('<table class="matrix">'))]
    head = re.findall(r"<th>([a-z]+)</th>", matrix.split("</tr>")[0])
    assert head == ["capability", "mft", "inv", "fairness", "attack", "metrics", "data", "drift", "all"]
    assert [row.count("<td") for row in matrix.split("</tr>")[1:-1]] == [8] * 5  # Vocabulary, Robustness, Fairness, the escaped one, all
    # Vocabulary's mft cell: 3 of 10 cases, 1 of 20 applicable -> 4/30.
    assert '<td class="st-FAIL"><b>2 tests</b><br>1 pass &middot; 1 fail<br>13.3% of 30 cases</td>' in matrix
    assert '<td class="st-ERROR"><b>1 test</b><br>1 error</td>' in matrix
    assert '<td class="st-SKIP"><b>1 test</b><br>1 skip</td>' in matrix
    assert '<span class="regression">1 regressed</span>' in matrix


def test_the_header_has_the_totals_and_the_specs(page):
    header = page[page.index("<header>") : page.index("</header>")]
    for total in ("3 passed", "4 failed", "1 errors", "1 skipped", "1 regressed", "9 tests in 3.2s"):
        assert f"<span>{total}</span>" in header
    assert '>demo</a></td><td><span class="mono">specs/demo.mlspec</span></td><td>7</td>' in header
    assert "batch 64, measured" in header


def test_failing_tests_are_open_and_passing_ones_collapsed(page):
    parsed = Page(page)
    for attrs in parsed.find("details"):
        if "test" in attrs.get("class", ""):
            assert ("open" in attrs) == (attrs["class"] != "test st-PASS" and attrs["class"] != "test st-SKIP")


# ---- escaping and no network


def test_model_texts_are_escaped_everywhere(page):
    assert EVIL not in page
    assert "<script" not in page.lower()
    assert "alert(1)" in page  # shown, as text
    parsed = Page(page)
    assert not parsed.find("script")
    assert EVIL in "".join(parsed.text)
    assert not any(name.startswith("on") for _, attrs in parsed.tags for name in attrs), "an inline event handler"


def test_nothing_is_fetched_when_the_page_opens(page):
    assert "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">" in page
    for _, attrs in Page(page).tags:
        for name in ("src", "href", "xlink:href"):
            if name in attrs:
                assert attrs[name].startswith(("#", "data:")), f"{name}={attrs[name]}"
    assert not re.search(r"url\(\s*['\"]?(?!#)", page), "a url() other than a fragment"
    assert "@import" not in page and "@font-face" not in page


# ---- tests, figures, examples


def test_a_test_shows_its_status_kind_model_place_checks_and_message(page):
    details = details_of(page, "&lt;script&gt;alert(1)&lt;/script&gt;")
    assert '<span class="badge b-FAIL">FAIL</span><span class="kind">mft</span>' in details
    assert "model sentiment" in details and "specs/demo.mlspec:7" in details
    assert "<code>label == positive</code>" in details
    assert '<pre class="message">fail_rate=0.3 &gt; max_fail_rate=0.1</pre>' in details
    assert "<td>0.300</td>" in details  # fail_rate, as format_figure writes it


def test_figures_stand_beside_the_baseline_and_a_regression_shows_why(page):
    details = details_of(page, "typos keep the label")
    assert '<span class="badge b-REGRESSED">REGRESSED</span>' in details
    assert "Regressed: fail_rate 0.040 is worse than the baseline&#x27;s 0.020" in details
    rows = {row.split("</th>")[0].rsplit(">", 1)[-1]: re.findall(r"<td>(.*?)</td>", row) for row in details.split("<tr>")[1:]}
    assert rows["this run"][1:] == ["50", "2", "0.040", "0.100"]
    assert rows["baseline"][1:] == ["50", "1", "0.020", "&ndash;"]
    assert rows["change"][1:] == ["", "+1", "+0.020", ""]
    assert '<span class="badge b-PASS">PASS</span>' in details  # the baseline's status


def test_an_inv_example_is_a_word_diff_against_its_original(page):
    details = details_of(page, "typos keep the label")
    assert 'original: <span class="text">the movie was good</span> &rarr; <b>positive</b>' in details
    assert "the <del>movie</del> <ins>film</ins> was good <ins>&lt;script&gt;alert(1)&lt;/script&gt;</ins>" in details
    assert "expected <b>pos</b>" in details


def test_word_diff_marks_removed_and_added_words():
    assert word_diff("a b c", "a x c d") == "a <del>b</del> <ins>x</ins> c <ins>d</ins>"
    assert word_diff("same words", "same  words") == "same words"
    assert word_diff("<b>", "<i>") == "<del>&lt;b&gt;</del> <ins>&lt;i&gt;</ins>"


def test_examples_are_capped_with_a_note():
    many = [Example(prediction=prediction(f"case {index}")) for index in range(25)]
    page = html_report(
        RunResult(
            specs=[SpecResult(spec="s", path="s.mlspec", seed=1, tests=[make_test("many", status="FAIL", rated=True, metrics=rated(40, 100), examples=many)])]
        )
    )
    assert page.count('<span class="text">case ') == 10
    assert "30 more failing cases in the JSON report" in page


def test_an_error_keeps_its_diagnostic_lines(page):
    details = details_of(page, "broken")
    assert "error: no such column &lt;script&gt;alert(1)&lt;/script&gt;\n  9 | x\n    | ^</pre>" in details


# ---- plots


def test_an_attack_sweep_draws_each_models_robustness_curve(page):
    for model in ("cnn", "onnx"):
        details = details_of(page, f"PGD sweep [{model}]")
        assert details.count("<svg") == 1
        svg = details[details.index("<svg") : details.index("</svg>")]
        assert ">cnn</text>" in svg and ">onnx</text>" in svg and ">cnn (baseline)</text>" in svg  # text stays text
        assert "robust accuracy at each eps (2 models)" in details


def test_a_fairness_test_draws_its_groups_and_threshold(page):
    details = details_of(page, "nationality parity")
    svg = details[details.index("<svg") : details.index("</svg>")]
    labels = re.findall(r">(group \d{3})</text>", svg)
    assert len(labels) == MAX_BARS and labels[0] == "group 213" and labels[-1] == "group 000"
    assert "... 174 groups not drawn ..." in svg
    assert "max_gap &lt;= 0.1 -&gt; 0.797" in svg and "min_ratio &gt;= 0.8 -&gt; 0.718" in svg
    assert "the 20 highest and 20 lowest drawn, 174 between them in the table below" in details
    assert "2 groups without a value or too small to score, not drawn" in details
    assert details.count("<tr><td>group ") == 214  # all of them in the table


def test_thresholds_follow_the_checks():
    test = make_test(
        "t",
        kind="fairness",
        checks=["max_gap <= 0.1", "min_ratio >= 80%", "cases >= 10"],
        groups=[
            GroupFigure(group="a", count=5, value=0.9),
            GroupFigure(group="b", count=5, value=0.5),
            GroupFigure(group="c", count=1, value=2.0, scored=False),
        ],
    )
    assert thresholds(test) == [("max_gap <= 0.1", pytest.approx(0.8)), ("min_ratio >= 80%", pytest.approx(0.72))]


def test_a_confusion_matrix_is_a_heat_map_and_figures_stand_beside_the_baseline(page):
    details = details_of(page, "held-out figures")
    svg = details[details.index("<svg") : details.index("</svg>")]
    assert ">31</text>" in svg and ">&lt;script&gt;alert(1)&lt;/script&gt;</text>" in svg
    assert "<td>0.850</td>" in details and "<td>0.800</td>" in details and "<td>+0.050</td>" in details
    assert '<pre class="details">confusion matrix:\n' in details


def test_svgs_are_plain_and_small(page):
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page and "<metadata" not in page
    assert page.count("<svg") == 4
    assert len(page) < 400_000


# ---- determinism, files, imports


def test_the_same_result_gives_the_same_page(page):
    assert html_report(run_result()) == page
    other = html_report(run_result(seconds=9.5))
    assert other != page and other.replace("9.5s", "3.2s") == page


def test_write_html_creates_the_folder_and_writes_utf8(tmp_path):
    target = tmp_path / "reports" / "run.html"
    write_html(run_result(), target)
    assert target.read_bytes().decode("utf-8") == html_report(run_result())


def test_importing_the_reporter_does_not_import_matplotlib():
    code = "import sys, mlspec.report.html; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ---- a real run


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> tuple[dict, str]:
    """The sentiment demo's results, through a JSON file as `mlspec run --json` writes them, and its page."""
    from mlspec.run.merge import load_result
    from mlspec.run.pipeline import run_file

    spec = run_file(os.path.join(ROOT, "specs/sentiment/sentiment.mlspec"))
    results = tmp_path_factory.mktemp("html") / "results.json"
    results.write_text(RunResult(specs=[spec], seconds=spec.seconds).model_dump_json(), encoding="utf-8")
    return json.loads(results.read_text(encoding="utf-8")), html_report(load_result(results))


def test_a_real_run_gives_a_complete_page(real_run):
    data, real_page = real_run
    titles = [test["title"] for spec in data["specs"] for test in spec["tests"]]
    parsed = Page(real_page)
    assert len(parsed.find("details", **{"class": "test st-FAIL"})) + len(parsed.find("details", **{"class": "test st-PASS"})) == len(titles)
    text = "".join(parsed.text)
    assert all(title in text for title in titles)
    assert real_page.count("<svg") == sum(1 for spec in data["specs"] for test in spec["tests"] if test["groups"])
    assert "<del>" in real_page and "<ins>" in real_page
    assert len(real_page) < 1_000_000


# ---- in a browser


def browser():
    """(playwright's sync API, chromium's path); skips without them, fails without them in CI."""
    problems = []
    try:
        from playwright import sync_api
    except ImportError:
        sync_api, problems = None, ["playwright is not installed"]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        problems.append("no chromium on PATH")
    if problems:
        (pytest.fail if os.environ.get("CI") else pytest.skip)("; ".join(problems))
    return sync_api, chromium


def test_the_page_renders_in_chromium_without_errors(tmp_path):
    sync_api, chromium = browser()
    target = tmp_path / "report.html"
    write_html(run_result(), target)
    messages: list[str] = []
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = launched.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda message: messages.append(f"console {message.type}: {message.text}") if message.type in ("error", "warning") else None)
            page.on("pageerror", lambda error: messages.append(f"page error: {error}"))
            page.on("request", lambda request: None if request.url.startswith(("file:", "data:")) else messages.append(f"request: {request.url}"))
            page.goto(target.as_uri(), wait_until="load")
            assert page.locator("table.matrix").is_visible()
            assert page.locator("svg").count() == 4 and page.locator("details[open] svg").count() == 2
            assert page.locator("details.st-PASS[open]").count() == 0
            assert page.evaluate("document.querySelectorAll('script').length") == 0
            page.screenshot(path=str(tmp_path / "report.png"))
        finally:
            launched.close()
    assert messages == []
    assert (tmp_path / "report.png").stat().st_size > 10_000
