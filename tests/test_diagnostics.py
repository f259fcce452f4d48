"""Tests for the error messages of every stage, as a user sees them (`mlspec.errors.render`).

Each test asserts the whole rendered diagnostic: the `path:line:col: error: message`
head, the quoted source line, a caret under exactly the right columns, and the hint (or
that there is none). Known bugs are `xfail(strict=True)` tests asserting the right
behaviour.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlspec.cli import main
from mlspec.errors import Diagnostic, MlspecError, Span, remember_source, render
from mlspec.language.checker import check
from mlspec.language.parser import parse

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "specs" / "sentiment" / "sentiment.mlspec"
PATH = "t.mlspec"


# ---------------------------------------------------------------- helpers


def at(source: str, needle: str, after: str = "") -> tuple[int, int, int]:
    """(line, col, width) of the first `needle` in `source` at or after the text `after`.

    A needle that starts or ends with a word character matches only whole words there.
    """
    start = source.index(after) if after else 0
    pattern = re.escape(needle)
    if re.match(r"\w", needle):
        pattern = r"(?<!\w)" + pattern
    if re.search(r"\w$", needle):
        pattern += r"(?!\w)"
    match = re.compile(pattern).search(source, start)
    assert match, f"{needle!r} not in source"
    index = match.start()
    line = source.count("\n", 0, index) + 1
    col = index - (source.rfind("\n", 0, index) + 1) + 1
    return line, col, len(needle)


def rendered_of(error: BaseException) -> list[str]:
    assert isinstance(error, MlspecError), f"not a located error: {error!r}"
    return [render(d) for d in error.diagnostics]


def parse_errors(text: str, path: str = PATH) -> list[str]:
    with pytest.raises(MlspecError) as info:
        parse(text, path)
    return rendered_of(info.value)


def assert_diagnostic(
    rendered: list[str] | str,
    source: str,
    message: str,
    line: int,
    col: int,
    width: int = 1,
    hint: str | None = None,
    path: str = PATH,
) -> str:
    """Find the diagnostic with exactly this head in `rendered` and check its other lines."""
    items = [rendered] if isinstance(rendered, str) else rendered
    head = f"{path}:{line}:{col}: error: {message}"
    found = [r for r in items if r.splitlines()[0] == head]
    assert len(found) == 1, f"no diagnostic\n  {head}\namong\n" + "\n".join(items)
    lines = found[0].splitlines()
    source_line = source.split("\n")[line - 1]  # lines as the parser counts them
    assert lines[1] == f"{line:>5} | {source_line.rstrip()}"
    assert lines[2] == " " * 5 + " | " + " " * (col - 1) + "^" * width
    if hint is None:
        assert len(lines) == 3, f"unexpected hint in\n{found[0]}"
    else:
        assert lines[3:] == [f"hint: {hint}"]
    return found[0]


def assert_at(rendered, source: str, message: str, needle: str, after: str = "", hint: str | None = None) -> str:
    """A diagnostic with `message` whose caret is under exactly `needle`."""
    line, col, width = at(source, needle, after)
    return assert_diagnostic(rendered, source, message, line, col, width, hint)


def test_at_helper():
    assert at("ab\ncd ef\n", "ef") == (2, 4, 2)
    assert at("x x\nx", "x", after="\n") == (2, 1, 1)
    assert at("negative negativ", "negativ") == (1, 10, 7)
    assert at("m(m)", "m(") == (1, 1, 2)


# ---------------------------------------------------------------- render


def test_render_without_span():
    assert render(Diagnostic("no such spec file: x.mlspec")) == "error: no such spec file: x.mlspec"
    assert render(Diagnostic("bad", hint="do this")) == "error: bad\nhint: do this"


def test_render_expands_tabs_in_line_and_caret():
    remember_source("tabs.mlspec", "spec \"x\"\n\tmodle m {}\n")
    text = render(Diagnostic("oops", Span(file="tabs.mlspec", line=2, col=2, end_line=2, end_col=7), "fix it"))
    assert text.splitlines() == [
        "tabs.mlspec:2:2: error: oops",
        "    2 |     modle m {}",
        "      |     ^^^^^",
        "hint: fix it",
    ]


def test_render_multiline_span_underlines_rest_of_first_line():
    remember_source("multi.mlspec", "model m {\n  input text\n}\n")
    text = render(Diagnostic("m", Span(file="multi.mlspec", line=1, col=7, end_line=3, end_col=2)))
    assert text.splitlines()[2] == "      |       ^^^"


def test_render_line_outside_file_has_no_source():
    remember_source("short.mlspec", "spec \"x\"\n")
    text = render(Diagnostic("m", Span(file="short.mlspec", line=9, col=1, end_line=9, end_col=2)))
    assert text == "short.mlspec:9:1: error: m"


# ================================================================= syntax errors


def test_unterminated_string():
    source = 'spec "abc\nmodel m {}\n'
    assert_diagnostic(
        parse_errors(source), source, "unterminated string", 1, 6, 4, 'close the string with `"` on the same line'
    )


def test_unterminated_string_in_a_test():
    source = 'capability "c" {\n  mft "t" {\n    template "The {thing} was good.\n  }\n}\n'
    assert_at(
        parse_errors(source),
        source,
        "unterminated string",
        '"The {thing} was good.',
        hint='close the string with `"` on the same line',
    )


def test_unknown_top_level_keyword():
    source = 'spec "x"\nmodle m {\n}\n'
    assert_diagnostic(
        parse_errors(source),
        source,
        "unexpected `modle`; expected `capability`, `dataset`, `import`, `lexicon`, `model`, `seed` or `spec`",
        2,
        1,
        5,
        "did you mean `model`?",
    )


def test_unknown_top_level_keyword_first_line():
    source = "capabilty \"c\" {}\n"
    assert_diagnostic(
        parse_errors(source),
        source,
        "unexpected `capabilty`; expected `capability`, `dataset`, `import`, `lexicon`, `model` or `spec`",
        1,
        1,
        9,
        "did you mean `capability`?",
    )


def test_unknown_test_kind():
    source = 'capability "c" {\n  mfx "t" {\n  }\n}\n'
    assert_diagnostic(
        parse_errors(source),
        source,
        "unexpected `mfx`; expected `attack`, `data`, `dir`, `drift`, `fairness`, `inv`, `load`, `metrics`, ...",
        2,
        3,
        3,
        "did you mean `mft`?",
    )


def test_misspelt_statement_in_test():
    source = 'capability "c" {\n  mft "t" {\n    expct label == positive\n  }\n}\n'
    rendered = parse_errors(source)
    text = assert_diagnostic(
        rendered,
        source,
        "unexpected `expct`; expected `against`, `by`, `concurrency`, `duration`, `expect`, `from`, `max_fail_rate`, `method`, ...",
        3,
        5,
        5,
        "did you mean `expect`?",
    )
    assert len(rendered) == 1, text


def test_misspelt_statement_in_model():
    source = "model m {\n  inptu text\n}\n"
    assert_diagnostic(
        parse_errors(source),
        source,
        "unexpected `inptu`; expected `batch`, `concurrency`, `header`, `http`, `huggingface`, `input`, `neutral`, `onnx`, ...",
        2,
        3,
        5,
        "did you mean `input`?",
    )


def test_unexpected_end_of_file_unclosed_brace():
    source = 'capability "c" {\n  mft "t" {\n    template "x" -> positive\n  }\n'
    rendered = parse_errors(source)
    head = rendered[0].splitlines()[0]
    assert head.startswith("t.mlspec:4:4: error: unexpected end of file; expected ")
    assert "`attack`" in head and "`data`" in head
    message = head.split(": error: ", 1)[1]
    assert_diagnostic(rendered, source, message, 4, 4, 1, "a `{` is not closed by a `}`")


def test_unexpected_end_of_file_in_a_statement():
    source = 'capability "c" {\n  mft "t" {\n    expect prob(positive) >=\n'
    assert_diagnostic(
        parse_errors(source), source, "unexpected end of file; expected a duration (2s, 50ms), a number or a percentage", 3, 29, 1
    )


def test_unexpected_end_of_file_after_trailing_blank_lines():
    source = "model m {\n  input text\n\n\n\n"
    rendered = parse_errors(source)
    # the caret goes after the last non-blank line, not onto an empty line past it
    assert rendered[0].splitlines()[0].startswith("t.mlspec:2:13: error: unexpected end of file")
    assert rendered[0].splitlines()[-1] == "hint: a `{` is not closed by a `}`"


@pytest.mark.parametrize(
    "source, needle",
    [
        ('model "m" {\n}\n', '"m"'),
        ('capability "c" {\n  mft "t" {\n    from "reviews"\n  }\n}\n', '"reviews"'),
        ('capability "c" {\n  mft "t" on "sentiment" {\n  }\n}\n', '"sentiment"'),
        ('lexicon "pos" = ["a"]\n', '"pos"'),
    ],
)
def test_quoted_name(source, needle):
    assert_at(
        parse_errors(source),
        source,
        f"unexpected `{needle}`; expected a name",
        needle,
        hint="names are written without quotes",
    )


def test_unexpected_character():
    source = 'spec "x" @\n'
    assert_diagnostic(
        parse_errors(source),
        source,
        "unexpected `@`; expected `capability`, `dataset`, `import`, `lexicon`, `model`, `seed` or `spec`",
        1,
        10,
        1,
    )


@pytest.mark.parametrize("source", ["lexicon x = ['a']\n", "spec 'x'\n"])
def test_unexpected_character_single_quotes(source):
    assert_at(parse_errors(source), source, "unexpected `'`", "'", hint='strings are written in double quotes: "..."')


def test_unexpected_character_in_a_test():
    source = 'capability "c" {\n  mft "t" {\n    max_fail_rate 5 %\n  }\n}\n'
    rendered = parse_errors(source)
    assert rendered[0].startswith("t.mlspec:3:21: error: unexpected `%`")
    assert rendered[0].splitlines()[2] == " " * 5 + " | " + " " * 20 + "^"


def test_missing_value_before_closing_brace():
    source = 'capability "c" {\n  mft "t" {\n    max_fail_rate }\n}\n'
    assert_diagnostic(
        parse_errors(source),
        source,
        "unexpected `}`; expected a duration (2s, 50ms), a number or a percentage",
        3,
        19,
        1,
        "a statement is incomplete before this `}`",
    )


def test_missing_value_on_the_next_line():
    source = 'capability "c" {\n  mft "t" {\n    max_fail_rate\n  }\n}\n'
    assert_diagnostic(
        parse_errors(source),
        source,
        "unexpected `}`; expected a duration (2s, 50ms), a number or a percentage",
        4,
        3,
        1,
        "a statement is incomplete before this `}`",
    )


def test_missing_label_after_arrow_before_closing_brace():
    source = 'capability "c" {\n  mft "t" {\n    template "x" ->\n  }\n}\n'
    assert_diagnostic(
        parse_errors(source),
        source,
        "unexpected `}`; expected a name or a string",
        4,
        3,
        1,
        "a statement is incomplete before this `}`",
    )


def test_missing_string_before_closing_brace_has_hint():
    source = 'capability "c" {\n  mft "t" {\n    template }\n}\n'
    assert_diagnostic(
        parse_errors(source),
        source,
        "unexpected `}`; expected a string",
        3,
        14,
        1,
        "a statement is incomplete before this `}`",
    )


def test_statement_given_twice():
    source = 'capability "c" {\n  mft "t" {\n    max_fail_rate 5%\n    max_fail_rate 10%\n  }\n}\n'
    rendered = parse_errors(source)
    assert len(rendered) == 1
    assert_at(
        rendered, source, 'test "t" already has a `max_fail_rate` (line 3)', "max_fail_rate 10%", hint="keep only one"
    )


def test_statements_given_twice_are_all_reported():
    source = (
        'capability "c" {\n  mft "t" {\n    template "a"\n    sample 1\n    sample 2\n'
        "    by x\n    by y\n  }\n}\n"
    )
    rendered = parse_errors(source)
    assert len(rendered) == 2
    assert_at(rendered, source, 'test "t" already has a `sample` (line 4)', "sample 2", hint="keep only one")
    assert_at(rendered, source, 'test "t" already has a `by` (line 6)', "by y", hint="keep only one")


@pytest.mark.parametrize(
    "first, second",
    [
        ("from x", "from y"),
        ("sample 1", "sample 2 seed 3"),
        ("perturb typos", "perturb contractions"),
        ("swap a", "swap b"),
        ("max_fail_rate 5%", "max_fail_rate 10%"),
        ("by a", "by b"),
        ("metric positive_rate", "metric mean confidence"),
        ("positive a", "positive b"),
    ],
)
def test_each_test_statement_given_twice_names_its_keyword(first, second):
    source = f'capability "c" {{\n  inv "t" {{\n    {first}\n    {second}\n  }}\n}}\n'
    keyword = first.split()[0]
    (text,) = parse_errors(source)
    article = "an" if keyword[0] in "aeiou" else "a"
    assert_at(text, source, f'test "t" already has {article} `{keyword}` (line 3)', second, hint="keep only one")


@pytest.mark.parametrize(
    "first, second",
    [
        ('onnx "a.onnx"', 'onnx "b.onnx"'),
        ('onnx "a.onnx"', 'torch "b.pt"'),
        ('torch "a.pt"', 'python "m:f"'),
        ('python "m:f"', 'onnx "b.onnx"'),
        ("input text", "input text"),
        ("input text", "input image shape [28, 28] range [0, 1]"),
        ("output logits labels [a, b]", "output probabilities labels [a, b]"),
        ("batch 2", "batch 4"),
    ],
)
def test_model_statement_given_twice(first, second):
    other = 'onnx "a.onnx"' if first.startswith("batch") else "batch 8"
    source = f"model m {{\n  {first}\n  {other}\n  {second}\n}}\n"
    keyword = first.split()[0]
    # the source statements (`onnx`, `torch`, `python`) are one: the model file
    described = "a model file" if keyword in ("onnx", "torch", "python") else "a `batch`" if keyword == "batch" else f"an `{keyword}`"
    (text,) = parse_errors(source)
    assert_diagnostic(text, source, f"model `m` already has {described} (line 2)", 4, 3, len(second), "keep only one")


def test_spec_line_given_twice():
    source = 'spec "a"\nspec "b" seed 2\n'
    assert_at(parse_errors(source), source, "a spec file has one `spec` line", 'spec "b" seed 2', hint="remove this one")


def test_dataset_field_mapped_twice():
    source = 'dataset d = csv "d.csv" { text: a, text: b }\n'
    assert_at(parse_errors(source), source, "field `text` is mapped twice", "text", after="a, ")


@pytest.mark.parametrize("op", [">=", "<=", ">", "<"])
def test_comparing_labels_with_order(op):
    source = f'capability "c" {{\n  mft "t" {{\n    expect label {op} positive\n  }}\n}}\n'
    assert_at(
        parse_errors(source),
        source,
        f"`{op}` cannot compare labels",
        f"label {op} positive",
        hint="labels are compared with == or !=",
    )


def test_comparing_expected_with_order():
    source = 'capability "c" {\n  mft "t" {\n    expect label >= expected\n  }\n}\n'
    assert_at(
        parse_errors(source),
        source,
        "`>=` cannot compare labels",
        "label >= expected",
        hint="labels are compared with == or !=",
    )


def test_comparing_labels_with_order_in_where():
    source = 'capability "c" {\n  dir "t" {\n    where original.label < positive\n  }\n}\n'
    assert_at(
        parse_errors(source),
        source,
        "`<` cannot compare labels",
        "label < positive",
        hint="labels are compared with == or !=",
    )


def test_syntax_error_keeps_tab_alignment():
    source = 'spec "x"\n\tmodle m {}\n'
    text = parse_errors(source)[0]
    lines = text.splitlines()
    assert lines[0].startswith("t.mlspec:2:2: error: unexpected `modle`")
    assert lines[1] == "    2 |     modle m {}"
    assert lines[2] == "      |     ^^^^^"


def test_syntax_error_with_crlf_line_endings():
    source = 'spec "x"\r\nmodle m {\r\n}\r\n'
    lines = parse_errors(source)[0].splitlines()
    assert lines[0].startswith("t.mlspec:2:1: error: unexpected `modle`")
    assert lines[1:] == ["    2 | modle m {", "      | ^^^^^", "hint: did you mean `model`?"]


def test_missing_comma_in_label_list_does_not_suggest_a_keyword():
    # `b` is close to the keyword `by`, which the LALR lookahead lists as expected here
    source = "model m {\n  output probabilities labels [a b]\n}\n"
    (text,) = parse_errors(source)
    lines = text.splitlines()
    assert lines[0].startswith("t.mlspec:2:34: error: unexpected `b`; expected ")
    assert "`,`" in lines[0] and "`]`" in lines[0]
    assert lines[1:] == [
        "    2 |   output probabilities labels [a b]",
        "      |                                  ^",
        "hint: separate the items with commas",
    ]


@pytest.mark.parametrize(
    "source, message, needle",
    [
        ('lexicon x = ["a" "b"]\n', 'unexpected `"b"`; expected `,` or `]`', '"b"'),
        ('capability "c" {\n  inv "t" on m n {\n  }\n}\n', "unexpected `n`; expected `,` or `{`", "n"),
    ],
)
def test_missing_comma_between_items(source, message, needle):
    assert_at(parse_errors(source), source, message, needle, after=" ", hint="separate the items with commas")


def test_missing_comma_between_arguments():
    source = 'capability "c" {\n  inv "t" {\n    perturb typos(1 2)\n  }\n}\n'
    (text,) = parse_errors(source)
    assert text.startswith("t.mlspec:3:21: error: unexpected `2`; expected ")
    assert text.splitlines()[2:] == ["      |                     ^", "hint: separate the items with commas"]


@pytest.mark.parametrize(
    "source, message, needle",
    [
        (
            'capability "c" {\n  mft "t" {\n    ex label == positive\n  }\n}\n',
            "unexpected `ex`; expected `against`, `by`, `concurrency`, `duration`, `expect`, `from`, `max_fail_rate`, `method`, ...",
            "ex",
        ),
        ('spec "x"\nmo m {\n}\n', "unexpected `mo`; expected `capability`, `dataset`, `import`, `lexicon`, `model`, `seed` or `spec`", "mo"),
    ],
)
def test_no_keyword_suggestion_for_short_tokens(source, message, needle):
    # keyword suggestions start at three characters: `ex` or `mo` are too short to guess from
    assert_at(parse_errors(source), source, message, needle)


@pytest.mark.parametrize("separator", ["\x0c", "\u2028", "\x85", "\x1c"])
def test_line_numbers_with_other_line_breaks_in_a_comment(separator):
    # the parser counts lines at \n only; so must the quoted source line and the character named
    source = f'# page one{separator}page two\nspec "x" @\n'
    assert_diagnostic(
        parse_errors(source),
        source,
        "unexpected `@`; expected `capability`, `dataset`, `import`, `lexicon`, `model`, `seed` or `spec`",
        2,
        10,
    )


# ================================================================= checker errors

HEADER = """spec "t"
model m {
  onnx "m.onnx"
  input text
  output probabilities labels [negative, positive]
}
dataset reviews = csv "d.csv"
lexicon pos_adj = ["good", "great"]
lexicon thing = file "words.txt"
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A directory holding a tiny CSV dataset and a lexicon file; the model file is absent."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("text,label\ngood film,positive\nbad film,negative\n", encoding="utf-8")
    (tmp_path / "words.txt").write_text("# things\nmovie\nfilm\n\nplot\n", encoding="utf-8")
    return tmp_path


def cap(*tests: str) -> str:
    return 'capability "c" {\n' + "\n".join(tests) + "}\n"


def check_errors(source: str) -> list[str]:
    """Write `source` as t.mlspec in the current directory, parse and check it; its rendered errors."""
    Path(PATH).write_text(source, encoding="utf-8")
    with pytest.raises(MlspecError) as info:
        check(parse(source, PATH))
    return rendered_of(info.value)


# a test whose only error is its unknown dataset
BAD_FROM = '  mft "a" {\n    from reviewz\n    expect label == positive\n  }\n'

GOOD_TEST = """  mft "good" {
    template "The {thing} was {pos_adj}."
    expect label == positive
  }
"""


def test_header_and_a_good_test_check(workdir):
    source = HEADER + cap(GOOD_TEST)
    Path(PATH).write_text(source, encoding="utf-8")
    checked = check(parse(source, PATH))
    assert [t.title for t in checked.tests] == ["good"]
    assert checked.lexicons["thing"] == ("movie", "film", "plot")


def test_unknown_lexicon_in_template(workdir):
    source = HEADER + cap('  mft "a" {\n    template "The {thing} was {pos_adjs}."\n    expect label == positive\n  }\n')
    rendered = check_errors(source)
    assert len(rendered) == 1
    assert_at(
        rendered, source, "template placeholder `{pos_adjs}` names no lexicon", "{pos_adjs}", hint="did you mean `pos_adj`?"
    )


def test_unknown_lexicon_in_template_with_article(workdir):
    source = HEADER + cap('  mft "a" {\n    template "What {a:pos_adjj} {thing}!" -> positive\n  }\n')
    assert_at(
        check_errors(source),
        source,
        "template placeholder `{pos_adjj}` names no lexicon",
        "{a:pos_adjj}",
        hint="did you mean `pos_adj`?",
    )


def test_unknown_placeholder_without_close_lexicon(workdir):
    source = HEADER + cap('  mft "a" {\n    template "x {x} y" -> positive\n  }\n')
    assert_at(
        check_errors(source),
        source,
        "template placeholder `{x}` names no lexicon",
        "{x}",
        hint="declare it with `lexicon NAME = [...]`",
    )


def test_numbered_placeholders_draw_from_their_lexicon(workdir):
    source = HEADER + cap('  mft "a" {\n    template "{first_name1} and {first_name2} saw {thing1}" -> positive\n  }\n')
    Path(PATH).write_text(source, encoding="utf-8")
    (test,) = check(parse(source, PATH)).tests  # no error
    assert [(p.key, p.lexicon) for p in test.placeholders[0]] == [("first_name1", "first_name"), ("first_name2", "first_name"), ("thing1", "thing")]


@pytest.mark.parametrize("before", ['The \\"film\\" was', "a\\\\b\\tc"])
def test_unknown_lexicon_caret_after_escapes(workdir, before):
    # each escape is two characters in the source but one in the text: the caret follows the source
    source = HEADER + cap(f'  mft "a" {{\n    template "{before} {{pos_adjs}}." -> positive\n  }}\n')
    assert_at(
        check_errors(source), source, "template placeholder `{pos_adjs}` names no lexicon", "{pos_adjs}", hint="did you mean `pos_adj`?"
    )


def test_unknown_model_in_on(workdir):
    source = HEADER + cap('  mft "a" on mm {\n    template "x" -> positive\n  }\n')
    assert_at(check_errors(source), source, "unknown model `mm`", "mm", after="on ", hint="did you mean `m`?")


def test_unknown_model_in_on_without_close_name(workdir):
    source = HEADER + cap('  mft "a" on m, zzz {\n    template "x" -> positive\n  }\n')
    assert_at(check_errors(source), source, "unknown model `zzz`", "zzz")


def test_unknown_dataset_in_from(workdir):
    source = HEADER + cap('  mft "a" {\n    from reviewz\n  }\n')
    assert_at(check_errors(source), source, "unknown dataset `reviewz`", "reviewz", hint="did you mean `reviews`?")


@pytest.mark.parametrize(
    "statement, needle",
    [
        ("expect label == positve", "positve"),
        ("expect label != postive", "postive"),
        ("expect label in [negative, postive]", "postive"),
        ("expect label not in [negatve]", "negatve"),
        ("expect prob(postive) >= 0.5", "postive"),
    ],
)
def test_unknown_label_in_expect(workdir, statement, needle):
    source = HEADER + cap(f'  mft "a" {{\n    template "x"\n    {statement}\n  }}\n')
    closest = "positive" if needle.startswith("pos") else "negative"
    assert_at(check_errors(source), source, f"unknown label `{needle}`", needle, hint=f"did you mean `{closest}`?")


def test_unknown_label_in_template(workdir):
    source = HEADER + cap('  mft "a" {\n    template "x" -> Positive\n  }\n')
    assert_at(check_errors(source), source, "unknown label `Positive`", "Positive", hint="did you mean `positive`?")


def test_unknown_label_in_where(workdir):
    source = HEADER + cap(
        '  dir "a" {\n    from reviews\n    perturb typos\n    where original.label == postive\n'
        "    expect prob(positive) not decreasing\n  }\n"
    )
    assert_at(check_errors(source), source, "unknown label `postive`", "postive", hint="did you mean `positive`?")


def test_unknown_label_in_where_prob(workdir):
    source = HEADER + cap(
        '  dir "a" {\n    from reviews\n    perturb typos\n    where original.prob(negativ) > 0.5\n'
        "    expect prob(positive) not decreasing\n  }\n"
    )
    assert_at(check_errors(source), source, "unknown label `negativ`", "negativ", hint="did you mean `negative`?")


def test_unknown_label_without_close_name_lists_labels(workdir):
    source = HEADER + cap('  mft "a" {\n    template "x"\n    expect label == neutral\n  }\n')
    assert_at(check_errors(source), source, "unknown label `neutral`", "neutral", hint="labels are negative, positive")


def test_unknown_label_in_fairness_metric_and_positive(workdir):
    source = HEADER + cap(
        '  fairness "a" {\n    template "{city}"\n    by city\n    metric positive_rate\n    positive postive\n'
        "    expect max_gap <= 0.1\n  }\n"
    )
    assert_at(check_errors(source), source, "unknown label `postive`", "postive", hint="did you mean `positive`?")


def test_unknown_perturbation(workdir):
    source = HEADER + cap('  inv "a" {\n    from reviews\n    perturb typo(count: 1)\n  }\n')
    assert_at(check_errors(source), source, "unknown perturbation `typo`", "typo", after="perturb ", hint="did you mean `typos`?")


def test_unknown_perturbation_lists_them(workdir):
    source = HEADER + cap('  inv "a" {\n    from reviews\n    perturb xyzzy\n  }\n')
    assert_at(
        check_errors(source),
        source,
        "unknown perturbation `xyzzy`",
        "xyzzy",
        hint="a text model's perturbations are typos, contractions, punctuation, swap, change_numbers, append, prepend",
    )


def test_unknown_perturbation_later_in_chain(workdir):
    source = HEADER + cap('  inv "a" {\n    from reviews\n    perturb typos then contraction\n  }\n')
    assert_at(
        check_errors(source), source, "unknown perturbation `contraction`", "contraction", hint="did you mean `contractions`?"
    )


def test_unknown_perturbation_parameter(workdir):
    source = HEADER + cap('  inv "a" {\n    from reviews\n    perturb typos(cout: 1)\n  }\n')
    assert_at(check_errors(source), source, "`typos` has no parameter `cout`", "cout: 1", hint="did you mean `count`?")


def test_unknown_perturbation_parameter_shows_usage(workdir):
    source = HEADER + cap('  inv "a" {\n    from reviews\n    perturb change_numbers(zzz: 1)\n  }\n')
    assert_at(
        check_errors(source),
        source,
        "`change_numbers` has no parameter `zzz`",
        "zzz: 1",
        hint="usage: change_numbers(n: int = 3)",
    )


def test_too_many_positional_arguments(workdir):
    source = HEADER + cap('  inv "a" {\n    from reviews\n    perturb typos(1, 2)\n  }\n')
    assert_at(check_errors(source), source, "`typos` takes one argument", "2", hint="usage: typos(count: int = 1)")


def test_each_extra_positional_argument_is_reported(workdir):
    source = HEADER + cap('  inv "a" {\n    from reviews\n    perturb swap(pos_adj, 2, 3)\n  }\n')
    rendered = check_errors(source)
    assert len(rendered) == 2
    assert_at(rendered, source, "`swap` takes one argument", "2", after="perturb", hint="usage: swap(lexicon: lexicon)")
    assert_at(rendered, source, "`swap` takes one argument", "3", after="perturb", hint="usage: swap(lexicon: lexicon)")


def test_argument_to_perturbation_without_parameters(workdir):
    source = HEADER + cap('  inv "a" {\n    from reviews\n    perturb contractions(1)\n  }\n')
    assert_at(check_errors(source), source, "`contractions` takes no arguments", "1", after="perturb", hint="usage: contractions()")


def test_parameter_given_twice(workdir):
    source = HEADER + cap('  inv "a" {\n    from reviews\n    perturb typos(1, count: 2)\n  }\n')
    assert_at(check_errors(source), source, "parameter `count` is given twice", "count: 2")


def test_missing_required_perturbation_argument(workdir):
    source = HEADER + cap('  dir "a" {\n    from reviews\n    perturb append\n    expect prob(positive) increasing\n  }\n')
    assert_at(
        check_errors(source), source, "`append` needs `phrases`", "append", hint="usage: append(phrases: strings)"
    )


def test_missing_required_perturbation_argument_with_parentheses(workdir):
    source = HEADER + cap('  inv "a" {\n    from reviews\n    perturb swap()\n  }\n')
    assert_at(check_errors(source), source, "`swap` needs `lexicon`", "swap()", hint="usage: swap(lexicon: lexicon)")


@pytest.mark.parametrize(
    "call, message, needle, hint",
    [
        ('typos(count: "x")', "`typos` parameter `count` takes a whole number", '"x"', "usage: typos(count: int = 1)"),
        ("typos(count: x)", "`typos` parameter `count` takes a whole number", "x", "usage: typos(count: int = 1)"),
        ("typos(count: 1.5)", "`typos` parameter `count` must be a whole number >= 1, not 1.5", "1.5", None),
        ("typos(count: 0)", "`typos` parameter `count` must be a whole number >= 1, not 0", "0", None),
        ("change_numbers(n: [1])", "`change_numbers` parameter `n` takes a whole number", "[1]", "usage: change_numbers(n: int = 3)"),
        (
            'append("I loved it.")',
            "`append` parameter `phrases` takes a non-empty list of strings",
            '"I loved it."',
            'for example ["I loved it.", "Great."]',
        ),
        ("prepend([])", "`prepend` parameter `phrases` takes a non-empty list of strings", "[]", 'for example ["I loved it.", "Great."]'),
        ('prepend(["a", 1])', "`prepend` parameter `phrases` takes a non-empty list of strings", '["a", 1]', 'for example ["I loved it.", "Great."]'),
        ('swap("city")', "`swap` parameter `lexicon` takes a lexicon name", '"city"', "names are written without quotes"),
        ("swap(1)", "`swap` parameter `lexicon` takes a lexicon name", "1", "usage: swap(lexicon: lexicon)"),
        ("swap(cty)", "unknown lexicon `cty`", "cty", "did you mean `city`?"),
    ],
)
def test_wrong_perturbation_argument(workdir, call, message, needle, hint):
    source = HEADER + cap(f'  inv "a" {{\n    from reviews\n    perturb {call}\n  }}\n')
    assert_at(check_errors(source), source, message, needle, after="perturb", hint=hint)


def test_duplicate_test_title(workdir):
    source = HEADER + cap(GOOD_TEST, GOOD_TEST.replace("positive", "negative").replace("pos_adj", "thing"))
    rendered = check_errors(source)
    assert len(rendered) == 1
    assert_at(
        rendered,
        source,
        'test title "good" is used twice',
        '"good"',
        after="expect label == positive",
        hint="titles name tests in reports; make it unique",
    )


def test_duplicate_title_across_capabilities(workdir):
    source = HEADER + cap(GOOD_TEST) + cap(GOOD_TEST).replace('capability "c"', 'capability "d"')
    assert_at(
        check_errors(source),
        source,
        'test title "good" is used twice',
        '"good"',
        after='capability "d"',
        hint="titles name tests in reports; make it unique",
    )


def test_duplicate_capability(workdir):
    source = HEADER + cap(GOOD_TEST) + 'capability "c" {}\n'
    assert_at(
        check_errors(source), source, "capability `c` is declared twice", 'capability "c" {}', hint="give each a different name"
    )


def test_duplicate_model(workdir):
    source = HEADER + 'model m {\n  onnx "m2.onnx"\n  input text\n  output logits labels [a, b]\n}\n'
    assert_at(check_errors(source), source, "model `m` is declared twice", "m", after="model m {\n  onnx \"m2", hint="give each a different name")


def test_duplicate_lexicon(workdir):
    source = HEADER + 'lexicon pos_adj = ["nice"]\n'
    assert_at(
        check_errors(source), source, "lexicon `pos_adj` is declared twice", "pos_adj", after='lexicon pos_adj = ["nice"]', hint="give each a different name"
    )


def test_duplicate_dataset(workdir):
    source = HEADER + 'dataset reviews = jsonl "d.jsonl"\n'
    assert_at(
        check_errors(source), source, "dataset `reviews` is declared twice", "reviews", after="dataset reviews = jsonl", hint="give each a different name"
    )


def test_duplicate_model_label(workdir):
    source = 'model m {\n  onnx "m.onnx"\n  input text\n  output probabilities labels [a, b, a]\n}\n'
    assert_at(check_errors(source), source, "model `m`: label `a` is declared twice", "a", after="b, ", hint="give each a different name")


def test_model_missing_statements(workdir):
    source = "model m {\n  input text\n}\n"
    message = (
        'model `m` needs a model (`onnx "file"`, `torch "file"`, `python "module:function"` or `http "URL"`)'
        " and an `output ... labels [...]` (or `output value` for a regression model)"
    )
    assert_at(check_errors(source), source, message, "m", after="model ")


def test_model_needs_two_labels(workdir):
    source = 'model m {\n  onnx "m.onnx"\n  input text\n  output logits labels [only]\n}\n'
    assert_at(check_errors(source), source, "model `m` needs at least two labels", "m", after="model ")


def test_model_batch_zero(workdir):
    source = HEADER.replace("  input text\n", "  input text\n  batch 0\n")
    assert_at(check_errors(source), source, "batch must be a whole number >= 1, not 0", "0", after="batch")


def test_unknown_dataset_field(workdir):
    source = 'dataset d = csv "d.csv" { txt: body }\n'
    (text,) = check_errors(source)
    assert_at(text, source, "unknown dataset field `txt`", "txt", hint="did you mean `text`?")


def test_unknown_dataset_field_lists_fields(workdir):
    source = 'dataset d = csv "d.csv" { text: body, zzz: stars }\n'
    (text,) = check_errors(source)
    assert_at(text, source, "unknown dataset field `zzz`", "zzz", hint="fields are text, label, pixel_max, missing")


@pytest.mark.parametrize(
    "statement, message, needle, hint",
    [
        ("max_fail_rate 150%", "max_fail_rate must be between 0 and 1 (or 0% and 100%), not 150%", "150%", None),
        ("max_fail_rate 5", "max_fail_rate must be between 0 and 1 (or 0% and 100%), not 5", "5", "write 0.05 or 5%"),
        ("max_fail_rate -1%", "max_fail_rate must be between 0 and 1 (or 0% and 100%), not -1%", "-1%", None),
        ("max_fail_rate 250", "max_fail_rate must be between 0 and 1 (or 0% and 100%), not 250", "250", None),
        ("expect prob(positive) >= 2", "a probability must be between 0 and 1 (or 0% and 100%), not 2", "2", "write 0.02 or 2%"),
        ("expect confidence > 120%", "a probability must be between 0 and 1 (or 0% and 100%), not 120%", "120%", None),
        # the hint is only for whole numbers 2..100, which look like a forgotten `%`
        ("max_fail_rate 2.5", "max_fail_rate must be between 0 and 1 (or 0% and 100%), not 2.5", "2.5", None),
        ("max_fail_rate 100", "max_fail_rate must be between 0 and 1 (or 0% and 100%), not 100", "100", "write 1 or 100%"),
        ("max_fail_rate 101", "max_fail_rate must be between 0 and 1 (or 0% and 100%), not 101", "101", None),
    ],
)
def test_threshold_out_of_range_in_mft(workdir, statement, message, needle, hint):
    source = HEADER + cap(f'  mft "a" {{\n    template "x" -> positive\n    {statement}\n  }}\n')
    assert_at(check_errors(source), source, message, needle, after=statement.split()[0] + " ", hint=hint)


def test_tolerance_out_of_range(workdir):
    source = HEADER + cap('  inv "a" {\n    from reviews\n    perturb typos\n    expect unchanged tolerance 1.5\n  }\n')
    assert_at(
        check_errors(source),
        source,
        "tolerance must be between 0 and 1 (or 0% and 100%), not 1.5",
        "1.5",
    )


def test_monotonic_tolerance_out_of_range(workdir):
    source = HEADER + cap(
        '  dir "a" {\n    from reviews\n    perturb typos\n    expect prob(positive) not decreasing tolerance 200%\n  }\n'
    )
    assert_at(check_errors(source), source, "tolerance must be between 0 and 1 (or 0% and 100%), not 200%", "200%")


def test_where_probability_out_of_range(workdir):
    source = HEADER + cap(
        '  dir "a" {\n    from reviews\n    perturb typos\n    where original.confidence < 90\n'
        "    expect prob(positive) increasing\n  }\n"
    )
    assert_at(
        check_errors(source),
        source,
        "a probability must be between 0 and 1 (or 0% and 100%), not 90",
        "90",
        hint="write 0.9 or 90%",
    )


def test_fairness_metric_out_of_range(workdir):
    source = HEADER + cap(
        '  fairness "a" {\n    template "{city}"\n    by city\n    metric mean prob(positive)\n'
        "    expect min_ratio >= 80\n  }\n"
    )
    assert_at(
        check_errors(source), source, "min_ratio must be between 0 and 1 (or 0% and 100%), not 80", "80", hint="write 0.8 or 80%"
    )


@pytest.mark.parametrize(
    "statement, message, needle",
    [
        ("sample 0", "sample size must be a whole number >= 1, not 0", "0"),
        ("sample 2.5", "sample size must be a whole number >= 1, not 2.5", "2.5"),
        ("sample 10 seed 1.5", "seed must be a whole number >= 0, not 1.5", "1.5"),
        ("sample 10 seed -1", "seed must be a whole number >= 0, not -1", "-1"),
    ],
)
def test_sample_numbers(workdir, statement, message, needle):
    source = HEADER + cap(f'  mft "a" {{\n    template "x" -> positive\n    {statement}\n  }}\n')
    assert_at(check_errors(source), source, message, needle, after="sample")


def test_variants_zero(workdir):
    source = HEADER + cap('  inv "a" {\n    from reviews\n    perturb typos variants 0\n  }\n')
    assert_at(check_errors(source), source, "variants must be a whole number >= 1, not 0", "0", after="variants")


@pytest.mark.parametrize("seed", ["1.5", "-1"])
def test_spec_seed_not_a_whole_number(workdir, seed):
    source = HEADER.replace('spec "t"', f'spec "t" seed {seed}') + cap(GOOD_TEST)
    (text,) = check_errors(source)
    assert_at(text, source, f"seed must be a whole number >= 0, not {seed}", seed)


@pytest.mark.parametrize(
    "kind, statement, article, hint",
    [
        ("mft", "perturb typos", "an", "`perturb` belongs in inv or dir tests"),
        ("mft", "swap pos_adj", "an", "`swap` belongs in inv or dir tests"),
        ("mft", "by pos_adj", "an", "`by` belongs in fairness tests"),
        ("mft", "metric positive_rate", "an", "`metric` belongs in fairness tests"),
        ("mft", "where original.label == positive", "an", "`where original` belongs in inv or dir tests; to keep the dataset rows of a label, write `where expected == LABEL`"),
        ("inv", "positive positive", "an", "`positive` belongs in metrics or fairness tests"),
        ("inv", "by pos_adj", "an", "`by` belongs in fairness tests"),
        ("dir", "metric mean prob(positive)", "a", "`metric` belongs in fairness tests"),
        ("fairness", "max_fail_rate 5%", "a", "`max_fail_rate` belongs in mft or inv or dir tests"),
        ("fairness", "perturb typos", "a", "`perturb` belongs in inv or dir tests"),
    ],
)
def test_statement_not_allowed_in_kind(workdir, kind, statement, article, hint):
    extra = {
        "mft": "    expect label == positive\n",
        "inv": "    perturb typos\n",
        "dir": "    perturb typos\n    expect prob(positive) not decreasing\n",
        "fairness": "    by pos_adj\n    metric mean prob(positive)\n    expect max_gap <= 0.1\n",
    }[kind]
    source = HEADER + cap(f'  {kind} "a" {{\n    template "The {{pos_adj}} {{thing}}"\n{extra}    {statement}\n  }}\n')
    keyword = "where original" if statement.startswith("where original") else statement.split()[0]
    (text,) = check_errors(source)
    # the caret spans the whole statement, from its keyword
    message = f"`{keyword}` is not allowed in {article} {kind} test"
    assert_at(text, source, message, statement, after=f"    {statement}\n", hint=hint)


def test_inv_without_perturb_or_swap(workdir):
    source = HEADER + cap('  inv "one typo" {\n    from reviews\n    expect unchanged\n  }\n')
    assert_at(
        check_errors(source),
        source,
        'inv test "one typo" changes nothing',
        '"one typo"',
        hint="add `perturb ...` or `swap LEXICON`",
    )


def test_dir_without_perturb_or_expectation(workdir):
    source = HEADER + cap('  dir "d" {\n    from reviews\n  }\n')
    rendered = check_errors(source)
    assert len(rendered) == 2
    assert_at(rendered, source, 'dir test "d" changes nothing', '"d"', hint="add `perturb ...` or `swap LEXICON`")
    assert_at(
        rendered,
        source,
        'dir test "d" has no expectation',
        '"d"',
        hint="for example `expect prob(positive) not decreasing tolerance 0.1`",
    )


def test_mft_without_expectation_and_labels(workdir):
    source = HEADER + cap('  mft "bare" {\n    template "The {thing}."\n  }\n')
    assert_at(
        check_errors(source),
        source,
        'mft test "bare" has no expectation',
        '"bare"',
        hint="add `expect label == LABEL`, or `-> LABEL` to each template",
    )


def test_mft_with_labels_on_every_template_needs_no_expectation(workdir):
    source = HEADER + cap('  mft "a" {\n    template "good" -> positive\n    template "bad" -> negative\n  }\n')
    Path(PATH).write_text(source, encoding="utf-8")
    (test,) = check(parse(source, PATH)).tests
    assert (test.title, test.kind, test.decl.expects) == ("a", "mft", [])


def test_mft_label_expected_without_labels(workdir):
    source = HEADER + cap('  mft "a" {\n    template "good" -> positive\n    template "bad"\n    expect label == expected\n  }\n')
    assert_at(
        check_errors(source),
        source,
        "`label == expected` needs a label on every case",
        "label == expected",
        hint="add `-> LABEL` to each template, or use a dataset with a label column",
    )


@pytest.mark.parametrize(
    "kind, expectation, message, hint",
    [
        ("mft", "unchanged", "an mft test expects a label, a probability or a value", "for example `expect label == positive`"),
        ("mft", "max_gap <= 0.1", "an mft test expects a label, a probability or a value", "for example `expect label == positive`"),
        ("mft", "mae <= 50", "`mae` is a figure of a whole dataset: it belongs in a metrics test", 'write `metrics "..." { from DATASET; expect mae ... }`'),
        ("inv", "label == positive", "an inv test expects `unchanged`", "use a dir test for directional expectations"),
        ("dir", "unchanged", "`unchanged` belongs in an inv test", None),
        ("dir", "label == expected", "a dir test expects a direction, a label or a probability of the variants", None),
    ],
)
def test_wrong_expectation_for_kind(workdir, kind, expectation, message, hint):
    perturb = "    perturb typos\n" if kind != "mft" else ""
    source = HEADER + cap(f'  {kind} "a" {{\n    from reviews\n{perturb}    expect {expectation}\n  }}\n')
    assert_at(check_errors(source), source, message, expectation, hint=hint)


def test_inv_with_two_expectations(workdir):
    source = HEADER + cap(
        '  inv "a" {\n    from reviews\n    perturb typos\n    expect unchanged\n    expect unchanged tolerance 0.1\n  }\n'
    )
    assert_at(check_errors(source), source, "an inv test has one `expect unchanged`", "unchanged tolerance 0.1")


def test_templates_and_from_together(workdir):
    source = HEADER + cap('  mft "a" {\n    template "x" -> positive\n    from reviews\n  }\n')
    rendered = check_errors(source)
    assert_at(
        rendered,
        source,
        "a test takes its cases from templates or from a dataset, not both",
        "reviews",
        after="from ",
        hint="split it into two tests",
    )


def test_test_with_no_cases(workdir):
    source = HEADER + cap('  mft "empty" {\n    expect label == positive\n  }\n')
    rendered = check_errors(source)
    assert len(rendered) == 1
    assert_at(rendered, source, 'mft test "empty" has no cases', '"empty"', hint='add a `template "..."` or `from DATASET`')


def test_several_models_without_on(workdir):
    source = HEADER + 'model other {\n  onnx "o.onnx"\n  input text\n  output logits labels [negative, positive]\n}\n' + cap(GOOD_TEST)
    rendered = check_errors(source)
    assert len(rendered) == 1
    assert_at(
        rendered,
        source,
        "this spec declares several models (m, other); say which this test runs on",
        '"good"',
        after="mft ",
        hint="add `on m, other` after the title",
    )


def test_several_models_with_on_check(workdir):
    source = HEADER + 'model other {\n  onnx "o.onnx"\n  input text\n  output logits labels [negative, positive]\n}\n'
    source += cap(GOOD_TEST.replace('"good"', '"good" on m, other'))
    Path(PATH).write_text(source, encoding="utf-8")
    assert check(parse(source, PATH)).tests[0].models == ("m", "other")


def test_no_model(workdir):
    source = cap(GOOD_TEST.replace("{thing} was {pos_adj}", "{city}"))
    assert_at(check_errors(source), source, "this spec declares no model to test", '"good"', hint="add a `model NAME { ... }` block")


OTHER_MODEL = 'model other {\n  onnx "o.onnx"\n  input text\n  output logits labels [LABELS]\n}\n'


def test_models_sharing_no_labels(workdir):
    source = (
        HEADER
        + OTHER_MODEL.replace("LABELS", "neg, pos")
        + cap(GOOD_TEST.replace('"good"', '"good" on m, other'), '  mft "b" on m {\n    template "x" -> postive\n  }\n')
    )
    rendered = check_errors(source)
    # one error at the first model named; the labels of that test are not checked (no `unknown label
    # `positive``), those of other tests still are
    assert len(rendered) == 2, "\n".join(rendered)
    assert_at(
        rendered,
        source,
        "the models of this test share no label",
        "m",
        after='"good" on ',
        hint="a test runs on models with the same labels",
    )
    assert_at(rendered, source, "unknown label `postive`", "postive", hint="did you mean `positive`?")


def test_label_unknown_to_one_of_two_models(workdir):
    source = HEADER + OTHER_MODEL.replace("LABELS", "negative, pos") + cap(GOOD_TEST.replace('"good"', '"good" on m, other'))
    (text,) = check_errors(source)
    assert_at(text, source, "unknown label `positive`", "positive", after="expect label == ", hint="labels are negative")


def test_swap_of_lexicon_not_in_template(workdir):
    source = HEADER + cap(
        '  inv "a" {\n    template "The {thing} was {pos_adj}."\n    swap first_name\n    expect unchanged\n  }\n'
    )
    assert_at(check_errors(source), source, "template has no `{first_name}` to swap", '"The {thing} was {pos_adj}."')


def test_swap_of_unknown_lexicon(workdir):
    source = HEADER + cap('  inv "a" {\n    template "The {thing} was {pos_adj}."\n    swap pos_adjs\n  }\n')
    assert_at(check_errors(source), source, "unknown lexicon `pos_adjs`", "pos_adjs", after="swap", hint="did you mean `pos_adj`?")


def test_swap_with_from(workdir):
    source = HEADER + cap('  inv "a" {\n    from reviews\n    swap pos_adj\n  }\n')
    rendered = check_errors(source)
    assert len(rendered) == 1
    assert_at(
        rendered, source, "`swap` works on templates", "pos_adj", after="swap", hint="for dataset texts write `perturb swap(pos_adj)`"
    )


def test_swap_of_lexicon_with_one_value(workdir):
    source = HEADER + 'lexicon one = ["x"]\n' + cap('  inv "a" {\n    template "The {one} was {pos_adj}."\n    swap one\n  }\n')
    (text,) = check_errors(source)
    assert_at(text, source, "`swap one` needs a lexicon of at least two values", "one", after="swap ")


def test_swap_and_perturb_together(workdir):
    source = HEADER + cap(
        '  inv "a" {\n    template "The {thing} was {pos_adj}."\n    swap pos_adj\n    perturb typos\n    expect unchanged\n  }\n'
    )
    (text,) = check_errors(source)
    assert_at(
        text,
        source,
        "a test makes its variants with `swap` or with `perturb`, not both",
        "pos_adj",
        after="swap ",
        hint="split it into two tests",
    )


def test_fairness_without_metric(workdir):
    source = HEADER + cap('  fairness "parity" {\n    template "A {nationality} {thing}."\n    by nationality\n    expect max_gap <= 0.1\n  }\n')
    rendered = check_errors(source)
    assert len(rendered) == 1
    assert_at(
        rendered,
        source,
        'fairness test "parity" needs a `metric`',
        '"parity"',
        hint="`metric mean prob(LABEL)` or `metric positive_rate`",
    )


@pytest.mark.parametrize("expectation", ["label == positive", "prob(positive) >= 0.5", "unchanged", "mean_gap <= 0.1"])
def test_fairness_with_wrong_expectation(workdir, expectation):
    source = HEADER + cap(
        f'  fairness "p" {{\n    template "A {{nationality}} {{thing}}."\n    by nationality\n'
        f"    metric mean prob(positive)\n    expect {expectation}\n  }}\n"
    )
    assert_at(check_errors(source), source, "a fairness test expects `max_gap <= x` or `min_ratio >= x`", expectation)


@pytest.mark.parametrize("expectation", ["max_gap >= 0.1", "min_ratio <= 0.8", "max_gap < 0.1", "min_ratio > 0.8"])
def test_fairness_metric_with_wrong_direction(workdir, expectation):
    # `expect max_gap >= 0.1` would pass only when the groups differ
    source = HEADER + cap(
        f'  fairness "p" {{\n    template "A {{nationality}} {{thing}}."\n    by nationality\n'
        f"    metric mean prob(positive)\n    expect {expectation}\n  }}\n"
    )
    (text,) = check_errors(source)
    assert_at(text, source, "a fairness test expects `max_gap <= x` or `min_ratio >= x`", expectation)


def test_fairness_without_expectation(workdir):
    source = HEADER + cap('  fairness "p" {\n    template "A {nationality} {thing}."\n    by nationality\n    metric mean confidence\n  }\n')
    assert_at(check_errors(source), source, 'fairness test "p" has no expectation', '"p"', hint="for example `expect max_gap <= 0.1`")


def test_fairness_without_by(workdir):
    source = HEADER + cap('  fairness "p" {\n    template "A {nationality} {thing}."\n    metric mean confidence\n    expect max_gap <= 0.1\n  }\n')
    assert_at(check_errors(source), source, "a fairness test over templates groups cases `by` one lexicon", '"p"')


def test_fairness_by_two_names(workdir):
    source = HEADER + cap(
        '  fairness "p" {\n    template "A {nationality} {thing}."\n    by nationality, thing\n'
        "    metric mean confidence\n    expect max_gap <= 0.1\n  }\n"
    )
    assert_at(check_errors(source), source, "a fairness test over templates groups cases `by` one lexicon", "thing", after="by ")


def test_fairness_by_placeholder_not_in_template(workdir):
    source = HEADER + cap(
        '  fairness "p" {\n    template "A {nationality} {thing}."\n    template "A {thing}."\n    by nationality\n'
        "    metric mean confidence\n    expect max_gap <= 0.1\n  }\n"
    )
    assert_at(check_errors(source), source, "template has no `{nationality}` to group by", '"A {thing}."')


def test_positive_rate_without_positive(workdir):
    source = HEADER + cap(
        '  fairness "p" {\n    template "A {nationality} {thing}."\n    by nationality\n    metric positive_rate\n'
        "    expect min_ratio >= 0.8\n  }\n"
    )
    rendered = check_errors(source)
    assert len(rendered) == 1
    assert_at(rendered, source, "`metric positive_rate` needs `positive LABEL`", "metric positive_rate")


def test_lexicon_file_missing(workdir):
    source = HEADER + 'lexicon extra = file "lexicons/extra.txt"\n'
    (text,) = check_errors(source)
    assert_at(
        text,
        source,
        "lexicon file not found: lexicons/extra.txt",
        '"lexicons/extra.txt"',
        hint="paths are relative to the spec file; this one is lexicons/extra.txt",
    )


def test_lexicon_file_missing_names_spec_directory(workdir):
    (workdir / "sub").mkdir()
    source = 'lexicon extra = file "extra.txt"\n'
    path = "sub/t.mlspec"
    Path(path).write_text(source, encoding="utf-8")
    with pytest.raises(MlspecError) as info:
        check(parse(source, path))
    (text,) = rendered_of(info.value)
    assert text.splitlines() == [
        "sub/t.mlspec:1:22: error: lexicon file not found: extra.txt",
        '    1 | lexicon extra = file "extra.txt"',
        "      |                      ^^^^^^^^^^^",
        "hint: paths are relative to the spec file; this one is sub/extra.txt",
    ]


def test_lexicon_file_is_a_directory(workdir):
    (workdir / "adir").mkdir()
    source = HEADER + 'lexicon extra = file "adir"\n'
    (text,) = check_errors(source)
    assert_at(
        text, source, "lexicon file is a directory: adir", '"adir"', hint="paths are relative to the spec file; this one is adir"
    )


def test_empty_lexicon_list(workdir):
    source = HEADER + "lexicon nothing = []\n"
    assert_at(check_errors(source), source, "lexicon `nothing` is empty", "lexicon nothing = []")


def test_empty_lexicon_file(workdir):
    (workdir / "blank.txt").write_text("# only a comment\n\n   \n", encoding="utf-8")
    source = HEADER + 'lexicon blank = file "blank.txt"\n'
    assert_at(check_errors(source), source, "lexicon `blank` is empty", 'lexicon blank = file "blank.txt"')


def test_lexicon_repeats_a_value(workdir):
    source = HEADER + 'lexicon twice = ["a", "b", "a"]\n'
    assert_at(check_errors(source), source, "lexicon `twice` repeats a value", 'lexicon twice = ["a", "b", "a"]', hint="each value once")


def test_lexicon_file_not_utf8(workdir):
    (workdir / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    source = HEADER + 'lexicon words = file "latin1.txt"\n'
    (text,) = check_errors(source)
    assert_at(text, source, "lexicon file latin1.txt is not UTF-8 text (byte 3)", '"latin1.txt"')


def test_all_errors_of_a_file_at_once(workdir):
    source = HEADER + cap(
        '  mft "a" {\n    template "The {thing} was {pos_adjs}."\n    expect label == positve\n    max_fail_rate 5\n  }\n',
        '  inv "b" {\n    from reviewz\n    perturb typos(cout: 1)\n  }\n',
    )
    rendered = check_errors(source)
    assert len(rendered) == 5, "\n".join(rendered)
    assert_at(rendered, source, "template placeholder `{pos_adjs}` names no lexicon", "{pos_adjs}", hint="did you mean `pos_adj`?")
    assert_at(rendered, source, "unknown label `positve`", "positve", hint="did you mean `positive`?")
    assert_at(
        rendered,
        source,
        "max_fail_rate must be between 0 and 1 (or 0% and 100%), not 5",
        "5",
        after="max_fail_rate",
        hint="write 0.05 or 5%",
    )
    assert_at(rendered, source, "unknown dataset `reviewz`", "reviewz", hint="did you mean `reviews`?")
    assert_at(rendered, source, "`typos` has no parameter `cout`", "cout: 1", hint="did you mean `count`?")
    # in source order
    positions = [tuple(map(int, r.split(":")[1:3])) for r in rendered]
    assert positions == sorted(positions)


def test_declaration_and_test_errors_together(workdir):
    source = HEADER + "lexicon nothing = []\n" + cap(BAD_FROM)
    rendered = check_errors(source)
    assert len(rendered) == 2
    assert_at(rendered, source, "lexicon `nothing` is empty", "lexicon nothing = []")
    assert_at(rendered, source, "unknown dataset `reviewz`", "reviewz", hint="did you mean `reviews`?")


def test_check_model_paths_unknown_name(workdir):
    source = HEADER + cap(GOOD_TEST)
    Path(PATH).write_text(source, encoding="utf-8")
    with pytest.raises(MlspecError) as info:
        check(parse(source, PATH), {"mm": "x.onnx"})
    (text,) = rendered_of(info.value)
    assert text == "error: --model names `mm`, which this spec does not declare\nhint: did you mean `m`?"


def test_check_model_paths_unknown_name_lists_models(workdir):
    source = HEADER + 'model other {\n  onnx "o.onnx"\n  input text\n  output logits labels [negative, positive]\n}\n'
    source += cap(GOOD_TEST.replace('"good"', '"good" on m, other'))
    Path(PATH).write_text(source, encoding="utf-8")
    with pytest.raises(MlspecError) as info:
        check(parse(source, PATH), {"zzz": "x.onnx"})
    (text,) = rendered_of(info.value)
    assert text == "error: --model names `zzz`, which this spec does not declare\nhint: this spec declares `m`, `other`"


# ================================================================= command line


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out, captured.err


BROKEN = 'spec "b"\nmodle m {\n}\n'


def test_cli_check_broken_file(workdir, capsys):
    Path("broken.mlspec").write_text(BROKEN, encoding="utf-8")
    code, out, err = run_cli(capsys, "check", "broken.mlspec")
    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        "broken.mlspec:2:1: error: unexpected `modle`; expected `capability`, `dataset`, `import`, `lexicon`, `model`, `seed` or `spec`",
        "    2 | modle m {",
        "      | ^^^^^",
        "hint: did you mean `model`?",
    ]


def test_cli_check_checker_errors_counted(workdir, capsys):
    source = HEADER + cap(BAD_FROM, '  mft "b" {\n    template "{x}" -> positve\n  }\n')
    Path("bad.mlspec").write_text(source, encoding="utf-8")
    code, out, err = run_cli(capsys, "check", "bad.mlspec")
    assert code == 2
    assert "bad.mlspec:12:10: error: unknown dataset `reviewz`" in err
    assert "error: template placeholder `{x}` names no lexicon" in err
    assert "error: unknown label `positve`" in err
    assert err.count(": error: ") == 3


def test_cli_check_counts_the_errors(workdir, capsys):
    source = HEADER + cap(BAD_FROM, '  mft "b" {\n    template "{x}" -> positve\n  }\n')
    Path("bad.mlspec").write_text(source, encoding="utf-8")
    code, out, err = run_cli(capsys, "check", "bad.mlspec")
    assert err.rstrip().endswith("3 errors")


def test_cli_check_two_files(workdir, capsys):
    Path("one.mlspec").write_text(BROKEN, encoding="utf-8")
    Path("two.mlspec").write_text(HEADER + cap(BAD_FROM), encoding="utf-8")
    code, out, err = run_cli(capsys, "check", "one.mlspec", "two.mlspec")
    assert code == 2
    assert "one.mlspec:2:1: error: unexpected `modle`" in err
    assert "two.mlspec:12:10: error: unknown dataset `reviewz`" in err
    assert err.index("one.mlspec") < err.index("two.mlspec")


def test_cli_check_demo_spec(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, err = run_cli(capsys, "check", "specs/sentiment/sentiment.mlspec")
    assert code == 0, err
    assert err == ""
    assert out.startswith("ok: specs/sentiment/sentiment.mlspec")


def test_cli_check_says_how_many_tests_and_cases(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    from mlspec.run.pipeline import plan_file

    plan = plan_file("specs/sentiment/sentiment.mlspec")[1]
    code, out, err = run_cli(capsys, "check", "specs/sentiment/sentiment.mlspec")
    cases = sum(t.n_cases for t in plan.tests)
    assert len(plan.tests) == 25
    assert out.splitlines() == [f"ok: specs/sentiment/sentiment.mlspec (25 tests, {cases} cases)"]


def test_cli_check_reports_broken_file_and_passes_good_one(capsys, workdir):
    Path("one.mlspec").write_text(BROKEN, encoding="utf-8")
    from mlspec.run.pipeline import plan_file

    code, out, err = run_cli(capsys, "check", "one.mlspec", str(DEMO))
    assert code == 2
    cases = sum(t.n_cases for t in plan_file(str(DEMO))[1].tests)
    assert out.splitlines() == [f"ok: {DEMO} (25 tests, {cases} cases)"]
    assert "one.mlspec:2:1: error:" in err


def test_cli_check_model_file_missing(workdir, capsys):
    Path("t.mlspec").write_text(HEADER + cap(GOOD_TEST), encoding="utf-8")
    code, out, err = run_cli(capsys, "check", "t.mlspec")
    assert code == 2
    assert err.startswith("t.mlspec:3:8: error: file not found: m.onnx (looked in .)")
    assert '    3 |   onnx "m.onnx"' in err


DEMO_MODEL = DEMO.parent / "model" / "sentiment.onnx"


def three_label_spec() -> str:
    model = f'model sentiment {{\n  onnx "{DEMO_MODEL.as_posix()}"\n  input text\n  output probabilities labels [negative, neutral, positive]\n}}\n'
    return 'spec "x"\n' + model + cap('  mft "a" {\n    template "good" -> positive\n  }\n')


def test_cli_check_model_output_width_differs_from_labels(workdir, capsys):
    # `check` scores one probe input, so a model with 2 outputs declared with 3 labels is caught now
    Path("three.mlspec").write_text(three_label_spec(), encoding="utf-8")
    code, out, err = run_cli(capsys, "check", "three.mlspec")
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith("three.mlspec:2:1: error: model `sentiment` ")
    assert lines[0].endswith("returns 2 scores per input, but the spec declares 3 labels (negative, neutral, positive)")
    assert lines[1:] == ["    2 | model sentiment {", "      | " + "^" * len("model sentiment {")]


def test_cli_check_model_output_width_names_the_model_once(workdir, capsys):
    Path("three.mlspec").write_text(three_label_spec(), encoding="utf-8")
    code, out, err = run_cli(capsys, "check", "three.mlspec")
    head = err.splitlines()[0]
    assert head.count("`sentiment`") == 1, head


def test_cli_check_missing_file(workdir, capsys):
    code, out, err = run_cli(capsys, "check", "nope.mlspec")
    assert code == 2
    assert err.strip() == "error: no such spec file: nope.mlspec"


def test_cli_check_directory(workdir, capsys):
    code, out, err = run_cli(capsys, "check", ".")
    assert code == 2
    assert err.strip() == "error: . is a directory; name .mlspec files"


def test_cli_check_not_utf8(workdir, capsys):
    Path("latin.mlspec").write_bytes(b'spec "caf\xe9"\n')
    code, out, err = run_cli(capsys, "check", "latin.mlspec")
    assert code == 2
    assert err.strip() == "error: latin.mlspec is not UTF-8 text (byte 9)"


def test_cli_run_missing_file(workdir, capsys):
    code, out, err = run_cli(capsys, "run", "nope.mlspec")
    assert code == 2
    assert err.strip() == "error: no such spec file: nope.mlspec"
    assert out == ""


def test_cli_plan_missing_file(workdir, capsys):
    code, out, err = run_cli(capsys, "plan", "nope.mlspec")
    assert code == 2
    assert err.strip() == "error: no such spec file: nope.mlspec"


@pytest.mark.parametrize("pair", ["sentiment", "=x.onnx", "sentiment=", "sentiment:x.onnx"])
def test_cli_model_option_bad_form(workdir, capsys, pair):
    code, out, err = run_cli(capsys, "run", str(DEMO), "--model", pair)
    assert code == 2
    assert err.strip() == f"error: --model takes NAME=PATH, not {pair!r}"
    assert out == ""


def test_cli_model_option_missing_file(workdir, capsys):
    code, out, err = run_cli(capsys, "run", str(DEMO), "--model", "sentiment=nothere.onnx")
    assert code == 2
    assert err.strip() == "error: --model sentiment: no such file: nothere.onnx"


def test_cli_model_option_unknown_name_close_to_one(workdir, capsys):
    Path("cand.onnx").write_bytes(b"")
    code, out, err = run_cli(capsys, "plan", str(DEMO), "--model", "sentimnt=cand.onnx")
    assert code == 2
    assert err.splitlines() == [
        "error: --model names `sentimnt`, which this spec does not declare",
        "hint: did you mean `sentiment`?",
    ]
    assert out == ""


@pytest.mark.parametrize("command", ["run", "plan"])
def test_cli_model_option_unknown_name_has_hint(workdir, capsys, command):
    Path("cand.onnx").write_bytes(b"")
    code, out, err = run_cli(capsys, command, str(DEMO), "--model", "unknown=cand.onnx")
    assert code == 2
    assert err.splitlines() == [
        "error: --model names `unknown`, which this spec does not declare",
        "hint: this spec declares `sentiment`",
    ]
    assert out == ""


def test_cli_run_reports_errors_of_every_file(workdir, capsys):
    Path("one.mlspec").write_text(BROKEN, encoding="utf-8")
    Path("two.mlspec").write_text(HEADER + cap(BAD_FROM), encoding="utf-8")
    code, out, err = run_cli(capsys, "run", "one.mlspec", "two.mlspec")
    assert code == 2
    assert "one.mlspec:2:1: error: unexpected `modle`" in err
    assert "two.mlspec:12:10: error: unknown dataset `reviewz`" in err
    assert err.rstrip().endswith("2 errors")


# ================================================================= data files (compile stage)

DATA_HEADER = """model m {
  onnx "m.onnx"
  input text
  output probabilities labels [negative, positive]
}
"""


def data_spec(declaration: str, kind: str = "inv") -> str:
    statements = "    perturb typos\n" if kind == "inv" else ""
    return DATA_HEADER + declaration + "\n" + cap(f'  {kind} "uses data" {{\n    from d\n{statements}  }}\n')


def check_data(capsys, source: str) -> str:
    Path("data.mlspec").write_text(source, encoding="utf-8")
    code, out, err = run_cli(capsys, "check", "data.mlspec")
    assert code == 2, out + err
    assert out == ""
    return err


def test_data_file_missing(workdir, capsys):
    err = check_data(capsys, data_spec('dataset d = csv "data/nothere.csv"'))
    assert err.splitlines() == [
        "data.mlspec:6:1: error: dataset `d`: file not found: data/nothere.csv",
        '    6 | dataset d = csv "data/nothere.csv"',
        "      | " + "^" * len('dataset d = csv "data/nothere.csv"'),
        "hint: paths are relative to the spec file",
    ]


def test_data_csv_without_text_column(workdir, capsys):
    (workdir / "d.csv").write_text("body,stars,label\ngood,5,positive\n", encoding="utf-8")
    err = check_data(capsys, data_spec('dataset d = csv "d.csv"'))
    assert "error: dataset `d`: d.csv: no column `text`" in err
    assert "columns are body, label, stars" in err
    assert '    6 | dataset d = csv "d.csv"' in err


def test_data_csv_without_mapped_text_column(workdir, capsys):
    (workdir / "d.csv").write_text("text,label\ngood,positive\n", encoding="utf-8")
    err = check_data(capsys, data_spec('dataset d = csv "d.csv" { text: review }'))
    assert "error: dataset `d`: d.csv: no column `review`" in err
    assert "columns are label, text" in err


def test_data_malformed_jsonl(workdir, capsys):
    (workdir / "d.jsonl").write_text('{"text": "good", "label": "positive"}\n\n{"text": bad}\n', encoding="utf-8")
    err = check_data(capsys, data_spec('dataset d = jsonl "d.jsonl"'))
    assert "error: dataset `d`: d.jsonl: line 3: not valid JSON (Expecting value, column 10)" in err


def test_data_jsonl_line_not_an_object(workdir, capsys):
    (workdir / "d.jsonl").write_text('{"text": "good"}\n["a list"]\n', encoding="utf-8")
    err = check_data(capsys, data_spec('dataset d = jsonl "d.jsonl"'))
    assert "error: dataset `d`: d.jsonl: line 2: expected a JSON object, found list" in err


def test_data_jsonl_missing_text_on_a_line(workdir, capsys):
    (workdir / "d.jsonl").write_text('{"text": "good"}\n{"txt": "bad"}\n', encoding="utf-8")
    err = check_data(capsys, data_spec('dataset d = jsonl "d.jsonl"'))
    assert "error: dataset `d`: d.jsonl: line 2: `text` is missing" in err


def test_data_csv_empty_and_header_only(workdir, capsys):
    (workdir / "d.csv").write_text("", encoding="utf-8")
    err = check_data(capsys, data_spec('dataset d = csv "d.csv"'))
    assert "error: dataset `d`: d.csv: no header row" in err
    (workdir / "d.csv").write_text("text,label\n", encoding="utf-8")
    err = check_data(capsys, data_spec('dataset d = csv "d.csv"'))
    assert "error: dataset `d`: d.csv: has no rows" in err


def test_data_not_utf8(workdir, capsys):
    (workdir / "d.csv").write_bytes("text\ncaf\xe9\n".encode("latin-1"))
    err = check_data(capsys, data_spec('dataset d = csv "d.csv"'))
    assert "error: dataset `d`: d.csv is not UTF-8 text (invalid continuation byte at byte 8)" in err


def test_data_labels_unknown_to_model(workdir, capsys):
    (workdir / "d.csv").write_text("text,label\ngood film,pos\nbad film,neg\nok,positive\n", encoding="utf-8")
    err = check_data(capsys, data_spec('dataset d = csv "d.csv"', kind="mft"))
    assert "error: dataset `d` has labels the model does not know: 'neg', 'pos'" in err
    assert "hint: model labels are negative, positive" in err


def test_data_labels_of_mapped_column_as_indices(workdir, capsys):
    # whole-number labels that are not label names are label indices: "1" is `positive`
    (workdir / "d.csv").write_text("text,gold\ngood film,1\nbad film,0\n", encoding="utf-8")
    source = data_spec('dataset d = csv "d.csv" { label: gold }', kind="mft")
    err = check_data(capsys, source)
    assert "error: dataset" not in err  # only the (absent) model file is reported
    assert err.startswith("data.mlspec:2:8: error: file not found: m.onnx (looked in .)")
    from mlspec.run.pipeline import plan_file

    _, plan = plan_file("data.mlspec")
    (test,) = plan.tests
    assert [test.expected_labels[e] for e in test.expected] == ["positive", "negative"]


@pytest.mark.parametrize(
    "values, shown",
    [(["1", "2"], "'1', '2'"), (["1", "positive"], "'1'"), (["-1", "0"], "'-1', '0'")],
)
def test_data_labels_of_mapped_column_not_indices(workdir, capsys, values, shown):
    # an index out of range, or numbers mixed with names, are not read as indices
    rows = "".join(f"film {i},{v}\n" for i, v in enumerate(values))
    (workdir / "d.csv").write_text("text,gold\n" + rows, encoding="utf-8")
    err = check_data(capsys, data_spec('dataset d = csv "d.csv" { label: gold }', kind="mft"))
    assert f"error: dataset `d` has labels the model does not know: {shown}" in err


def test_data_error_is_rendered_once(workdir, capsys):
    (workdir / "d.csv").write_text("body,label\ngood,positive\n", encoding="utf-8")
    err = check_data(capsys, data_spec('dataset d = csv "d.csv"'))
    assert err.splitlines() == [
        "data.mlspec:6:1: error: dataset `d`: d.csv: no column `text`",
        '    6 | dataset d = csv "d.csv"',
        "      | " + "^" * len('dataset d = csv "d.csv"'),
        "hint: columns are body, label",
    ]


def test_broken_data_file_used_by_several_tests_is_reported_once(workdir, capsys):
    (workdir / "d.csv").write_text("body,label\ngood,positive\n", encoding="utf-8")
    test = '  inv "TITLE" {\n    from d\n    perturb typos\n  }\n'
    source = DATA_HEADER + 'dataset d = csv "d.csv"\n' + cap(test.replace("TITLE", "one"), test.replace("TITLE", "two"))
    err = check_data(capsys, source)
    assert err.count("error:") == 1, err
    assert err.startswith("data.mlspec:6:1: error: dataset `d`: d.csv: no column `text`\n")


def test_data_path_is_a_directory(workdir, capsys):
    (workdir / "adir").mkdir()
    err = check_data(capsys, data_spec('dataset d = csv "adir"'))
    assert err.splitlines() == [
        "data.mlspec:6:1: error: dataset `d`: adir is a directory, not a data file",
        '    6 | dataset d = csv "adir"',
        "      | " + "^" * len('dataset d = csv "adir"'),
    ]


def test_mft_from_dataset_without_label_column(workdir, capsys):
    # `label == expected` (the mft default) needs a label on every case; the file is read at compile time
    (workdir / "d.csv").write_text("text\ngood film\n", encoding="utf-8")
    source = data_spec('dataset d = csv "d.csv"', kind="mft")
    Path(PATH).write_text(source, encoding="utf-8")
    check(parse(source, PATH))  # the checker cannot know the file's columns
    err = check_data(capsys, source)
    assert err.splitlines() == [
        "data.mlspec:8:7: error: dataset `d` has no label column `label`, so its cases have no expected label",
        '    8 |   mft "uses data" {',
        "      |       ^^^^^^^^^^^",
        "hint: name the label column (`{ text: ..., label: COLUMN }`) or say what to expect (`expect label == X`)",
    ]


def test_mft_from_dataset_without_mapped_label_column(workdir, capsys):
    (workdir / "d.csv").write_text("text,label\ngood film,positive\n", encoding="utf-8")
    err = check_data(capsys, data_spec('dataset d = csv "d.csv" { label: gold }', kind="mft"))
    # a label column the spec names must exist, whether or not a test needs labels
    assert err.startswith("data.mlspec:6:1: error: dataset `d`: d.csv: no column `gold`\n"), err
    assert "hint: columns are label, text" in err
    assert err.count("error:") == 1, err


def test_mft_from_dataset_without_label_column_with_expectation_checks(workdir, capsys):
    (workdir / "d.csv").write_text("text\ngood film\n", encoding="utf-8")
    source = data_spec('dataset d = csv "d.csv"', kind="mft").replace("    from d\n", "    from d\n    expect label == positive\n")
    Path("data.mlspec").write_text(source, encoding="utf-8")
    code, out, err = run_cli(capsys, "check", "data.mlspec")
    # the data is fine; only the (absent) model file is reported
    assert code == 2
    assert "error: dataset" not in err
    assert err.startswith("data.mlspec:2:8: error: file not found: m.onnx (looked in .)")


# ================================================================= token-id models

TOKEN_MODEL = 'model m {{\n  torch "m.pt"\n  input tokens {options}\n  output logits labels [negative, positive]\n}}\n'


def token_model(options: str) -> str:
    return TOKEN_MODEL.format(options=options)


@pytest.fixture
def vocab(workdir):
    (workdir / "vocab.txt").write_text("<pad>\n<unk>\ngood\nbad\n", encoding="utf-8")
    return workdir


def test_token_model_with_a_good_vocabulary_checks(vocab):
    source = token_model('vocabulary "vocab.txt" lowercase max_length 8')
    Path(PATH).write_text(source, encoding="utf-8")
    info = check(parse(source, PATH)).models["m"]
    assert info.format == "torch" and info.input_kind == "tokens" and info.gradients
    assert info.tokenizer.vocabulary == ("<pad>", "<unk>", "good", "bad")
    assert (info.tokenizer.padding_id, info.tokenizer.unknown_id, info.tokenizer.max_length) == (0, 1, 8)
    assert info.tokenizer.lowercase


def test_vocabulary_file_missing(vocab):
    source = token_model('vocabulary "nope.txt"')
    (text,) = check_errors(source)
    hint = "paths are relative to the spec file; this one is nope.txt"
    assert_at(text, source, "vocabulary file not found: nope.txt", '"nope.txt"', hint=hint)


VOCAB_HINT = "one token a line, UTF-8; line i (from 0) is token id i"


@pytest.mark.parametrize(
    "content, problem",
    [
        ("", "it is empty"),
        ("<pad>\n<unk>\nvery good\n", "line 3: 'very good' is not a token (empty or with spaces)"),
        ("<pad>\n\n<unk>\n", "line 2: '' is not a token (empty or with spaces)"),
        ("<pad>\n<unk> \n", "line 2: '<unk> ' is not a token (empty or with spaces)"),
        ("<pad>\n<unk>\ngood\nbad\ngood\n", "line 5: 'good' repeats line 3"),
    ],
    ids=["empty", "space-inside", "empty-line", "trailing-space", "duplicate"],
)
def test_malformed_vocabulary_file(vocab, content, problem):
    (vocab / "v.txt").write_text(content, encoding="utf-8")
    source = token_model('vocabulary "v.txt"')
    (text,) = check_errors(source)
    assert_at(text, source, f"vocabulary file v.txt: {problem}", '"v.txt"', hint=VOCAB_HINT)


def test_vocabulary_file_not_utf8(vocab):
    (vocab / "v.txt").write_bytes(b"<pad>\n<unk>\ncaf\xe9\n")
    source = token_model('vocabulary "v.txt"')
    (text,) = check_errors(source)
    assert_at(text, source, "vocabulary file v.txt cannot be read: UnicodeDecodeError", '"v.txt"', hint="one token a line, UTF-8")


@pytest.mark.parametrize(
    "options, option, token",
    [
        ('vocabulary "v.txt"', "unknown", "<unk>"),  # the default unknown token is absent
        ('vocabulary "v.txt" unknown "[UNK]"', "unknown", "[UNK]"),
        ('vocabulary "v.txt" unknown "good" padding "[PAD]"', "padding", "[PAD]"),
    ],
)
def test_special_token_absent_from_vocabulary(vocab, options, option, token):
    (vocab / "v.txt").write_text("<pad>\ngood\nbad\n", encoding="utf-8")
    source = token_model(options)
    (text,) = check_errors(source)
    hint = f"the vocabulary has no {token!r}; name the token it uses: `{option} \"...\"`"
    assert_at(text, source, f"tokenizer {option} token {token!r} is not in v.txt", '"v.txt"', hint=hint)


def test_special_tokens_named_by_the_spec(vocab):
    (vocab / "v.txt").write_text("[PAD]\n[UNK]\ngood\n", encoding="utf-8")
    source = token_model('vocabulary "v.txt" unknown "[UNK]" padding "[PAD]"')
    Path(PATH).write_text(source, encoding="utf-8")
    tokenizer = check(parse(source, PATH)).models["m"].tokenizer
    assert (tokenizer.unknown_id, tokenizer.padding_id, tokenizer.max_length, tokenizer.lowercase) == (1, 0, None, False)


def test_input_tokens_without_vocabulary(vocab):
    source = token_model("lowercase max_length 5")
    (text,) = check_errors(source)
    message = '`input tokens` needs a `vocabulary "file"` (one token a line; line i is id i)'
    assert_at(text, source, message, "input tokens lowercase max_length 5")


def test_token_max_length_zero(vocab):
    source = token_model('vocabulary "vocab.txt" max_length 0')
    (text,) = check_errors(source)
    assert_at(text, source, "max_length must be a whole number >= 1, not 0", "0", after="max_length")


# ================================================================= image models and attacks

IMAGE_MODEL = """model m {
  torch "m.pt"
  input image shape [1, 28, 28] range [0, 1]
  output logits labels ["0", "1", "2"]
}
"""
ONNX_IMAGE_MODEL = IMAGE_MODEL.replace("model m", "model o").replace('torch "m.pt"', 'onnx "o.onnx"')
TEXT_MODEL = """model t {
  onnx "t.onnx"
  input text
  output probabilities labels ["0", "1", "2"]
}
"""
IMAGES = 'dataset d = npz "d.npz" { input: x, label: y }\n'
IMAGE_HEADER = IMAGE_MODEL + IMAGES


def attack(method: str = "method fgsm(eps: 0.1)", expect: str = "expect robust_accuracy >= 0.5", on: str = "") -> str:
    body = "".join(f"    {line}\n" for line in ("from d", method, expect) if line)
    return f'  attack "a"{on} {{\n{body}  }}\n'


def image_inv(perturb: str) -> str:
    return f'  inv "i" {{\n    from d\n    perturb {perturb}\n  }}\n'


def test_image_spec_with_attacks_checks(workdir):
    source = IMAGE_HEADER + ONNX_IMAGE_MODEL + cap(
        attack("method pgd(eps: [0.05, 0.1], step: 0.01, steps: 5, norm: l2, random_start: true, restarts: 2)",
               "expect robust_accuracy >= 0.5 at eps 0.1", on=" on m"),
        attack("method square(eps: 0.1, queries: 50)", on=" on o").replace('"a"', '"b"'),
        image_inv("gaussian_noise(std: 0.1) then invert variants 2").replace('inv "i" {', 'inv "i" on m, o {'),
    )
    Path(PATH).write_text(source, encoding="utf-8")
    checked = check(parse(source, PATH))
    assert [t.models for t in checked.tests] == [("m",), ("o",), ("m", "o")]
    assert checked.models["m"].image.shape == (1, 28, 28) and checked.models["m"].gradients
    assert not checked.models["o"].gradients


@pytest.mark.parametrize("shape", ["[784]", "[1, 1, 28, 28]", "[]"])
def test_image_shape_of_wrong_rank(workdir, shape):
    source = IMAGE_MODEL.replace("[1, 28, 28]", shape)
    (text,) = check_errors(source)
    statement = f"input image shape {shape} range [0, 1]"
    assert_at(text, source, "an image shape is [height, width] or [channels, height, width]", statement)


def test_image_dimension_zero(workdir):
    source = IMAGE_MODEL.replace("[1, 28, 28]", "[1, 0, 28]")
    (text,) = check_errors(source)
    assert_at(text, source, "an image dimension must be a whole number >= 1, not 0", "0", after="shape")


@pytest.mark.parametrize("low, high", [("1", "1"), ("1", "0"), ("0.5", "-0.5")])
def test_image_range_low_not_below_high(workdir, low, high):
    source = IMAGE_MODEL.replace("range [0, 1]", f"range [{low}, {high}]")
    (text,) = check_errors(source)
    message = f"the range's low end must be below its high end, not [{low}, {high}]"
    assert_at(text, source, message, low, after="range [")


def test_image_shape_without_channels_and_other_range_check(workdir):
    source = IMAGE_MODEL.replace("[1, 28, 28] range [0, 1]", "[28, 28] range [-1, 1]")
    Path(PATH).write_text(source, encoding="utf-8")
    image = check(parse(source, PATH)).models["m"].image
    assert (image.shape, image.low, image.high) == ((28, 28), -1.0, 1.0)


@pytest.mark.parametrize("target", ["not a target", "module", "module:", ":function", "a.b:c.d", "1mod:f"])
def test_python_target_not_module_colon_function(workdir, target):
    source = f'model m {{\n  python "{target}"\n  input text\n  output logits labels [a, b]\n}}\n'
    (text,) = check_errors(source)
    assert_at(text, source, f'`python` takes "package.module:function", not {target!r}', f'"{target}"')


def test_python_target_checks(workdir):
    source = 'model m {\n  python "pkg.sub_mod:predict_2"\n  input text\n  output logits labels [a, b]\n}\n'
    Path(PATH).write_text(source, encoding="utf-8")
    info = check(parse(source, PATH)).models["m"]
    assert (info.format, info.target, info.path, info.gradients) == ("python", "pkg.sub_mod:predict_2", None, False)


def test_two_image_models_with_different_shapes(workdir):
    source = IMAGE_MODEL + ONNX_IMAGE_MODEL.replace("[1, 28, 28]", "[3, 32, 32]")
    (text,) = check_errors(source)
    assert text == (
        "t.mlspec:6:1: error: image models of one spec take one image shape, not [1, 28, 28] and [3, 32, 32]\n"
        "    6 | model o {\n"
        "      | ^^^^^^^^^\n"
        "hint: put models of other shapes in a spec of their own"
    )


def test_a_test_on_a_text_model_and_an_image_model(workdir):
    source = IMAGE_HEADER + TEXT_MODEL + cap('  mft "x" on m, t {\n    from d\n  }\n')
    (text,) = check_errors(source)
    hint = "split it: one test for each kind of model"
    assert_at(text, source, "a test runs on models that take the same kind of input", "m", after=" on ", hint=hint)


def test_templates_on_an_image_model(workdir):
    source = IMAGE_HEADER + cap('  mft "x" {\n    template "a seven" -> "2"\n  }\n')
    (text,) = check_errors(source)
    message = "templates make text; this test's models take images"
    assert_at(text, source, message, 'template "a seven" -> "2"', hint="take the cases `from` a dataset")


def test_image_attack_on_a_text_model(workdir):
    source = TEXT_MODEL + 'dataset d = csv "d.csv"\n' + cap(attack("method square(eps: 0.1)"))
    (text,) = check_errors(source)
    assert_at(text, source, "`square` attacks images; this test's models take text", "square", after="method ", hint="text methods are deepwordbug, textfooler")


def test_attack_without_method(workdir):
    source = IMAGE_HEADER + cap(attack(method=""))
    (text,) = check_errors(source)
    hint = "fgsm(eps: 0.1), pgd(eps: 0.1, step: 0.01, steps: 20) or square(eps: 0.1, queries: 500)"
    assert_at(text, source, 'attack test "a" needs a `method`', '"a"', hint=hint)


@pytest.mark.parametrize(
    "method, hint",
    [("pdg", "did you mean `pgd`?"), ("fgm", "did you mean `fgsm`?"), ("zzz", "methods are fgsm, pgd, square")],
)
def test_unknown_attack_method(workdir, method, hint):
    source = IMAGE_HEADER + cap(attack(f"method {method}(eps: 0.1)"))
    (text,) = check_errors(source)
    assert_at(text, source, f"unknown attack method `{method}`", method, after="method ", hint=hint)


def test_attack_without_from(workdir):
    source = IMAGE_HEADER + cap('  attack "a" {\n    method fgsm(eps: 0.1)\n    expect robust_accuracy >= 0.5\n  }\n')
    rendered = check_errors(source)
    assert_at(rendered, source, 'attack test "a" needs images `from` a dataset', '"a"')


def test_attack_without_from_is_reported_once(workdir):
    source = IMAGE_HEADER + cap('  attack "a" {\n    method fgsm(eps: 0.1)\n    expect robust_accuracy >= 0.5\n  }\n')
    rendered = check_errors(source)
    assert len(rendered) == 1, rendered
    assert_at(rendered, source, 'attack test "a" needs images `from` a dataset', '"a"')


def test_attack_without_expectation(workdir):
    source = IMAGE_HEADER + cap(attack(expect=""))
    (text,) = check_errors(source)
    assert_at(text, source, 'attack test "a" has no expectation', '"a"', hint="for example `expect robust_accuracy >= 0.6`")


@pytest.mark.parametrize(
    "expectation",
    ["accuracy >= 0.5", 'label == "0"', "max_gap <= 0.1", "unchanged", "confidence > 0.5"],
)
def test_attack_with_wrong_expectation(workdir, expectation):
    source = IMAGE_HEADER + cap(attack(expect=f"expect {expectation}"))
    (text,) = check_errors(source)
    message = "an attack test expects `robust_accuracy`, `attack_success_rate`, `clean_accuracy`"
    assert_at(text, source, message, expectation, hint="for example `expect robust_accuracy >= 0.6`")


def test_attack_expectation_out_of_range(workdir):
    source = IMAGE_HEADER + cap(attack(expect="expect attack_success_rate <= 20"))
    (text,) = check_errors(source)
    message = "attack_success_rate must be between 0 and 1 (or 0% and 100%), not 20"
    assert_at(text, source, message, "20", hint="write 0.2 or 20%")


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_gradient_attack_on_an_onnx_model(workdir, method):
    source = ONNX_IMAGE_MODEL + IMAGES + cap(attack(f"method {method}(eps: 0.1)"))
    (text,) = check_errors(source)
    assert_at(
        text,
        source,
        f"`{method}` needs gradients, which model `o` (onnx) cannot give",
        method,
        after="method ",
        hint="use a score-based black-box method on it: square; or a `torch` model",
    )


def test_gradient_attack_on_one_of_two_models_names_the_onnx_one(workdir):
    source = IMAGE_HEADER + ONNX_IMAGE_MODEL + cap(attack("method pgd(eps: 0.1)", on=" on m, o"))
    (text,) = check_errors(source)
    assert text.splitlines()[0].endswith("error: `pgd` needs gradients, which model `o` (onnx) cannot give")


def test_square_attack_on_an_onnx_model_checks(workdir):
    source = ONNX_IMAGE_MODEL + IMAGES + cap(attack("method square(eps: 0.1, queries: 100, p_init: 0.1)"))
    Path(PATH).write_text(source, encoding="utf-8")
    assert [t.kind for t in check(parse(source, PATH)).tests] == ["attack"]


PGD_USAGE = (
    "usage: pgd(eps: number or [numbers], step: float = 0.01, steps: int = 10, norm: linf|l2 = linf, "
    "random_start: false|true = false, restarts: int = 1)"
)


@pytest.mark.parametrize(
    "method, message, needle, hint",
    [
        ("pgd(eps: [0.1, -0.05])", "`pgd` parameter `eps` must be >= 0, not -0.05", "-0.05", None),
        ("fgsm(eps: -0.1)", "`fgsm` parameter `eps` must be >= 0, not -0.1", "-0.1", None),
        ('pgd(eps: "a")', "`pgd` parameter `eps` takes a number or a list of numbers (a sweep)", '"a"', PGD_USAGE),
        ("pgd(eps: 0.1, steps: 0)", "`pgd` parameter `steps` must be a whole number >= 1, not 0", "steps: 0", None),
        ("pgd(eps: 0.1, steps: 2.5)", "`pgd` parameter `steps` must be a whole number >= 1, not 2.5", "2.5", None),
        ("pgd(eps: 0.1, restarts: 0)", "`pgd` parameter `restarts` must be a whole number >= 1, not 0", "restarts: 0", None),
        ("pgd(eps: 0.1, step: 0)", "`pgd` parameter `step` must be > 0, not 0", "step: 0", PGD_USAGE),
        ("pgd(eps: 0.1, norm: l3)", "`pgd` parameter `norm` is one of linf, l2", "l3", PGD_USAGE),
        ("pgd(eps: 0.1, random_start: yes)", "`pgd` parameter `random_start` is one of false, true", "yes", PGD_USAGE),
        ("square(eps: 0.1, queries: 0)", "`square` parameter `queries` must be a whole number >= 1, not 0", "queries: 0", None),
        ("fgsm", "`fgsm` needs `eps`", "fgsm", "usage: fgsm(eps: number or [numbers])"),
        ("pgd(eps: 0.1, stpes: 5)", "`pgd` has no parameter `stpes`", "stpes: 5", "did you mean `steps`?"),
    ],
)
def test_attack_method_parameters(workdir, method, message, needle, hint):
    # `needle` may be `name: value`: the caret is then under the value only
    after = "method "
    if re.fullmatch(r"\w+: \S+", needle) and not message.startswith(f"`{method.split('(')[0]}` has no"):
        after, needle = needle.split(": ")[0], needle.split(": ")[1]
    source = IMAGE_HEADER + cap(attack(f"method {method}"))
    (text,) = check_errors(source)
    assert_at(text, source, message, needle, after=after, hint=hint)


def test_expectation_at_eps_not_in_the_sweep(workdir):
    source = IMAGE_HEADER + cap(attack("method pgd(eps: [0.1, 0.2])", "expect robust_accuracy >= 0.5 at eps 0.3"))
    (text,) = check_errors(source)
    assert_at(text, source, "eps 0.3 is not in the sweep (0.1, 0.2)", "0.3")


def test_expectation_at_eps_in_the_sweep_checks(workdir):
    source = IMAGE_HEADER + cap(attack("method pgd(eps: [0.1, 0.2])", "expect robust_accuracy >= 0.5 at eps 0.2"))
    Path(PATH).write_text(source, encoding="utf-8")
    (test,) = check(parse(source, PATH)).tests
    assert test.kind == "attack" and [expect.at_value.value for expect in test.decl.expects] == [0.2]


def test_expectation_at_the_one_eps_checks(workdir):
    source = IMAGE_HEADER + cap(attack("method fgsm(eps: 0.1)", "expect robust_accuracy >= 0.5 at eps 0.1"))
    Path(PATH).write_text(source, encoding="utf-8")
    (test,) = check(parse(source, PATH)).tests
    assert test.kind == "attack" and [expect.at_value.value for expect in test.decl.expects] == [0.1]


def test_expectation_at_another_eps_than_the_one(workdir):
    source = IMAGE_HEADER + cap(attack("method fgsm(eps: 0.1)", "expect robust_accuracy >= 0.5 at eps 0.2"))
    (text,) = check_errors(source)
    assert_at(text, source, "eps 0.2 is not the attack's eps", "0.2", hint="`at eps` names one eps of a sweep: `eps: [0.05, 0.1]`")


def test_expectation_at_something_other_than_eps(workdir):
    source = IMAGE_HEADER + cap(attack("method pgd(eps: [0.1, 0.2])", "expect robust_accuracy >= 0.5 at step 0.1"))
    (text,) = check_errors(source)
    assert_at(text, source, "`at` names a point of the eps sweep: `at eps X`, not `at step`", "step", after="at ")


@pytest.mark.parametrize("value", ["0", "-255", "big"])
def test_pixel_max_not_above_zero(workdir, value):
    source = IMAGE_MODEL + f'dataset d = npz "d.npz" {{ input: x, label: y, pixel_max: {value} }}\n'
    (text,) = check_errors(source)
    assert_at(text, source, f"pixel_max takes a number above 0, not {value}", value, after="pixel_max", hint="for 8-bit images: `pixel_max: 255`")


@pytest.mark.parametrize(
    "declaration, field, hint",
    [
        ('dataset d = jsonl "d.jsonl" { pixel_max: 255 }', "pixel_max", "fields are text, label, variants, missing"),
        ('dataset d = npz "d.npz" { text: x }', "text", "fields are input, label, pixel_max"),
        ('dataset d = npz "d.npz" { inputs: x }', "inputs", "did you mean `input`?"),
        ('dataset d = csv "d.csv" { pixel_mx: 255 }', "pixel_mx", "did you mean `pixel_max`?"),
    ],
)
def test_dataset_fields_depend_on_the_format(workdir, declaration, field, hint):
    source = declaration + "\n"
    (text,) = check_errors(source)
    assert_at(text, source, f"unknown dataset field `{field}`", field, hint=hint)


IMAGE_PERTURBATION_NAMES = "gaussian_noise, uniform_noise, salt_pepper, invert, brightness, contrast, blur, rotate, translate, occlude"


@pytest.mark.parametrize(
    "call, message, needle, hint",
    [
        ("gaussian_noise()", "`gaussian_noise` needs `std`", "gaussian_noise()", "usage: gaussian_noise(std: float)"),
        ("gaussian_noise", "`gaussian_noise` needs `std`", "gaussian_noise", "usage: gaussian_noise(std: float)"),
        ("gaussian_noise(std: 0)", "`gaussian_noise` parameter `std` must be > 0, not 0", "0", "usage: gaussian_noise(std: float)"),
        ("salt_pepper(amount: -0.1)", "`salt_pepper` parameter `amount` must be > 0, not -0.1", "-0.1", "usage: salt_pepper(amount: float)"),
        ("blur(sigma: 0)", "`blur` parameter `sigma` must be > 0, not 0", "0", "usage: blur(sigma: float)"),
        ("occlude(size: 0)", "`occlude` parameter `size` must be a whole number >= 1, not 0", "0", None),
        ("translate(dx: -1)", "`translate` parameter `dx` must be a whole number >= 0, not -1", "-1", None),
        ("brightness(delta: \"up\")", "`brightness` parameter `delta` takes a number", '"up"', "usage: brightness(delta: float)"),
        ("invert(1)", "`invert` takes no arguments", "1", "usage: invert()"),
    ],
)
def test_image_perturbation_parameters(workdir, call, message, needle, hint):
    source = IMAGE_HEADER + cap(image_inv(call))
    (text,) = check_errors(source)
    assert_at(text, source, message, needle, after="perturb ", hint=hint)


def test_image_perturbation_misnamed_parameter(workdir):
    source = IMAGE_HEADER + cap(image_inv("gaussian_noise(sd: 0.1)"))
    rendered = check_errors(source)
    assert len(rendered) == 2
    usage = "usage: gaussian_noise(std: float)"
    assert_at(rendered, source, "`gaussian_noise` has no parameter `sd`", "sd: 0.1", hint="did you mean `std`?")
    assert_at(rendered, source, "`gaussian_noise` needs `std`", "gaussian_noise(sd: 0.1)", hint=usage)


def test_text_perturbation_on_an_image_model(workdir):
    source = IMAGE_HEADER + cap(image_inv("typos(count: 1)"))
    (text,) = check_errors(source)
    hint = f"an image model's perturbations are {IMAGE_PERTURBATION_NAMES}"
    assert_at(text, source, "`typos` does not apply here: this test's models take images", "typos", after="perturb ", hint=hint)


def test_image_perturbation_on_a_text_model(workdir):
    source = HEADER + cap('  inv "a" {\n    from reviews\n    perturb invert\n  }\n')
    (text,) = check_errors(source)
    hint = "a text model's perturbations are typos, contractions, punctuation, swap, change_numbers, append, prepend"
    assert_at(text, source, "`invert` does not apply here: this test's models take text", "invert", hint=hint)


def test_unknown_image_perturbation(workdir):
    source = IMAGE_HEADER + cap(image_inv("gaussian_nosie(std: 0.1)"))
    (text,) = check_errors(source)
    assert_at(text, source, "unknown perturbation `gaussian_nosie`", "gaussian_nosie", hint="did you mean `gaussian_noise`?")
    source = IMAGE_HEADER + cap(image_inv("xyzzy"))
    (text,) = check_errors(source)
    hint = f"an image model's perturbations are {IMAGE_PERTURBATION_NAMES}"
    assert_at(text, source, "unknown perturbation `xyzzy`", "xyzzy", hint=hint)


def test_method_not_allowed_outside_attack(workdir):
    source = IMAGE_HEADER + cap('  mft "x" {\n    from d\n    method fgsm(eps: 0.1)\n  }\n')
    (text,) = check_errors(source)
    assert_at(text, source, "`method` is not allowed in an mft test", "method fgsm(eps: 0.1)", hint="`method` belongs in attack tests")


def test_statement_not_allowed_in_attack_has_the_right_article(workdir):
    source = IMAGE_HEADER + cap(attack().replace("  }\n", "    max_fail_rate 5%\n  }\n"))
    (text,) = check_errors(source)
    hint = "`max_fail_rate` belongs in mft or inv or dir tests"
    assert_at(text, source, "`max_fail_rate` is not allowed in an attack test", "max_fail_rate 5%", hint=hint)


# ================================================================= command line: model cards, python models

TWO_MODEL_CARD = """model a {
  onnx "x.onnx"
  input text
  output logits labels [negative, positive]
}
model b {
  onnx "y.onnx"
  input text
  output logits labels [negative, positive]
}
"""


@pytest.mark.parametrize("command", ["run", "plan"])
def test_cli_model_card_with_two_models(workdir, capsys, command):
    Path("card.mlspec").write_text(TWO_MODEL_CARD, encoding="utf-8")
    code, out, err = run_cli(capsys, command, str(DEMO), "--model", "sentiment=card.mlspec")
    assert code == 2
    assert out == ""
    assert err.strip() == "error: model card card.mlspec must declare exactly one model, not 2"


def test_cli_model_card_with_a_broken_model_block(workdir, capsys):
    Path("card.mlspec").write_text('model a {\n  input text\n  output logits labels [negative, positive]\n}\n', encoding="utf-8")
    code, out, err = run_cli(capsys, "plan", str(DEMO), "--model", "sentiment=card.mlspec")
    assert code == 2
    message = 'model `a` needs a model (`onnx "file"`, `torch "file"`, `python "module:function"` or `http "URL"`)'
    assert err.splitlines()[:3] == [f"card.mlspec:1:7: error: {message}", "    1 | model a {", "      |       ^"]


PYTHON_SPEC = """spec "py"
model m {
  python "nowhere_module_xyz:predict"
  input text
  output probabilities labels [negative, positive]
}
capability "c" {
  mft "good" {
    template "good" -> positive
  }
  mft "bad" {
    template "bad" -> negative
  }
}
"""


def test_cli_python_model_without_allow_python(workdir, capsys):
    Path("py.mlspec").write_text(PYTHON_SPEC, encoding="utf-8")
    code, out, err = run_cli(capsys, "run", "py.mlspec", "--json", "r.json", "--junit", "j.xml")
    assert code == 3
    import json

    tests = json.loads(Path("r.json").read_text(encoding="utf-8"))["specs"][0]["tests"]
    assert [(t["title"], t["status"]) for t in tests] == [("good", "ERROR"), ("bad", "ERROR")]
    for test in tests:
        assert test["message"].splitlines() == [
            "py.mlspec:2:1: error: model `m` is Python code (nowhere_module_xyz:predict); running it imports and runs that code",
            "    2 | model m {",
            "      | ^^^^^^^^^",
            "hint: pass --allow-python to allow it",
        ]
    assert "--allow-python" in out
    assert Path("j.xml").is_file()


def test_cli_check_does_not_import_a_python_model(workdir, capsys):
    # `check` never runs code: the module does not exist, and check still passes
    Path("py.mlspec").write_text(PYTHON_SPEC, encoding="utf-8")
    code, out, err = run_cli(capsys, "check", "py.mlspec")
    assert code == 0, err
    assert out.startswith("ok: py.mlspec")
