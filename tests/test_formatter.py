"""Tests for `mlspec.language.formatter.format_spec` (`mlspec fmt`): the canonical layout of a spec.

Properties on every spec in the repository (formatting is idempotent, keeps the AST apart
from spans, and keeps the compiled plan), then the layout rules one by one: spacing,
blocks and indentation, blank lines, comments, wrapped statements, exact output for a
messy spec, and broken specs raising the parser's errors.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from mlspec.errors import MlspecError, ParseError
from mlspec.language.formatter import MAX_WIDTH, format_spec
from mlspec.language.parser import parse
from mlspec.run.pipeline import plan_file

ROOT = Path(__file__).resolve().parents[1]
REPO_SPECS = sorted(ROOT.glob("specs/**/*.mlspec")) + sorted((ROOT / "tests" / "golden" / "specs").glob("*.mlspec"))
PATH = "t.mlspec"


def fmt(text: str) -> str:
    return format_spec(text, PATH)


def _strip_spans(data):
    if isinstance(data, dict):
        return {k: _strip_spans(v) for k, v in data.items() if not (k == "span" or k.endswith("_span") or k.endswith("_spans"))}
    if isinstance(data, list):
        return [_strip_spans(v) for v in data]
    return data


def meaning(text: str) -> dict:
    """The AST of `text` as data, without source positions."""
    return _strip_spans(parse(text, PATH).model_dump())


def assert_canonical(text: str) -> str:
    """Format `text`; check idempotence and that the meaning is kept; return the result."""
    out = fmt(text)
    assert fmt(out) == out, "formatting is not idempotent"
    assert meaning(out) == meaning(text), "formatting changed the AST"
    assert out == "" or (out.endswith("\n") and not out.endswith("\n\n"))
    assert all(line == line.rstrip() for line in out.split("\n"))
    return out


MODEL = 'model m {\n  onnx "m.onnx"\n  input text\n  output probabilities labels [negative, positive]\n}\n'


def in_test(body: str, kind: str = "mft") -> str:
    """A file holding a model, a dataset `d` and one test of `kind` with `body` (its statements, as written)."""
    return f'{MODEL}dataset d = csv "d.csv"\n\ncapability "c" {{\n  {kind} "t" {{\n{body}\n  }}\n}}\n'


def body_of(formatted: str) -> list[str]:
    """The lines inside the only test of `formatted`."""
    lines = formatted.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("  ") and line.endswith('"t" {'))
    end = lines.index("  }", start)
    return lines[start + 1 : end]


# ---------------------------------------------------------------- every spec in the repository


@pytest.mark.parametrize("spec", REPO_SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_repository_spec_is_formatted_idempotently_and_keeps_its_ast(spec: Path):
    assert REPO_SPECS, "no specs found"
    text = spec.read_text(encoding="utf-8")
    out = format_spec(text, str(spec))
    assert format_spec(out, str(spec)) == out
    assert _strip_spans(parse(out, str(spec)).model_dump()) == _strip_spans(parse(text, str(spec)).model_dump())


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    """A copy of the repository's spec directories (data, models, lexicons included), so a
    formatted spec can be compiled under the same relative path, with the same file stem
    (test ids and seeds depend on it) and with its relative data paths still valid."""
    root = tmp_path_factory.mktemp("mirror")
    shutil.copytree(ROOT / "specs", root / "specs", symlinks=True)
    shutil.copytree(ROOT / "tests" / "golden" / "specs", root / "tests" / "golden" / "specs", symlinks=True)
    return root


def _plan_data(relative: Path) -> dict:
    """The plan of the spec at `relative` (to the current directory), without line numbers."""
    _, plan = plan_file(relative)
    data = plan.to_json()
    for test in data["tests"]:
        test.pop("line")
        if "error" in test:  # `file:line:col: error: message` and the quoted source line
            test["error"] = re.sub(r"^\S+:\d+:\d+: ", "", test["error"].split("\n")[0])
    return data


@pytest.mark.parametrize("spec", REPO_SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_repository_spec_compiles_to_the_same_plan_when_formatted(spec: Path, mirror: Path, monkeypatch):
    relative = spec.relative_to(ROOT)
    copy = mirror / relative
    copy.write_text(format_spec(spec.read_text(encoding="utf-8"), str(spec)), encoding="utf-8")
    monkeypatch.chdir(mirror)
    formatted = _plan_data(relative)
    monkeypatch.chdir(ROOT)  # the original last, so the parser's source cache ends with it
    original = _plan_data(relative)
    assert formatted["path"] == original["path"] == str(relative)
    assert formatted == original


def test_the_plan_comparison_sees_a_change_of_meaning(mirror: Path, monkeypatch):
    """The plan test above is not vacuous: a changed spec compiles to a different plan."""
    relative = Path("tests/golden/specs/sampling.mlspec")
    text = (ROOT / relative).read_text(encoding="utf-8")
    (mirror / relative).write_text(text.replace("sample 6 seed 4", "sample 6 seed 5"), encoding="utf-8")
    monkeypatch.chdir(mirror)
    changed = _plan_data(relative)
    monkeypatch.chdir(ROOT)
    assert changed != _plan_data(relative)


# ---------------------------------------------------------------- exact output


MESSY = """\
# header comment


spec   "messy"   seed 3
model m{onnx "m.onnx"   input text
  output probabilities labels [ negative ,positive, ]   # the labels
batch 8 }
dataset d=csv "d.csv"{text:sentence,label : label,}
lexicon adj = [ "good","bad" ]
capability "C" {

  # first test
  mft "t1" on m {
    template "The {adj} film."->positive
    from d sample 5 seed 2



    expect prob( positive )>=0.10
    max_fail_rate 5%


  }
  dir "t2" {
      from d
      sample 3
      perturb typos( count:1 )then append( [ "x" , "y" ] ) variants 2
      where original . label==positive
      expect prob(positive) not decreasing tolerance 1e-3
        # before the brace
  }
}
capability "D" {}
# end
"""

MESSY_FORMATTED = """\
# header comment

spec "messy" seed 3
model m {
  onnx "m.onnx"
  input text
  output probabilities labels [negative, positive]  # the labels
  batch 8
}
dataset d = csv "d.csv" { text: sentence, label: label }
lexicon adj = ["good", "bad"]

capability "C" {
  # first test
  mft "t1" on m {
    template "The {adj} film." -> positive
    from d sample 5 seed 2

    expect prob(positive) >= 0.10
    max_fail_rate 5%
  }

  dir "t2" {
    from d
    sample 3
    perturb typos(count: 1) then append(["x", "y"]) variants 2
    where original.label == positive
    expect prob(positive) not decreasing tolerance 1e-3
    # before the brace
  }
}

capability "D" {
}
# end
"""


def test_a_messy_spec_gets_the_canonical_layout():
    assert assert_canonical(MESSY) == MESSY_FORMATTED


def test_canonical_text_is_unchanged():
    assert fmt(MESSY_FORMATTED) == MESSY_FORMATTED


def test_all_on_one_line():
    text = 'spec "x" model m { onnx "m.onnx" input text output logits labels [a, b] } capability "c" { mft "t" { template "x" -> a } }'
    assert assert_canonical(text) == (
        'spec "x"\nmodel m {\n  onnx "m.onnx"\n  input text\n  output logits labels [a, b]\n}\n\n'
        'capability "c" {\n  mft "t" {\n    template "x" -> a\n  }\n}\n'
    )


def test_empty_and_blank_files():
    assert fmt("") == ""
    assert fmt("\n\n   \n") == ""
    assert fmt("# only a comment") == "# only a comment\n"
    assert fmt("\n\n# one\n\n\n# two\n\n") == "# one\n\n# two\n"


# ---------------------------------------------------------------- spacing inside a statement


@pytest.mark.parametrize(
    "written, canonical",
    [
        ('template   "a {x}"->  positive', 'template "a {x}" -> positive'),
        ('template "a"->"negative"', 'template "a" -> "negative"'),
        ("expect label!=positive", "expect label != positive"),
        ("expect label in[ a ,b ]", "expect label in [a, b]"),
        ("expect label not in [a,b,]", "expect label not in [a, b]"),
        ("expect prob ( positive ) >=0.7", "expect prob(positive) >= 0.7"),
        ("expect confidence<0.9", "expect confidence < 0.9"),
        ("expect unchanged tolerance   0.1", "expect unchanged tolerance 0.1"),
        ("max_fail_rate 5%", "max_fail_rate 5%"),
        ("max_fail_rate 0.10", "max_fail_rate 0.10"),
        ("expect robust_accuracy>=0.50 at eps 0.05", "expect robust_accuracy >= 0.50 at eps 0.05"),
    ],
)
def test_spacing_in_mft_statements(written, canonical):
    assert body_of(assert_canonical(in_test("    " + written))) == ["    " + canonical]


@pytest.mark.parametrize(
    "written, canonical",
    [
        ("perturb typos ( count : 1 ) variants 3", "perturb typos(count: 1) variants 3"),
        ("perturb typos(count: 1,)", "perturb typos(count: 1)"),
        ('perturb prepend([ "Well," ,"So," ])then typos', 'perturb prepend(["Well,", "So,"]) then typos'),
        ("perturb swap(lexicon:city)", "perturb swap(lexicon: city)"),
        ("perturb change_numbers(n: -2)", "perturb change_numbers(n: -2)"),
        ("where original .label == positive", "where original.label == positive"),
        ("where original. prob( negative )<40%", "where original.prob(negative) < 40%"),
        ("where original.label in[positive,negative]", "where original.label in [positive, negative]"),
        ("expect prob(positive)not decreasing tolerance 0.05", "expect prob(positive) not decreasing tolerance 0.05"),
    ],
)
def test_spacing_in_inv_statements(written, canonical):
    body = body_of(assert_canonical(in_test("    from d\n    " + written, "inv")))
    assert body == ["    from d", "    " + canonical]


@pytest.mark.parametrize(
    "written, canonical",
    [
        ('dataset d=csv "d.csv"{text:sentence,label:label}', 'dataset d = csv "d.csv" { text: sentence, label: label }'),
        ('dataset d = csv "d.csv" {  }', 'dataset d = csv "d.csv" {}'),
        ('dataset t = npz "t.npz" {input: x, label: y, }', 'dataset t = npz "t.npz" { input: x, label: y }'),
        ('dataset p = csv "p.csv" { label: label,pixel_max:255 }', 'dataset p = csv "p.csv" { label: label, pixel_max: 255 }'),
        ('lexicon l=[ "a","b" ,]', 'lexicon l = ["a", "b"]'),
        ("lexicon e = []", "lexicon e = []"),
        ('lexicon f = file   "words.txt"', 'lexicon f = file "words.txt"'),
        ('spec "s"seed 007', 'spec "s" seed 007'),
    ],
)
def test_spacing_in_declarations(written, canonical):
    assert assert_canonical(written) == canonical + "\n"


@pytest.mark.parametrize(
    "written, canonical",
    [
        ("input image shape[1,28,28]range[0,1]", "input image shape [1, 28, 28] range [0, 1]"),
        ("input table columns [ age ,sex, ]", "input table columns [age, sex]"),
        ('input tokens vocabulary "v.txt" lowercase unknown "<unk>" max_length 60', 'input tokens vocabulary "v.txt" lowercase unknown "<unk>" max_length 60'),
        ('output probabilities labels ["<=50K",">50K"]', 'output probabilities labels ["<=50K", ">50K"]'),
    ],
)
def test_spacing_in_model_statements(written, canonical):
    out = assert_canonical(f'model m {{ onnx "m.onnx" {written} }}')
    assert out == f'model m {{\n  onnx "m.onnx"\n  {canonical}\n}}\n'


def test_strings_and_numbers_are_kept_as_written():
    text = in_test('    template "say \\"hi\\" {a:x}\\tthere # not a comment" -> "a\\\\b"\n    expect prob(a) >= 1.50e-1\n    max_fail_rate 07.50%')
    body = body_of(assert_canonical(text))
    assert body == [
        '    template "say \\"hi\\" {a:x}\\tthere # not a comment" -> "a\\\\b"',
        "    expect prob(a) >= 1.50e-1",
        "    max_fail_rate 07.50%",
    ]


def test_keywords_used_as_names_stay_names():
    text = in_test("    template \"x\"\n    by text\n    metric positive_rate\n    positive positive", "fairness")
    assert body_of(assert_canonical(text)) == ['    template "x"', "    by text", "    metric positive_rate", "    positive positive"]


def test_fairness_statements_over_a_dataset():
    text = 'dataset a = csv "a.csv" { label: income }\ncapability "f" { fairness "t" { from a by sex,race positive ">50K" privileged sex=="Male" min_group_size 30 expect disparate_impact>=0.80 } }'
    out = assert_canonical(text)
    assert body_of(out) == [
        "    from a",
        "    by sex, race",
        '    positive ">50K"',
        '    privileged sex == "Male"',
        "    min_group_size 30",
        "    expect disparate_impact >= 0.80",
    ]


def test_attack_method():
    text = in_test("    from d sample 500 seed 0\n    method pgd( eps:[0.05,0.1], step:0.01, norm:linf, random_start: true )", "attack")
    assert body_of(assert_canonical(text)) == ["    from d sample 500 seed 0", "    method pgd(eps: [0.05, 0.1], step: 0.01, norm: linf, random_start: true)"]


def test_test_header_with_on_clause():
    out = assert_canonical('capability "c" { mft   "t"   on a ,b{ template "x" } }')
    assert out == 'capability "c" {\n  mft "t" on a, b {\n    template "x"\n  }\n}\n'


# ---------------------------------------------------------------- statements and lines


def test_from_sample_on_one_line_stays_on_one_line():
    assert body_of(assert_canonical(in_test("    from d   sample 5   seed 2\n    expect label == a"))) == ["    from d sample 5 seed 2", "    expect label == a"]


def test_from_and_sample_on_two_lines_stay_on_two_lines():
    assert body_of(assert_canonical(in_test("    from d\n    sample 5 seed 2"))) == ["    from d", "    sample 5 seed 2"]


def test_statements_sharing_a_line_are_split():
    body = body_of(assert_canonical(in_test('    template "x" sample 3 seed 1 expect label == a max_fail_rate 5%')))
    assert body == ['    template "x"', "    sample 3 seed 1", "    expect label == a", "    max_fail_rate 5%"]


def test_a_wrapped_statement_is_joined():
    text = 'model m {\n  onnx "m.onnx"\n  input table columns [\n    age,\n    sex,\n  ]\n  output\n    probabilities\n    labels [a,\n            b]\n}\n'
    assert assert_canonical(text) == 'model m {\n  onnx "m.onnx"\n  input table columns [age, sex]\n  output probabilities labels [a, b]\n}\n'


def test_a_line_over_the_width_is_wrapped_at_list_commas():
    columns = [f"column_number_{i}" for i in range(12)]
    text = 'model m {\n  onnx "m.onnx"\n  input table columns [' + ",\n".join(columns) + ']\n  output logits labels [a, b]\n}\n'
    out = assert_canonical(text)
    lines = out.split("\n")
    wrapped = lines[2 : lines.index("  output logits labels [a, b]")]
    assert len(wrapped) > 1
    assert wrapped[0].startswith("  input table columns [column_number_0, ")
    assert all(line.startswith("      column_number_") for line in wrapped[1:])  # statement indent + 4
    assert all(len(line) <= MAX_WIDTH and line.endswith(",") for line in wrapped[:-1])
    assert wrapped[-1].endswith("column_number_11]")
    # greedy: the next item would not have fit on the line before
    for line, following in zip(wrapped, wrapped[1:]):
        assert len(line) + 1 + len(following.split()[0]) > MAX_WIDTH
    assert " ".join(" ".join(wrapped).split()) == "input table columns [" + ", ".join(columns) + "]"


def test_the_income_spec_list_is_wrapped():
    out = format_spec((ROOT / "specs" / "income" / "income.mlspec").read_text(encoding="utf-8"), "income.mlspec")
    assert (
        "  input table columns [age, workclass, education, education_num, marital_status, occupation,\n"
        "      relationship, race, sex, capital_gain, capital_loss, hours_per_week, native_country]\n"
    ) in out


def test_a_long_line_without_a_list_is_not_wrapped():
    title = "a" * 150
    out = assert_canonical(in_test(f'    template "{title}"'))
    assert f'    template "{title}"' in out.split("\n")


def test_a_line_of_exactly_the_width_is_not_wrapped():
    prefix = 'lexicon l = ["'
    item = "z" * (MAX_WIDTH - len(prefix) - len('", "y"]'))
    line = f'{prefix}{item}", "y"]'
    assert len(line) == MAX_WIDTH
    assert fmt(line) == line + "\n"
    assert fmt(f'{prefix}z{item}", "y"]') == f'{prefix}z{item}",\n    "y"]\n'


def test_indentation_is_two_spaces_per_block():
    out = assert_canonical('capability "c" {\n\t\tmft "t" {\n template "x"\n\t}\n        }\n')
    assert out == 'capability "c" {\n  mft "t" {\n    template "x"\n  }\n}\n'


def test_crlf_line_endings():
    text = MESSY.replace("\n", "\r\n")
    assert assert_canonical(text) == MESSY_FORMATTED


# ---------------------------------------------------------------- blank lines


def test_blank_lines_between_statements_are_kept_and_collapsed():
    body = body_of(assert_canonical(in_test('    template "a"\n\n\n\n    template "b"\n    template "c"\n\n    expect label == a')))
    assert body == ['    template "a"', "", '    template "b"', '    template "c"', "", "    expect label == a"]


def test_no_blank_lines_after_open_brace_or_before_close_brace():
    out = assert_canonical('model m {\n\n\n  onnx "m.onnx"\n\n\n}\n\n\n\ncapability "c" {\n\n  mft "t" {\n\n    template "x"\n\n  }\n\n}\n')
    assert out == 'model m {\n  onnx "m.onnx"\n}\n\ncapability "c" {\n  mft "t" {\n    template "x"\n  }\n}\n'


def test_no_blank_lines_at_the_start_or_end_of_the_file():
    assert assert_canonical('\n\n\nspec "x"\n\n\n') == 'spec "x"\n'


def test_a_capability_always_follows_a_blank_line():
    out = assert_canonical('spec "x"\ncapability "a" {}\ncapability "b" {}\n')
    assert out == 'spec "x"\n\ncapability "a" {\n}\n\ncapability "b" {\n}\n'


def test_tests_of_a_capability_are_separated_by_one_blank_line():
    out = assert_canonical('capability "c" {\n  mft "a" { template "x" }\n  mft "b" { template "y" }\n\n\n  inv "c" { template "z" }\n}\n')
    assert out == (
        'capability "c" {\n  mft "a" {\n    template "x"\n  }\n\n  mft "b" {\n    template "y"\n  }\n\n'
        '  inv "c" {\n    template "z"\n  }\n}\n'
    )


def test_top_level_declarations_keep_the_authors_grouping():
    text = 'spec "x"\nlexicon a = ["1"]\nlexicon b = ["2"]\n\n\nlexicon c = ["3"]\n'
    assert assert_canonical(text) == 'spec "x"\nlexicon a = ["1"]\nlexicon b = ["2"]\n\nlexicon c = ["3"]\n'


def test_the_blank_line_before_a_capability_goes_before_its_comments():
    out = assert_canonical('spec "x"\n# about the capability\ncapability "c" {}\n')
    assert out == 'spec "x"\n\n# about the capability\ncapability "c" {\n}\n'


# ---------------------------------------------------------------- comments


def test_own_line_comments_stay_before_their_statement_reindented():
    text = in_test('        # about a\n    template "a"\n# about b\n    template "b"')
    assert body_of(assert_canonical(text)) == ["    # about a", '    template "a"', "    # about b", '    template "b"']


def test_trailing_comments_get_two_spaces():
    text = in_test('    template "a"          # one\n    template "b"# two\n    expect label == a #three   ')
    assert body_of(assert_canonical(text)) == ['    template "a"  # one', '    template "b"  # two', "    expect label == a  #three"]


def test_comment_before_a_closing_brace_stays_inside_the_block():
    text = 'model m {\n  onnx "m.onnx"\n# last\n}\ncapability "c" {\n  mft "t" {\n    template "x"\n          # end of test\n  }\n   # end of capability\n}\n'
    assert assert_canonical(text) == (
        'model m {\n  onnx "m.onnx"\n  # last\n}\n\ncapability "c" {\n  mft "t" {\n    template "x"\n    # end of test\n  }\n'
        "  # end of capability\n}\n"
    )


def test_comments_on_block_lines():
    text = 'model m {   # the model\n  onnx "m.onnx"\n}   # end of model\ncapability "c" { # caps\n}\n'
    assert assert_canonical(text) == 'model m {  # the model\n  onnx "m.onnx"\n}  # end of model\n\ncapability "c" {  # caps\n}\n'


def test_comments_at_the_start_and_end_of_the_file():
    text = '# header\n# more header\n\nspec "x"\n\n\n# footer one\n\n\n# footer two\n'
    assert assert_canonical(text) == '# header\n# more header\n\nspec "x"\n\n# footer one\n\n# footer two\n'


def test_blank_lines_between_own_line_comments_are_kept():
    text = in_test('    template "a"\n\n    # one\n\n\n    # two\n    template "b"')
    assert body_of(assert_canonical(text)) == ['    template "a"', "", "    # one", "", "    # two", '    template "b"']


def test_the_comment_of_a_wrapped_statement_goes_to_its_first_line():
    text = 'model m {\n  input table columns [age,\n    sex]    # the features\n}\n'
    assert assert_canonical(text) == 'model m {\n  input table columns [age, sex]  # the features\n}\n'


def test_several_comments_in_a_wrapped_statement_go_before_it():
    text = 'model m {\n  input table columns [  # first\n    # own line\n    age,  # years\n    sex]\n}\n'
    assert assert_canonical(text) == 'model m {\n  # first\n  # own line\n  # years\n  input table columns [age, sex]\n}\n'


def test_a_trailing_comment_on_a_shared_line_goes_with_the_last_statement():
    text = in_test('    template "a" expect label == a   # the check')
    assert body_of(assert_canonical(text)) == ['    template "a"', "    expect label == a  # the check"]


def test_a_hash_inside_a_string_is_not_a_comment():
    text = in_test('    template "#1 film"  # a real one')
    assert body_of(assert_canonical(text)) == ['    template "#1 film"  # a real one']


def test_every_comment_is_kept_in_order():
    comments = [c.rstrip() for c in re.findall(r"#[^\n]*", MESSY)]
    assert [line[line.index("#") :] for line in MESSY_FORMATTED.split("\n") if "#" in line] == comments


# ---------------------------------------------------------------- broken specs


@pytest.mark.parametrize(
    "text",
    [
        "model m {\n  onnx \"m.onnx\"\n",  # unclosed block
        'capability "c" {\n  mft "t" {\n    template "x" ->\n  }\n}\n',  # incomplete statement
        "lexicon l = ['a']\n",  # single quotes
        'spec "unterminated\n',
        "modle m {}\n",  # a misspelled keyword
    ],
)
def test_a_syntax_error_raises_the_parsers_error(text):
    with pytest.raises(ParseError) as formatting:
        fmt(text)
    with pytest.raises(ParseError) as parsing:
        parse(text, PATH)
    assert str(formatting.value) == str(parsing.value)


def test_a_duplicate_statement_raises_the_parsers_errors():
    text = in_test("    max_fail_rate 5%\n    max_fail_rate 6%")
    with pytest.raises(MlspecError):
        fmt(text)


def test_nothing_is_returned_for_a_broken_file():
    result = None
    with pytest.raises(MlspecError):
        result = fmt('spec "x"\nmodel m {\n')
    assert result is None


def test_the_repository_specs_are_found():
    names = {p.name for p in REPO_SPECS}
    assert {"sentiment.mlspec", "digits.mlspec", "income.mlspec", "lstm.mlspec", "empty_capability.mlspec"} <= names
    assert os.path.isdir(ROOT / "tests" / "golden" / "specs")
