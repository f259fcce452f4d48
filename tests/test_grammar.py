"""Tests for the grammar (`grammar/mlspec.lark`) and the parser's AST (`mlspec.language.parser.parse`).

One test, or a small parametrized group, per grammar rule: each parses a snippet and
asserts the AST node types and field values, and for a few nodes the exact span
(1-based lines and columns, `end_col` exclusive).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlspec.errors import MlspecError
from mlspec.language import ast
from mlspec.language.parser import keywords, parse

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "specs" / "sentiment" / "sentiment.mlspec"
PATH = "t.mlspec"


# ---------------------------------------------------------------- helpers


def p(text: str) -> ast.SpecFile:
    return parse(text, PATH)


def one_test(body: str, kind: str = "mft", header: str = "") -> ast.TestDecl:
    """Parse one test of `kind` holding `body` (statements, one a line) and return it."""
    spec = p(f'capability "c" {{\n  {kind} "t"{header} {{\n{body}\n  }}\n}}\n')
    (capability,) = spec.capabilities
    (test,) = capability.tests
    return test


def expect_of(line: str, kind: str = "mft"):
    (expectation,) = one_test(f"    expect {line}", kind).expects
    return expectation


def span(node_or_span) -> tuple[int, int, int, int]:
    s = node_or_span.span if isinstance(node_or_span, ast.Node) else node_or_span
    assert s.file == PATH
    return (s.line, s.col, s.end_line, s.end_col)


def fails(text: str) -> None:
    with pytest.raises(MlspecError):
        p(text)


# ---------------------------------------------------------------- spec line


def test_empty_file_is_an_empty_spec():
    spec = p("")
    assert isinstance(spec, ast.SpecFile)
    assert spec.path == PATH
    assert spec.name is None and spec.seed is None
    assert spec.models == spec.datasets == spec.lexicons == spec.capabilities == []


def test_spec_line_without_seed():
    spec = p('spec "sentiment"\n')
    assert spec.name == "sentiment"
    assert spec.seed is None


def test_spec_line_with_seed():
    spec = p('spec "sentiment" seed 42\n')
    assert spec.name == "sentiment"
    assert isinstance(spec.seed, ast.Quantity)
    assert spec.seed.value == 42 and spec.seed.text == "42" and not spec.seed.percent
    assert span(spec.seed) == (1, 23, 1, 25)


def test_spec_line_may_come_anywhere():
    spec = p('lexicon x = ["a"]\nspec "late" seed 3\n')
    assert spec.name == "late" and spec.seed.value == 3


# ---------------------------------------------------------------- models

MODEL = """model sentiment {
  onnx "model/sentiment.onnx"
  input text
  output probabilities labels [negative, positive]
  batch 64
}
"""


def test_model_block_with_every_statement():
    (model,) = p(MODEL).models
    assert isinstance(model, ast.ModelDecl)
    assert model.name.value == "sentiment"
    assert model.format == "onnx"
    assert model.path == "model/sentiment.onnx"
    assert model.input_kind == "text"
    assert model.output_kind == "probabilities"
    assert [label.value for label in model.labels] == ["negative", "positive"]
    assert all(isinstance(label, ast.Name) for label in model.labels)
    assert model.batch.value == 64 and model.batch.text == "64"


def test_model_spans():
    (model,) = p(MODEL).models
    assert span(model) == (1, 1, 6, 2)  # the whole block, to the closing brace
    assert span(model.name) == (1, 7, 1, 16)
    assert span(model.path_span) == (2, 8, 2, 30)  # the string with its quotes
    negative, positive = model.labels
    assert span(negative) == (4, 32, 4, 40)
    assert span(positive) == (4, 42, 4, 50)
    assert span(model.batch) == (5, 9, 5, 11)


def test_model_output_logits_with_string_labels():
    (model,) = p('model income {\n  onnx "a.onnx"\n  input text\n  output logits labels ["<=50K", ">50K",]\n}\n').models
    assert model.output_kind == "logits"
    assert [label.value for label in model.labels] == ["<=50K", ">50K"]
    # a string label's span covers its quotes
    assert span(model.labels[1]) == (4, 34, 4, 40)
    assert model.batch is None


def test_model_labels_mixing_names_and_strings():
    (model,) = p('model m {\n output probabilities labels [neg, "pos itive", "0"]\n}\n').models
    assert [label.value for label in model.labels] == ["neg", "pos itive", "0"]


def test_model_block_may_be_empty_and_statements_in_any_order():
    spec = p('model a {}\nmodel b { batch 2 input text onnx "b.onnx" }\n')
    a, b = spec.models
    assert a.name.value == "a" and a.path is None and a.input_kind is None and a.labels == []
    assert b.path == "b.onnx" and b.input_kind == "text" and b.batch.value == 2


def test_model_empty_label_list():
    (model,) = p("model m { output logits labels [] }").models
    assert model.labels == [] and model.output_kind == "logits"


# ---------------------------------------------------------------- datasets


def test_dataset_csv_without_field_map():
    (dataset,) = p('dataset reviews = csv "data/reviews.csv"\n').datasets
    assert isinstance(dataset, ast.DatasetDecl)
    assert dataset.name.value == "reviews"
    assert dataset.format == "csv"
    assert dataset.path == "data/reviews.csv"
    assert dataset.fields == {}
    assert span(dataset) == (1, 1, 1, 41)
    assert span(dataset.path_span) == (1, 23, 1, 41)


def test_dataset_jsonl_with_field_map():
    (dataset,) = p('dataset reviews = jsonl "r.jsonl" { text: body, label: "gold label", }\n').datasets
    assert dataset.format == "jsonl"
    assert set(dataset.fields) == {"text", "label"}
    assert dataset.fields["text"].value == "body"
    assert dataset.fields["label"].value == "gold label"
    assert span(dataset.fields["text"]) == (1, 43, 1, 47)


def test_dataset_field_map_with_keywords_as_names():
    (dataset,) = p('dataset reviews = csv "r.csv" { text: text, label: label }\n').datasets
    assert {k: v.value for k, v in dataset.fields.items()} == {"text": "text", "label": "label"}


def test_dataset_empty_field_map():
    (dataset,) = p('dataset d = csv "r.csv" {}').datasets
    assert dataset.fields == {}


# ---------------------------------------------------------------- lexicons


def test_lexicon_inline_list():
    (lexicon,) = p('lexicon pos_adj = ["good", "great", "very good",]\n').lexicons
    assert isinstance(lexicon, ast.LexiconDecl)
    assert lexicon.name.value == "pos_adj"
    assert lexicon.values == ["good", "great", "very good"]
    assert lexicon.file is None and lexicon.file_span is None
    assert span(lexicon.name) == (1, 9, 1, 16)


def test_lexicon_empty_list_parses():
    (lexicon,) = p("lexicon nothing = []").lexicons
    assert lexicon.values == []


def test_lexicon_file():
    (lexicon,) = p('lexicon thing = file "lexicons/things.txt"\n').lexicons
    assert lexicon.values is None
    assert lexicon.file == "lexicons/things.txt"
    assert span(lexicon.file_span) == (1, 22, 1, 43)


# ---------------------------------------------------------------- capabilities and tests


def test_capability_with_one_test_of_each_kind():
    spec = p(
        'capability "Everything" {\n'
        '  mft "a" { }\n'
        '  inv "b" { }\n'
        '  dir "c" { }\n'
        '  fairness "d" { }\n'
        "}\n"
        'capability "Empty" {}\n'
    )
    first, second = spec.capabilities
    assert isinstance(first, ast.Capability)
    assert first.title == "Everything" and second.title == "Empty"
    assert [t.kind for t in first.tests] == ["mft", "inv", "dir", "fairness"]
    assert [t.title for t in first.tests] == ["a", "b", "c", "d"]
    assert all(isinstance(t, ast.TestDecl) and t.on == [] for t in first.tests)
    assert second.tests == []
    assert span(first) == (1, 1, 6, 2)
    assert span(first.tests[3]) == (5, 3, 5, 19)
    assert span(first.tests[3].title_span) == (5, 12, 5, 15)


def test_test_on_one_model():
    test = one_test("", header=" on sentiment")
    assert [n.value for n in test.on] == ["sentiment"]


def test_test_on_several_models():
    test = one_test("", header=" on a, b_2")
    assert [n.value for n in test.on] == ["a", "b_2"]
    assert span(test.on[0]) == (2, 14, 2, 15)
    assert span(test.on[1]) == (2, 17, 2, 20)


def test_test_title_escapes():
    test = one_test("", header="")
    assert test.title == "t"
    spec = p('capability "a \\"quoted\\" one" { mft "back\\\\slash" {} }')
    assert spec.capabilities[0].title == 'a "quoted" one'
    assert spec.capabilities[0].tests[0].title == "back\\slash"


# ---------------------------------------------------------------- template / from / sample


def test_template_without_label():
    test = one_test('    template "The {thing} was {pos_adj}."')
    (template,) = test.templates
    assert isinstance(template, ast.Template)
    assert template.text == "The {thing} was {pos_adj}."
    assert template.label is None
    assert span(template) == (3, 5, 3, 42)
    assert span(template.text_span) == (3, 14, 3, 42)


def test_template_with_label():
    test = one_test('    template "I loved it." -> positive\n    template "Rich" -> ">50K"')
    first, second = test.templates
    assert isinstance(first.label, ast.Name) and first.label.value == "positive"
    assert span(first.label) == (3, 31, 3, 39)
    assert second.label.value == ">50K"
    assert span(first) == (3, 5, 3, 39)


def test_templates_repeat_in_order():
    test = one_test('    template "a"\n    template "b" -> x\n    template "c"')
    assert [t.text for t in test.templates] == ["a", "b", "c"]
    assert [t.label.value if t.label else None for t in test.templates] == [None, "x", None]


def test_from():
    test = one_test("    from reviews")
    assert isinstance(test.source, ast.Name) and test.source.value == "reviews"
    assert span(test.source) == (3, 10, 3, 17)
    assert test.templates == []


def test_sample_without_seed():
    test = one_test("    from reviews sample 500")
    assert isinstance(test.sample, ast.Sample)
    assert test.sample.size.value == 500 and test.sample.size.text == "500"
    assert test.sample.seed is None
    assert span(test.sample) == (3, 18, 3, 28)


def test_sample_with_seed_on_its_own_line():
    test = one_test('    template "x"\n    sample 60 seed 3')
    assert test.sample.size.value == 60
    assert test.sample.seed.value == 3
    assert span(test.sample.seed) == (4, 20, 4, 21)


# ---------------------------------------------------------------- perturb


def test_perturb_one_call_without_arguments():
    test = one_test("    perturb contractions", "inv")
    perturb = test.perturb
    assert isinstance(perturb, ast.Perturb)
    (call,) = perturb.chain
    assert isinstance(call, ast.Call)
    assert call.name.value == "contractions" and call.args == []
    assert perturb.variants is None
    assert span(perturb) == (3, 5, 3, 25)
    assert span(call.name) == (3, 13, 3, 25)


def test_perturb_empty_parentheses():
    (call,) = one_test("    perturb punctuation()", "inv").perturb.chain
    assert call.name.value == "punctuation" and call.args == []


def test_perturb_named_argument_and_variants():
    perturb = one_test("    perturb typos(count: 2) variants 3", "inv").perturb
    (call,) = perturb.chain
    (arg,) = call.args
    assert isinstance(arg, ast.Argument)
    assert arg.name == "count"
    assert isinstance(arg.value, ast.Quantity) and arg.value.value == 2
    assert perturb.variants.value == 3 and perturb.variants.text == "3"
    assert span(call) == (3, 13, 3, 28)
    assert span(arg) == (3, 19, 3, 27)
    assert span(perturb.variants) == (3, 38, 3, 39)


def test_perturb_positional_list_argument():
    (call,) = one_test('    perturb append(["I loved it.", "Great."])', "dir").perturb.chain
    (arg,) = call.args
    assert arg.name is None
    assert isinstance(arg.value, ast.ListValue)
    assert all(isinstance(item, ast.StringValue) for item in arg.value.items)
    assert [item.value for item in arg.value.items] == ["I loved it.", "Great."]


def test_perturb_argument_value_kinds():
    (call,) = one_test('    perturb f(a: 1, b: 5%, c: "s", d: city, e: [1, x, "y", [2]],)', "inv").perturb.chain
    values = {arg.name: arg.value for arg in call.args}
    assert list(values) == ["a", "b", "c", "d", "e"]
    assert isinstance(values["a"], ast.Quantity) and values["a"].value == 1 and not values["a"].percent
    assert isinstance(values["b"], ast.Quantity) and values["b"].value == pytest.approx(0.05) and values["b"].percent
    assert isinstance(values["c"], ast.StringValue) and values["c"].value == "s"
    assert isinstance(values["d"], ast.Name) and values["d"].value == "city"
    items = values["e"].items
    assert [type(i) for i in items] == [ast.Quantity, ast.Name, ast.StringValue, ast.ListValue]
    assert items[3].items[0].value == 2


def test_perturb_mixed_positional_and_named_arguments():
    (call,) = one_test("    perturb f(1, n: 2)", "inv").perturb.chain
    assert [(a.name, a.value.value) for a in call.args] == [(None, 1), ("n", 2)]


def test_perturb_chain_with_then():
    perturb = one_test('    perturb prepend(["Well,"]) then typos(count: 1) then swap(city) variants 4', "inv").perturb
    assert [c.name.value for c in perturb.chain] == ["prepend", "typos", "swap"]
    assert perturb.chain[2].args[0].value.value == "city"
    assert perturb.variants.value == 4


def test_perturb_swap_is_a_name_after_perturb():
    # `swap` is also a statement keyword; after `perturb` and `then` it is a perturbation name
    perturb = one_test("    perturb swap(first_name) then swap(city)", "inv").perturb
    assert [c.name.value for c in perturb.chain] == ["swap", "swap"]


# ---------------------------------------------------------------- swap


def test_swap_statement():
    test = one_test('    template "{first_name} is {a:religion_adj} critic."\n    swap religion_adj', "inv")
    assert isinstance(test.swap, ast.Name) and test.swap.value == "religion_adj"
    assert span(test.swap) == (4, 10, 4, 22)


# ---------------------------------------------------------------- where


@pytest.mark.parametrize(
    "condition, op, labels",
    [
        ("label == positive", "==", ["positive"]),
        ("label != negative", "!=", ["negative"]),
        ('label == ">50K"', "==", [">50K"]),
        ("label in [a, b]", "in", ["a", "b"]),
        ('label in [a, "b c",]', "in", ["a", "b c"]),
    ],
)
def test_where_label_conditions(condition, op, labels):
    (where,) = one_test(f"    where original.{condition}", "dir").where
    assert isinstance(where, ast.LabelCondition)
    assert where.op == op
    assert [label.value for label in where.labels] == labels
    assert where.expected is False


def test_where_prob_condition():
    (where,) = one_test("    where original.prob(positive) >= 0.5", "dir").where
    assert isinstance(where, ast.ScoreCondition)
    assert where.subject.kind == "prob" and where.subject.label.value == "positive"
    assert where.op == ">=" and where.value.value == 0.5
    assert span(where) == (3, 20, 3, 41)
    assert span(where.subject) == (3, 20, 3, 34)
    assert span(where.subject.label) == (3, 25, 3, 33)
    assert span(where.value) == (3, 38, 3, 41)


def test_where_confidence_condition():
    (where,) = one_test("    where original.confidence < 0.9", "dir").where
    assert isinstance(where, ast.ScoreCondition)
    assert where.subject.kind == "confidence" and where.subject.label is None
    assert where.op == "<" and where.value.value == 0.9


def test_where_repeats():
    test = one_test("    where original.label == positive\n    where original.confidence < 0.9", "dir")
    assert [type(w) for w in test.where] == [ast.LabelCondition, ast.ScoreCondition]


# ---------------------------------------------------------------- expectations


@pytest.mark.parametrize(
    "line, op, labels",
    [
        ("label == positive", "==", ["positive"]),
        ("label != positive", "!=", ["positive"]),
        ('label == "<=50K"', "==", ["<=50K"]),
        ("label in [positive]", "in", ["positive"]),
        ("label in [a, b, c]", "in", ["a", "b", "c"]),
        ("label not in [a, b]", "not in", ["a", "b"]),
    ],
)
def test_expect_label(line, op, labels):
    expectation = expect_of(line)
    assert isinstance(expectation, ast.LabelCondition)
    assert expectation.op == op
    assert [label.value for label in expectation.labels] == labels
    assert expectation.expected is False


@pytest.mark.parametrize("op", ["==", "!="])
def test_expect_label_expected(op):
    expectation = expect_of(f"label {op} expected")
    assert isinstance(expectation, ast.LabelCondition)
    assert expectation.op == op and expectation.expected is True and expectation.labels == []


def test_expect_label_span():
    expectation = expect_of("label == positive")
    assert span(expectation) == (3, 12, 3, 29)
    assert span(expectation.labels[0]) == (3, 21, 3, 29)


@pytest.mark.parametrize(
    "line, kind, label, op, value, percent",
    [
        ("prob(positive) >= 0.8", "prob", "positive", ">=", 0.8, False),
        ('prob(">50K") < 30%', "prob", ">50K", "<", 0.3, True),
        ("confidence > 0.5", "confidence", None, ">", 0.5, False),
        ("confidence == 1", "confidence", None, "==", 1.0, False),
        ("confidence != 0", "confidence", None, "!=", 0.0, False),
        ("prob(x) <= 1e-1", "prob", "x", "<=", 0.1, False),
    ],
)
def test_expect_score(line, kind, label, op, value, percent):
    expectation = expect_of(line)
    assert isinstance(expectation, ast.ScoreCondition)
    assert expectation.subject.kind == kind
    assert (expectation.subject.label.value if expectation.subject.label else None) == label
    assert expectation.op == op
    assert expectation.value.value == pytest.approx(value)
    assert expectation.value.percent is percent


def test_expect_unchanged():
    expectation = expect_of("unchanged", "inv")
    assert isinstance(expectation, ast.UnchangedExpect)
    assert expectation.tolerance is None
    assert span(expectation) == (3, 12, 3, 21)


def test_expect_unchanged_with_tolerance():
    expectation = expect_of("unchanged tolerance 0.1", "inv")
    assert isinstance(expectation, ast.UnchangedExpect)
    assert expectation.tolerance.value == 0.1 and expectation.tolerance.text == "0.1"
    assert span(expectation.tolerance) == (3, 32, 3, 35)


@pytest.mark.parametrize(
    "line, kind, label, direction, negated, tolerance",
    [
        ("prob(positive) increasing", "prob", "positive", "increasing", False, None),
        ("prob(positive) decreasing", "prob", "positive", "decreasing", False, None),
        ("prob(positive) not increasing", "prob", "positive", "increasing", True, None),
        ("prob(positive) not decreasing", "prob", "positive", "decreasing", True, None),
        ("prob(positive) increasing tolerance 0.05", "prob", "positive", "increasing", False, 0.05),
        ("prob(negative) decreasing tolerance 5%", "prob", "negative", "decreasing", False, 0.05),
        ("prob(positive) not increasing tolerance 0.1", "prob", "positive", "increasing", True, 0.1),
        ("confidence not decreasing tolerance 0.05", "confidence", None, "decreasing", True, 0.05),
        ("confidence increasing", "confidence", None, "increasing", False, None),
    ],
)
def test_expect_monotonic(line, kind, label, direction, negated, tolerance):
    expectation = expect_of(line, "dir")
    assert isinstance(expectation, ast.MonotonicExpect)
    assert expectation.subject.kind == kind
    assert (expectation.subject.label.value if expectation.subject.label else None) == label
    assert expectation.direction == direction
    assert expectation.negated is negated
    if tolerance is None:
        assert expectation.tolerance is None
    else:
        assert expectation.tolerance.value == pytest.approx(tolerance)


@pytest.mark.parametrize(
    "line, metric, op, value",
    [
        ("max_gap <= 0.1", "max_gap", "<=", 0.1),
        ("min_ratio >= 0.8", "min_ratio", ">=", 0.8),
        ("max_gap <= 10%", "max_gap", "<=", 0.1),
        ("something_else == 3", "something_else", "==", 3.0),
    ],
)
def test_expect_metric(line, metric, op, value):
    expectation = expect_of(line, "fairness")
    assert isinstance(expectation, ast.MetricExpect)
    assert isinstance(expectation.metric, ast.Name) and expectation.metric.value == metric
    assert expectation.op == op
    assert expectation.value.value == pytest.approx(value)


def test_expect_metric_span():
    expectation = expect_of("max_gap <= 0.10", "fairness")
    assert span(expectation.metric) == (3, 12, 3, 19)
    assert span(expectation.value) == (3, 23, 3, 27)
    assert expectation.value.text == "0.10"


def test_expects_repeat_in_order():
    test = one_test("    expect min_ratio >= 0.8\n    expect max_gap <= 0.2", "fairness")
    assert [e.metric.value for e in test.expects] == ["min_ratio", "max_gap"]


# ---------------------------------------------------------------- max_fail_rate, by, metric, positive


@pytest.mark.parametrize(
    "text, value, percent",
    [("5%", 0.05, True), ("0.05", 0.05, False), ("12.5%", 0.125, True), ("0", 0.0, False), ("100%", 1.0, True)],
)
def test_max_fail_rate(text, value, percent):
    rate = one_test(f"    max_fail_rate {text}").max_fail_rate
    assert isinstance(rate, ast.Quantity)
    assert rate.value == pytest.approx(value)
    assert rate.percent is percent
    assert rate.text == text
    assert span(rate) == (3, 19, 3, 19 + len(text))


def test_negative_numbers_parse():
    # ranges are the checker's business: the grammar accepts signs
    test = one_test("    max_fail_rate -5%\n    sample -3")
    assert test.max_fail_rate.value == pytest.approx(-0.05)
    assert test.sample.size.value == -3


def test_by_one_name():
    test = one_test("    by nationality", "fairness")
    assert [n.value for n in test.by] == ["nationality"]
    assert span(test.by[0]) == (3, 8, 3, 19)


def test_by_two_names():
    test = one_test("    by sex, race", "fairness")
    assert [n.value for n in test.by] == ["sex", "race"]
    assert span(test.by[1]) == (3, 13, 3, 17)


def test_metric_mean_prob():
    metric = one_test("    metric mean prob(positive)", "fairness").metric
    assert isinstance(metric, ast.Metric)
    assert metric.kind == "mean"
    assert metric.subject.kind == "prob" and metric.subject.label.value == "positive"
    assert span(metric) == (3, 5, 3, 31)


def test_metric_mean_confidence():
    metric = one_test("    metric mean confidence", "fairness").metric
    assert metric.kind == "mean" and metric.subject.kind == "confidence"


def test_metric_positive_rate():
    metric = one_test("    metric positive_rate", "fairness").metric
    assert metric.kind == "positive_rate" and metric.subject is None


@pytest.mark.parametrize("label, value", [("positive", "positive"), ('">50K"', ">50K")])
def test_positive_label(label, value):
    # `positive positive` works: after the keyword, a name is expected
    positive = one_test(f"    positive {label}", "fairness").positive
    assert isinstance(positive, ast.Name) and positive.value == value
    assert span(positive) == (3, 14, 3, 14 + len(label))


def test_fairness_test_with_every_statement():
    test = one_test(
        '    template "{first_name} is {a:sexual_adj} film critic."\n'
        "    sample 2000 seed 5\n"
        "    by sexual_adj\n"
        "    metric positive_rate\n"
        "    positive positive\n"
        "    expect min_ratio >= 0.8\n"
        "    expect max_gap <= 0.2",
        "fairness",
    )
    assert test.kind == "fairness"
    assert len(test.templates) == 1 and test.sample.size.value == 2000
    assert test.by[0].value == "sexual_adj"
    assert test.metric.kind == "positive_rate" and test.positive.value == "positive"
    assert len(test.expects) == 2


# ---------------------------------------------------------------- lexical matters


def test_comments_anywhere():
    spec = p(
        "# leading comment\n"
        'spec "x" # after the spec line\n'
        "model m { # after a brace\n"
        '  onnx "m.onnx" # after a statement\n'
        "  # a line of its own\n"
        "  output probabilities labels [a, # inside a list\n"
        "    b]\n"
        "}\n"
        'capability "c" { # c\n'
        '  mft "t" { # t\n'
        '    template "has # no comment" -> a  # but this is one\n'
        "    expect label == a#no space needed\n"
        "  }\n"
        "}\n"
        "# trailing comment without newline"
    )
    assert spec.name == "x"
    assert [label.value for label in spec.models[0].labels] == ["a", "b"]
    test = spec.capabilities[0].tests[0]
    assert test.templates[0].text == "has # no comment"
    assert test.expects[0].labels[0].value == "a"


def test_newlines_are_not_significant():
    spec = p('capability "c" { mft "t" { template "x" -> a expect label == a max_fail_rate 5% } }')
    test = spec.capabilities[0].tests[0]
    assert test.templates[0].label.value == "a"
    assert test.max_fail_rate.value == pytest.approx(0.05)


def test_keywords_as_label_names():
    spec = p(
        "model m {\n"
        "  onnx \"m.onnx\"\n"
        "  input text\n"
        "  output probabilities labels [label, text, expected, model, in, not]\n"
        "}\n"
    )
    assert [label.value for label in spec.models[0].labels] == ["label", "text", "expected", "model", "in", "not"]


def test_keywords_as_names_in_tests():
    test = one_test(
        '    template "x" -> label\n'
        "    expect label == text\n"
        "    expect prob(label) >= 0.5\n"
        "    expect label in [text, label]",
        header=" on model",
    )
    assert test.on[0].value == "model"
    assert test.templates[0].label.value == "label"
    assert test.expects[0].labels[0].value == "text"
    assert test.expects[1].subject.label.value == "label"
    assert [n.value for n in test.expects[2].labels] == ["text", "label"]


def test_keywords_as_declaration_names():
    spec = p('model input { }\ndataset text = csv "a.csv" { label: expected }\nlexicon file = ["a"]\n')
    assert spec.models[0].name.value == "input"
    assert spec.datasets[0].name.value == "text"
    assert spec.datasets[0].fields["label"].value == "expected"
    assert spec.lexicons[0].name.value == "file"


def test_keyword_prefix_is_a_name():
    # `labels_x` is one name, not the keyword `labels` followed by `_x`
    test = one_test("    from inventory\n    perturb typos_extra", "inv")
    assert test.source.value == "inventory"
    assert test.perturb.chain[0].name.value == "typos_extra"


@pytest.mark.parametrize(
    "written, value",
    [
        (r'"say \"hi\""', 'say "hi"'),
        (r'"back\\slash"', "back\\slash"),
        (r'"line\nbreak"', "line\nbreak"),
        (r'"tab\there"', "tab\there"),
        (r'"\\n is not a newline"', "\\n is not a newline"),
        (r'"unknown \q escape"', "unknown q escape"),
        (r'""', ""),
        ('"caf\u00e9 \u2014 \u00fcber"', "caf\u00e9 \u2014 \u00fcber"),
    ],
)
def test_string_escapes(written, value):
    (lexicon,) = p(f"lexicon x = [{written}]").lexicons
    assert lexicon.values == [value]


def test_escapes_in_template_text_and_spans():
    test = one_test(r'    template "a \"quoted\" {thing}"')
    template = test.templates[0]
    assert template.text == 'a "quoted" {thing}'
    # the span is the string as written, escapes included
    assert span(template.text_span) == (3, 14, 3, 36)


def test_numbers():
    spec = p('spec "x" seed 007\nmodel m { batch 1e3 }')
    assert spec.seed.value == 7 and spec.seed.text == "007"
    assert spec.models[0].batch.value == 1000 and spec.models[0].batch.text == "1e3"


def test_keywords_list():
    words = keywords()
    for word in ["spec", "model", "dataset", "lexicon", "capability", "mft", "inv", "dir", "fairness", "expect", "perturb"]:
        assert word in words
    assert "NAME" not in words and "==" not in words


@pytest.mark.parametrize(
    "text",
    [
        'spec sentiment',  # a title is a string
        'model "m" { }',  # a name is not a string
        'capability "c" { mft t { } }',  # titles are strings
        'capability "c" { mft "t" { expect label } }',
        'capability "c" { mft "t" { expect prob positive >= 0.5 } }',
        'capability "c" { mft "t" { perturb } }',
        'capability "c" { mft "t" { expect label == a } ',  # unclosed
        'lexicon x = [a, b]',  # lexicon values are strings
        'dataset d = tsv "d.tsv"',
        'mft "t" { }',  # tests live in capabilities
    ],
)
def test_rejected_syntax(text):
    fails(text)


# ---------------------------------------------------------------- demo spec


def test_demo_spec_parses():
    spec = parse(DEMO.read_text(encoding="utf-8"), str(DEMO))
    assert spec.name == "sentiment"
    assert spec.seed.value == 1
    assert [m.name.value for m in spec.models] == ["sentiment"]
    assert spec.models[0].output_kind == "probabilities"
    assert [l.value for l in spec.models[0].labels] == ["negative", "positive"]
    assert spec.models[0].batch.value == 512
    assert [d.name.value for d in spec.datasets] == ["reviews", "reviews_jsonl"]
    assert [d.format for d in spec.datasets] == ["csv", "jsonl"]
    assert len(spec.lexicons) == 7
    assert [c.title for c in spec.capabilities] == ["Vocabulary", "Negation", "Robustness", "Fairness"]
    assert [len(c.tests) for c in spec.capabilities] == [5, 3, 9, 8]
    kinds = [t.kind for c in spec.capabilities for t in c.tests]
    assert len(kinds) == 25
    assert kinds.count("fairness") == 4
    assert {"mft", "inv", "dir", "fairness"} == set(kinds)


def test_demo_spec_spans_point_into_the_file():
    text = DEMO.read_text(encoding="utf-8")
    lines = text.splitlines()
    spec = parse(text, str(DEMO))
    for capability in spec.capabilities:
        for test in capability.tests:
            s = test.title_span
            assert lines[s.line - 1][s.col - 1 : s.end_col - 1] == f'"{test.title}"'
            for template in test.templates:
                t = template.text_span
                assert lines[t.line - 1][t.col - 1 : t.end_col - 1] == f'"{template.text}"'
