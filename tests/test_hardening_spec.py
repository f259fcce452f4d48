"""Hardening of the front end against broken and hostile specs: numbers that overflow,
lists nested ten thousand deep, `labels []`, requests without a cap, and specs so large
that anything slower than linear shows.

A broken spec gives located errors (`path:line:col: error: message`, the source line and
a caret) and exit status 2, never a traceback.
"""

from __future__ import annotations

import contextlib
import gc
import io
import random
import re
import sys
import time
from pathlib import Path

import pytest

from mlspec.cli import main
from mlspec.errors import MlspecError, render
from mlspec.language import ast
from mlspec.language.checker import check
from mlspec.language.parser import MAX_LIST_DEPTH, parse
from mlspec.library.perturbations import typos
from mlspec.run.pipeline import plan_file

HUGE = "9" * 100_000  # past int()'s 4,300-digit limit, and a float's range
HUGE_SHOWN = "999999999999... (100,000 characters)"


# ---------------------------------------------------------------- helpers


def run_cli(*argv: str) -> tuple[int, str, str]:
    """`mlspec ARGV` in this process: exit status, stdout, stderr (an exception fails the test)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def errors_of(source: str, path: Path) -> list[str]:
    """The rendered errors of parsing and checking `source` (written to `path`)."""
    path.write_text(source, encoding="utf-8")
    with pytest.raises(MlspecError) as info:
        check(parse(source, str(path)))
    return [render(d) for d in info.value.diagnostics]


def position(source: str, needle: str, after: str) -> tuple[int, int]:
    """(line, col) of the first `needle` at or after `after`."""
    index = source.index(needle, source.index(after))
    return source.count("\n", 0, index) + 1, index - (source.rfind("\n", 0, index) + 1) + 1


def assert_located(rendered: list[str], path: Path, source: str, line: int, col: int, message: str) -> str:
    """One diagnostic at line:col whose message starts with `message`; its source line and caret."""
    head = f"{path}:{line}:{col}: error: "
    found = [r for r in rendered if r.startswith(head) and r.splitlines()[0][len(head):].startswith(message)]
    assert len(found) == 1, f"no {head}{message}... among\n" + "\n".join(rendered)
    lines = found[0].splitlines()
    assert lines[1] == f"{line:>5} | {source.split(chr(10))[line - 1].expandtabs(4).rstrip()}"
    assert lines[2].startswith(" " * 5 + " | " + " " * (col - 1) + "^")
    return found[0]


TEXT_MODEL = 'model m {{\n  onnx "m.onnx"\n  input text\n  output probabilities labels [negative, positive]\n{extra}}}\n'
HTTP_MODEL = 'model m {{\n  http "http://127.0.0.1:9/v2/models/m/infer"\n  input text\n  output probabilities labels [negative, positive]\n{extra}}}\n'
IMAGE_MODEL = 'model m {{\n  torch "m.pt"\n  input image shape {shape} range {range}\n  output logits labels [a, b]\n}}\ndataset images = npz "d.npz"\n'
WORDS = 'lexicon w = ["good", "bad"]\ndataset reviews = csv "d.csv"\n'


def text_spec(statements: str = "", extra: str = "", kind: str = "inv", header: str = 'spec "t"\n') -> str:
    template = 'template "It was {w}." -> positive'
    return header + TEXT_MODEL.format(extra=extra) + WORDS + f'capability "c" {{\n  {kind} "t" {{\n    {template}\n{statements}  }}\n}}\n'


def load_spec(statements: str) -> str:
    return 'spec "t"\n' + HTTP_MODEL.format(extra="") + WORDS + f'capability "c" {{\n  load "l" {{\n    from reviews\n{statements}  }}\n}}\n'


def fairness_spec(statements: str) -> str:
    return (
        'spec "t"\n' + TEXT_MODEL.format(extra="") + WORDS
        + f'capability "c" {{\n  fairness "f" {{\n    from reviews\n    by sex\n    positive positive\n{statements}  }}\n}}\n'
    )


def attack_spec(method: str, expect: str = "expect robust_accuracy >= 0.5", shape: str = "[1, 8, 8]", range_: str = "[0, 1]") -> str:
    return (
        'spec "t"\n' + IMAGE_MODEL.format(shape=shape, range=range_)
        + f'capability "c" {{\n  attack "a" {{\n    from images\n    method {method}\n    {expect}\n  }}\n}}\n'
    )


# (id, source with N for the number, the text the number follows, what the message starts with)
NUMBER_CASES = [
    ("spec seed", text_spec(header='spec "t" seed N\n'), "seed", "seed must be a whole number from 0 to 2^63-1, not "),
    ("sample", text_spec("    sample N\n    perturb typos\n"), "sample", "sample size must be a whole number from 1 to 10,000,000, not "),
    ("sample seed", text_spec("    sample 1 seed N\n    perturb typos\n"), "sample 1", "seed must be a whole number from 0 to 2^63-1, not "),
    ("variants", text_spec("    perturb typos variants N\n"), "variants", "variants must be a whole number from 1 to 1,000, not "),
    ("typos count", text_spec("    perturb typos(count: N)\n"), "count", "`typos` parameter `count` must be a whole number from 1 to 1,000, not "),
    ("change_numbers n", text_spec("    perturb change_numbers(n: N)\n"), "n:", "`change_numbers` parameter `n` must be a whole number from 1 to 1,000, not "),
    ("max_fail_rate", text_spec("    perturb typos\n    max_fail_rate N\n"), "max_fail_rate", "max_fail_rate must be between 0 and 1 (or 0% and 100%), not "),
    ("tolerance", text_spec("    perturb typos\n    expect unchanged tolerance N\n"), "tolerance", "tolerance must be between 0 and 1 (or 0% and 100%), not "),
    ("probability", text_spec("    expect prob(positive) >= N\n", kind="mft"), ">=", "a probability must be between 0 and 1 (or 0% and 100%), not "),
    ("where probability", text_spec("    perturb typos\n    where original.prob(positive) > N\n"), ">", "a probability must be between 0 and 1 (or 0% and 100%), not "),
    ("batch", text_spec("    perturb typos\n", extra="  batch N\n"), "batch", "batch must be a whole number from 1 to 1,000,000, not "),
    ("http concurrency", load_spec("    requests 10\n    expect p95_latency <= 50ms\n").replace("input text\n", "input text\n  concurrency N\n", 1), "concurrency", "concurrency must be a whole number from 1 to 1,000, not "),
    ("http retries", load_spec("    requests 10\n    expect p95_latency <= 50ms\n").replace("input text\n", "input text\n  retries N\n", 1), "retries", "retries must be a whole number from 0 to 100, not "),
    ("requests", load_spec("    requests N\n    expect p95_latency <= 50ms\n"), "requests", "requests must be a whole number from 1 to 100,000, not "),
    ("load concurrency", load_spec("    requests 10\n    concurrency N\n    expect p95_latency <= 50ms\n"), "    concurrency", "concurrency must be a whole number from 1 to 1,000, not "),
    ("throughput", load_spec("    requests 10\n    expect throughput >= N\n"), ">=", "throughput must be a number of at most about 1.8e308 in size, not "),
    ("error_rate", load_spec("    requests 10\n    expect error_rate <= N\n"), "<=", "error_rate must be between 0 and 1 (or 0% and 100%), not "),
    ("min_group_size", fairness_spec("    min_group_size N\n    expect demographic_parity_difference <= 0.1\n"), "min_group_size", "min_group_size must be a whole number from 1 to 2^63-1, not "),
    ("fairness ratio", fairness_spec("    expect demographic_parity_ratio >= N\n"), ">=", "demographic_parity_ratio must be a number of at most about 1.8e308 in size, not "),
    ("image dimension", attack_spec("fgsm(eps: 0.1)", shape="[1, N, 8]"), "shape [1, ", "an image dimension must be a whole number from 1 to 100,000, not "),
    ("image range", attack_spec("fgsm(eps: 0.1)", range_="[0, N]"), "range [0, ", "an image's range takes numbers of at most about 1.8e308 in size, not "),
    ("eps", attack_spec("fgsm(eps: N)"), "eps: ", "`fgsm` parameter `eps` must be a number of at most about 1.8e308 in size, not "),
    ("eps sweep", attack_spec("fgsm(eps: [0.1, N])"), "0.1, ", "`fgsm` parameter `eps` must be a number of at most about 1.8e308 in size, not "),
    ("pgd steps", attack_spec("pgd(eps: 0.1, steps: N)"), "steps: ", "`pgd` parameter `steps` must be a whole number from 1 to 10,000, not "),
    ("pgd restarts", attack_spec("pgd(eps: 0.1, restarts: N)"), "restarts: ", "`pgd` parameter `restarts` must be a whole number from 1 to 100, not "),
    ("pgd step", attack_spec("pgd(eps: 0.1, step: N)"), "step: ", "`pgd` parameter `step` must be a number of at most about 1.8e308 in size, not "),
    ("square queries", attack_spec("square(eps: 0.1, queries: N)"), "queries: ", "`square` parameter `queries` must be a whole number from 1 to 1,000,000, not "),
    ("attack expectation", attack_spec("fgsm(eps: 0.1)", expect="expect robust_accuracy >= N"), ">= ", "robust_accuracy must be between 0 and 1 (or 0% and 100%), not "),
    ("neutral band", text_spec("    perturb typos\n", extra="  neutral between N and 2/3\n"), "between ", "the neutral band's low end must be between 0 and 1 (exclusive), not "),
    ("noise std", attack_spec("fgsm(eps: 0.1)").replace("method fgsm(eps: 0.1)\n    expect robust_accuracy >= 0.5", "perturb gaussian_noise(std: N)").replace('attack "a"', 'inv "a"'), "std: ", "`gaussian_noise` parameter `std` must be a number of at most about 1.8e308 in size, not "),
]


@pytest.mark.parametrize("value, shown", [("1e999", "1e999"), (HUGE, HUGE_SHOWN)], ids=["1e999", "100k digits"])
@pytest.mark.parametrize("source, after, message", [c[1:] for c in NUMBER_CASES], ids=[c[0] for c in NUMBER_CASES])
def test_a_number_too_large_is_a_located_error(tmp_path, monkeypatch, source, after, message, value, shown):
    monkeypatch.chdir(tmp_path)
    source = source.replace("N", value)
    path = tmp_path / "t.mlspec"
    line, col = position(source, value, after)
    assert_located(errors_of(source, path), path, source, line, col, message + shown)


@pytest.mark.parametrize(
    "value",
    ["-1e999", "1e308", "-1e308", "1e19", "9223372036854775808", "1e9999999999999999999", "-" + HUGE],
)
def test_whole_numbers_out_of_range_say_the_range(tmp_path, monkeypatch, value):
    monkeypatch.chdir(tmp_path)
    source = text_spec(header=f'spec "t" seed {value}\n')
    path = tmp_path / "t.mlspec"
    shown = value if len(value) <= 24 else f"{value[:12]}... ({len(value):,} characters)"
    assert_located(errors_of(source, path), path, source, 1, 15, f"seed must be a whole number from 0 to 2^63-1, not {shown}")


def test_whole_numbers_are_read_exactly(tmp_path, monkeypatch):
    """2^63-1 is a seed (a float would round it past the range); `1e3` and `1.0` are whole."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("text,label\ngood film,positive\n", encoding="utf-8")
    source = text_spec("    sample 1e3 seed 9223372036854775807\n    perturb typos variants 1.0\n", header='spec "t" seed 9223372036854775807\n')
    (tmp_path / "t.mlspec").write_text(source, encoding="utf-8")
    checked, plan = plan_file(str(tmp_path / "t.mlspec"))
    assert checked.seed == 2**63 - 1
    assert plan.tests[0].error is None


@pytest.mark.parametrize(
    "text, whole",
    [("1", 1), ("-3", -3), ("1.0", 1), ("1e3", 1000), ("0e99999", 0), ("1.5", None), ("1e-999", None), ("1e999", None),
     (HUGE, None), ("9223372036854775807", 2**63 - 1), ("1e19", None), ("1e99999999999999999999", None)],
)
def test_quantity_whole_never_raises(text, whole):
    quantity = ast.Quantity(span=ast.Span(file="x", line=1, col=1, end_line=1, end_col=2), value=float(text), text=text)
    assert quantity.whole() == whole


def test_a_fraction_of_huge_whole_numbers_is_a_located_error(tmp_path, monkeypatch):
    """`int()` of 100,000 digits raises ValueError; the neutral band's fraction is read without it."""
    monkeypatch.chdir(tmp_path)
    source = text_spec("    perturb typos\n", extra=f"  neutral between 1/{HUGE} and 2/3\n")
    path = tmp_path / "t.mlspec"
    line, col = position(source, "1/", "between")
    assert_located(errors_of(source, path), path, source, line, col, "a fraction is written with whole numbers of at most 2^63, not 1/")


def test_http_timeout_too_long(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = load_spec("    requests 10\n    expect p95_latency <= 50ms\n").replace("input text\n", f"input text\n  timeout {HUGE}s\n", 1)
    path = tmp_path / "t.mlspec"
    line, col = position(source, HUGE, "timeout")
    assert_located(errors_of(source, path), path, source, line, col, "`timeout` takes a duration up to 3600s such as 2s or 500ms, not 999999999999...")


def test_numbers_through_the_command_line_exit_2_without_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for number, (name, source, _, message) in enumerate(NUMBER_CASES):
        path = tmp_path / f"n{number}.mlspec"
        path.write_text(source.replace("N", "1e999"), encoding="utf-8")
        for argv in (["check", "--no-models", str(path)], ["plan", str(path)]):
            rc, _, err = run_cli(*argv)
            assert rc == 2, (name, argv, err)
            assert re.search(rf"^{re.escape(str(path.name))}:\d+:\d+: error: {re.escape(message)}", err, re.M), (name, err)
            assert "Traceback" not in err


# ---------------------------------------------------------------- nesting


def nested_spec(argument: str) -> str:
    return text_spec(f"    perturb append({argument})\n")


@pytest.mark.parametrize("depth", [MAX_LIST_DEPTH + 1, 50, 10_000])
def test_lists_nested_too_deep_are_an_error_at_the_first_bracket_too_deep(tmp_path, monkeypatch, depth):
    monkeypatch.chdir(tmp_path)
    source = nested_spec("[" * depth + '"a"' + "]" * depth)
    path = tmp_path / "t.mlspec"
    path.write_text(source, encoding="utf-8")
    line, col = position(source, "[", "append(")
    col += MAX_LIST_DEPTH
    for argv in (["check", "--no-models", str(path)], ["fmt", "--check", str(path)]):
        rc, _, err = run_cli(*argv)
        assert rc == 2
        assert err.startswith(f"t.mlspec:{line}:{col}: error: lists nest at most {MAX_LIST_DEPTH} deep\n"), err[:300]
        assert "hint: a parameter takes a value or a list of values" in err


def test_the_first_list_too_deep_in_source_order_is_reported(tmp_path):
    """Brackets in strings and comments do not count; the first too deep list of several is reported."""
    source = nested_spec('[ # [[[[[[\n  "[[[[[[", [[["a"]]], [[[["b"]]]], [[[[["c"]]]]]]')
    path = tmp_path / "t.mlspec"
    with pytest.raises(MlspecError) as info:
        parse(source, str(path))
    (diagnostic,) = info.value.diagnostics
    line, col = position(source, '["b"', '"a"')
    assert (diagnostic.span.line, diagnostic.span.col) == (line, col)


def test_lists_as_deep_as_allowed_reach_the_checker(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    depth = MAX_LIST_DEPTH
    source = nested_spec("[" * depth + '"a"' + "]" * depth)
    path = tmp_path / "t.mlspec"
    line, col = position(source, "[", "append(")
    assert_located(errors_of(source, path), path, source, line, col, "`append` parameter `phrases` takes a non-empty list of strings")


def test_deep_nesting_needs_no_deep_recursion(tmp_path):
    """The parse of 10,000 nested lists stays within a recursion limit far below their depth."""
    source = nested_spec("[" * 10_000 + '"a"' + "]" * 10_000)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(400)
    try:
        with pytest.raises(MlspecError, match="lists nest at most"):
            parse(source, str(tmp_path / "t.mlspec"))
    finally:
        sys.setrecursionlimit(limit)


def test_unclosed_deep_nesting_is_a_syntax_error(tmp_path):
    with pytest.raises(MlspecError, match="unexpected"):
        parse(nested_spec("[" * 10_000), str(tmp_path / "t.mlspec"))


# ---------------------------------------------------------------- labels


@pytest.mark.parametrize("labels", ["[]", "[only]"])
def test_a_model_without_two_labels_is_a_located_error(tmp_path, monkeypatch, labels):
    """`labels []` was an IndexError: the test (with no `on`) found its models share no label."""
    monkeypatch.chdir(tmp_path)
    source = text_spec("    perturb typos\n").replace("[negative, positive]", labels).replace(" -> positive", "")
    path = tmp_path / "t.mlspec"
    rendered = errors_of(source, path)
    assert_located(rendered, path, source, 2, 7, "model `m` needs at least two labels")
    path.write_text(source, encoding="utf-8")
    rc, _, err = run_cli("check", "--no-models", str(path))
    assert rc == 2 and "Traceback" not in err


def test_models_sharing_no_label_without_on_are_reported_at_the_title(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = text_spec("    perturb typos\n").replace(" -> positive", "")
    source = source.replace("capability", 'model n {\n  onnx "n.onnx"\n  input text\n  output probabilities labels [x, y]\n}\ncapability', 1)
    source = source.replace('inv "t" {', 'inv "t" on m, n {')
    path = tmp_path / "t.mlspec"
    line, col = position(source, "m, n", "inv")
    assert_located(errors_of(source, path), path, source, line, col, "the models of this test share no label")


def test_a_hint_lists_at_most_a_few_of_many_labels(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    labels = ", ".join(f"l{i:05}" for i in range(5000))
    source = text_spec("    expect label == nothing\n", kind="mft").replace("[negative, positive]", f"[{labels}]").replace(" -> positive", "")
    path = tmp_path / "t.mlspec"
    line, col = position(source, "nothing", "expect")
    found = assert_located(errors_of(source, path), path, source, line, col, "unknown label `nothing`")
    assert found.splitlines()[-1] == "hint: labels are " + ", ".join(f"l{i:05}" for i in range(12)) + " and 4,988 more"


# ---------------------------------------------------------------- what a spec may ask for


def compile_errors(tmp_path: Path, source: str) -> tuple[int, str]:
    (tmp_path / "d.csv").write_text("text,label\n" + "".join(f"film number {i} was good,positive\n" for i in range(50)), encoding="utf-8")
    path = tmp_path / "t.mlspec"
    path.write_text(source, encoding="utf-8")
    started = time.perf_counter()
    rc, _, err = run_cli("check", "--no-models", str(path))
    assert time.perf_counter() - started < 30, "the cap came too late"
    assert "Traceback" not in err
    return rc, err


def test_variants_beyond_the_cap_are_refused_before_any_work(tmp_path, monkeypatch):
    """`variants 1000000000000` looped for ever; now the checker says the cap."""
    monkeypatch.chdir(tmp_path)
    rc, err = compile_errors(tmp_path, text_spec("    perturb typos(count: 1) variants 1000000000000\n"))
    assert rc == 2
    assert "t.mlspec:12:38: error: variants must be a whole number from 1 to 1,000, not 1000000000000" in err


def test_a_chain_of_randomized_perturbations_is_held_to_the_cap(tmp_path, monkeypatch):
    """1,000 variants of 1,000 variants of 1,000 variants: 10^9 draws a case, refused at compile."""
    monkeypatch.chdir(tmp_path)
    source = text_spec("    perturb typos then typos then typos variants 1000\n").replace("It was {w}.", "It was {w} {w1}.")
    rc, err = compile_errors(tmp_path, source)
    assert rc == 2
    assert re.search(r"t\.mlspec:12:5: error: perturbing 4 cases takes [\d,]+ draws of the perturbations, more than mlspec makes for a test", err), err
    assert "hint: at most 10,000,000" in err


def test_many_cases_times_many_variants_are_held_to_the_cap(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    words = ", ".join(f'"w{i}"' for i in range(200))
    source = text_spec("    perturb typos variants 1000\n").replace('lexicon w = ["good", "bad"]', f"lexicon w = [{words}]")
    source = source.replace("It was {w}.", "It was {w} and {w1} and {w2}.")  # 8,000,000 cases
    source = source.replace("    perturb", "    sample 20000\n    perturb")
    rc, err = compile_errors(tmp_path, source)
    assert rc == 2
    assert "error: perturbing 20,000 cases takes 20,000,000 draws of the perturbations, more than mlspec makes for a test" in err


def test_image_variants_are_held_to_the_cap(tmp_path, monkeypatch):
    import numpy as np

    monkeypatch.chdir(tmp_path)
    np.savez(tmp_path / "d.npz", input=np.zeros((4000, 1, 8, 8), dtype=np.float32), label=np.zeros(4000, dtype=np.int64))
    source = attack_spec("fgsm(eps: 0.1)").replace('attack "a"', 'inv "a"').replace("method fgsm(eps: 0.1)\n    expect robust_accuracy >= 0.5", "perturb gaussian_noise(std: 0.1) variants 1000")
    path = tmp_path / "t.mlspec"
    path.write_text(source, encoding="utf-8")
    rc, _, err = run_cli("check", "--no-models", str(path))
    assert rc == 2, err
    assert "t.mlspec:11:5: error: `variants 1000` of 4,000 images make 4,000,000 images, more than mlspec makes for a test" in err
    assert "hint: a test makes at most 3,125,000 images of this size" in err


def test_sample_beyond_the_cap(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, err = compile_errors(tmp_path, text_spec("    sample 10000001\n    perturb typos\n"))
    assert rc == 2 and "sample size must be a whole number from 1 to 10,000,000, not 10000001" in err


def test_a_swap_of_a_long_lexicon_into_many_cases_is_held_to_the_cap(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    words = ", ".join(f'"w{i}"' for i in range(5000))
    source = text_spec("    swap w\n").replace('lexicon w = ["good", "bad"]', f"lexicon w = [{words}]\nlexicon v = [{words}]")
    source = source.replace("It was {w}.", "It was {w} and {v}.")  # 5,000 cases, each with 4,999 variants
    rc, err = compile_errors(tmp_path, source)
    assert rc == 2
    assert "error: swapping 5,000 values of `w` into every case makes 25,000,000 texts, more than mlspec makes for a test" in err


def test_a_perturbation_making_too_much_text_from_one_text_is_stopped(tmp_path, monkeypatch):
    """`change_numbers(n: 1000)` of a text of 20,000 numbers: 20 million texts of 100,000 characters."""
    monkeypatch.chdir(tmp_path)
    numbers = " ".join(str(100 + i) for i in range(20_000))
    (tmp_path / "d.csv").write_text(f'text,label\n"{numbers}",positive\n', encoding="utf-8")
    source = text_spec("    perturb change_numbers(n: 1000)\n").replace('    template "It was {w}." -> positive\n', "    from reviews\n")
    path = tmp_path / "t.mlspec"
    path.write_text(source, encoding="utf-8")
    rc, _, err = run_cli("check", "--no-models", str(path))
    assert rc == 2
    assert "error: `change_numbers` makes more than 100,000,000 characters of variants of one text of" in err


def test_typos_are_the_same_as_before_and_linear():
    """The pairs typos may swap are found once, not once a typo; the typos made are the same."""
    import numpy as np

    def reference(text, rng, count=1):
        chars, used = list(text), set()
        for _ in range(count):
            free = [i for i in range(len(chars) - 1) if chars[i] != chars[i + 1] and not used & {i - 1, i, i + 1}]
            if not free:
                return []
            i = free[int(rng.integers(len(free)))]
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
            used.add(i)
        return [t for t in ["".join(chars)] if t != text]

    picker = random.Random(3)
    for trial in range(300):
        text = "".join(picker.choice("aab c") for _ in range(picker.randrange(0, 40)))
        count = picker.randrange(1, 12)
        assert typos(text, np.random.default_rng(trial), count) == reference(text, np.random.default_rng(trial), count)
    long_text = "ab" * 200_000
    started = time.process_time()
    assert len(typos(long_text, np.random.default_rng(0), 1000)) == 1
    assert time.process_time() - started < 5


# ---------------------------------------------------------------- large specs


def many_fields(count: int) -> str:
    return text_spec("    perturb typos\n").replace('csv "d.csv"', 'csv "d.csv" {' + ", ".join(f"f{i}: c{i}" for i in range(count)) + "}")


def many_tests(count: int) -> str:
    tests = "".join(f'  mft "t{i}" {{\n    template "It was {{w}} {i}." -> positive\n    max_fail_rate 5%\n  }}\n' for i in range(count))
    return 'spec "t"\n' + TEXT_MODEL.format(extra="") + WORDS + f'capability "c" {{\n{tests}}}\n'


def cpu_seconds(function, *args) -> float:
    """The least CPU time of three calls (the machine is shared)."""
    gc.collect()
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        function(*args)
        best = min(best, time.process_time() - started)
    return best


def parse_and_check(source: str) -> None:
    spec = parse(source, "t.mlspec")
    try:
        check(spec)
    except MlspecError:
        pass


@pytest.mark.parametrize("make, small", [(many_fields, 2000), (many_tests, 1500)], ids=["dataset fields", "tests"])
def test_parse_and_check_take_time_proportional_to_the_spec(tmp_path, monkeypatch, make, small):
    """Four times the spec, about four times the time (a field map was quadratic: 20,000
    fields took 43s; the garbage collector made large specs 2-4x slower than linear)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("text,label\n", encoding="utf-8")
    one, four = cpu_seconds(parse_and_check, make(small)), cpu_seconds(parse_and_check, make(4 * small))
    assert four < 7 * max(one, 0.01), f"{small}: {one:.3f}s, {4 * small}: {four:.3f}s"


def many_templates(count: int) -> str:
    templates = "".join(f'    template "It was {{w}} {i}." -> positive\n' for i in range(count))
    return 'spec "t"\n' + TEXT_MODEL.format(extra="") + WORDS + f'capability "c" {{\n  mft "t" {{\n{templates}  }}\n}}\n'


def test_compiling_many_templates_takes_time_proportional_to_them(tmp_path, monkeypatch):
    """Each template's cases were picked by a pass over the cases of all (200,000 templates: 95s, now 25s)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("text,label\n", encoding="utf-8")

    def plan(count: int):
        path = tmp_path / f"t{count}.mlspec"
        path.write_text(many_templates(count), encoding="utf-8")
        return lambda: plan_file(str(path))

    small = 3000
    one, four = cpu_seconds(plan(small)), cpu_seconds(plan(4 * small))
    assert four < 7 * max(one, 0.01), f"{small}: {one:.3f}s, {4 * small}: {four:.3f}s"


@pytest.mark.parametrize("pixel_max", ["1e999", "inf", "nan", HUGE])
def test_pixel_max_must_be_a_finite_number(tmp_path, monkeypatch, pixel_max):
    monkeypatch.chdir(tmp_path)
    source = attack_spec("fgsm(eps: 0.1)").replace('npz "d.npz"', f'npz "d.npz" {{ pixel_max: {pixel_max} }}')
    path = tmp_path / "t.mlspec"
    line, col = position(source, pixel_max, "pixel_max")
    shown = pixel_max if len(pixel_max) < 24 else HUGE_SHOWN
    assert_located(errors_of(source, path), path, source, line, col, f"pixel_max takes a number above 0, not {shown}")


def test_the_parse_leaves_the_garbage_collector_as_it_found_it(tmp_path):
    source = text_spec()
    assert gc.isenabled()
    parse(source, "t.mlspec")
    assert gc.isenabled()
    with pytest.raises(MlspecError):
        parse(source + "}", "t.mlspec")
    assert gc.isenabled()
    gc.disable()
    try:
        parse(source, "t.mlspec")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_syntax_error_quotes_the_start_of_a_long_token(tmp_path):
    """The message quotes 57 characters of a 100,000-character name; the caret still covers all of it."""
    source = 'spec "t"\nmodel m {\n  ' + "a" * 100_000 + "\n}\n"
    with pytest.raises(MlspecError) as info:
        parse(source, str(tmp_path / "t.mlspec"))
    diagnostic = info.value.diagnostic
    assert diagnostic.message.startswith("unexpected `" + "a" * 57 + "...`; expected ")
    assert (diagnostic.span.line, diagnostic.span.col, diagnostic.span.end_col) == (3, 3, 100_003)
