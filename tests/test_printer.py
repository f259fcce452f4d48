"""`mlspec.language.printer`: AST -> text in `mlspec fmt`'s layout, which parses back to the AST."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlspec.errors import MlspecError
from mlspec.language import ast, printer
from mlspec.language.formatter import format_spec
from mlspec.language.parser import parse
from mlspec.language.printer import BLANK, NOWHERE, Block, Comment, Line, render

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(
    path
    for path in ROOT.rglob("*.mlspec")
    if not any(part.startswith(".") or part in ("node_modules", "build", "dist") for part in path.relative_to(ROOT).parts)
)
EXAMPLE_IDS = [str(path.relative_to(ROOT)) for path in EXAMPLES]


def without_spans(node):
    """A node's fields as data, leaving out where things were written."""
    if isinstance(node, dict):
        return {k: without_spans(v) for k, v in node.items() if not (k in ("span", "raw", "path") or k.endswith(("_span", "_spans")))}
    if isinstance(node, list):
        return [without_spans(v) for v in node]
    return node


@pytest.mark.parametrize("path", EXAMPLES, ids=EXAMPLE_IDS)
def test_printing_an_example_gives_its_ast_back_formatted(path):
    try:
        spec = parse(path.read_text(encoding="utf-8"), str(path))
    except MlspecError:
        pytest.skip("a spec with errors on purpose")
    text = printer.spec_file(spec)
    again = parse(text, "printed.mlspec")
    assert without_spans(again.model_dump()) == without_spans(spec.model_dump())
    assert format_spec(text, "printed.mlspec") == text
    assert printer.spec_file(again) == text


def name(value: str) -> ast.Name:
    return ast.Name(value=value, span=NOWHERE)


def number(text: str) -> ast.Quantity:
    percent = text.endswith("%")
    return ast.Quantity(value=float(text.rstrip("%")) / (100 if percent else 1), percent=percent, text=text, span=NOWHERE)


def test_pieces():
    assert printer.label_list(["negative", "very bad", name("expected")]) == '[negative, "very bad", "expected"]'
    assert printer.string('a "b"\n') == '"a \\"b\\"\\n"'
    confidence = ast.Subject(kind="confidence", span=NOWHERE)
    margin = ast.Subject(kind="margin", label=name("very good"), minus=name("bad"), span=NOWHERE)
    assert printer.where(ast.ScoreCondition(subject=confidence, op="<", value=number("0.9"), span=NOWHERE)) == "where original.confidence < 0.9"
    assert printer.expect(ast.MonotonicExpect(subject=margin, direction="increasing", negated=True, span=NOWHERE)) == (
        'expect margin("very good", bad) not increasing'
    )
    assert printer.expect(ast.LabelCondition(op="not in", labels=[name("a b"), name("c")], span=NOWHERE)) == 'expect label not in ["a b", c]'
    assert printer.expect(ast.LabelCondition(op="==", expected=True, span=NOWHERE)) == "expect label == expected"
    assert printer.expect(ast.LabelCondition(op="==", labels=[name("expected")], span=NOWHERE)) == 'expect label == "expected"'
    fields = {"text": name("review text"), "label": name("label"), "weight": name("2")}
    decl = ast.DatasetDecl(name=name("d"), format="csv", path="d.csv", path_span=NOWHERE, fields=fields, span=NOWHERE)
    assert printer.dataset(decl) == 'dataset d = csv "d.csv" { text: "review text", label: label, weight: 2 }'
    with pytest.raises(ValueError, match="is not a name"):
        printer.dataset(decl.model_copy(update={"name": name("my data")}))


def test_a_built_spec_parses_to_what_was_built():
    model = ast.ModelDecl(
        name=name("m"), format="onnx", path="m.onnx", input_kind="text", output_kind="probabilities",
        labels=[name("very bad"), name("neutral"), name("positive")], span=NOWHERE,
    )  # fmt: skip
    test = ast.TestDecl(
        kind="mft", title='say "hi"', title_span=NOWHERE, source=name("d"),
        expects=[ast.LabelCondition(op="==", labels=[name("very bad")], span=NOWHERE)], max_fail_rate=number("5%"), span=NOWHERE,
    )  # fmt: skip
    dataset = ast.DatasetDecl(name=name("d"), format="jsonl", path="d.jsonl", path_span=NOWHERE, span=NOWHERE)
    capability = ast.Capability(title="C", tests=[test], span=NOWHERE)
    spec = ast.SpecFile(path="x", name="x", models=[model], datasets=[dataset], capabilities=[capability], span=NOWHERE)
    text = printer.spec_file(spec)
    assert text == (
        'spec "x"\n\nmodel m {\n  onnx "m.onnx"\n  input text\n  output probabilities labels ["very bad", neutral, positive]\n}\n\n'
        'dataset d = jsonl "d.jsonl"\n\ncapability "C" {\n  mft "say \\"hi\\"" {\n    from d\n    expect label == "very bad"\n'
        "    max_fail_rate 5%\n  }\n}\n"
    )
    assert without_spans(parse(text, "x").model_dump()) == without_spans(spec.model_dump())


def test_render_places_blank_lines_and_comments_as_fmt_does():
    items = [
        BLANK,
        Comment("header\nsecond line"),
        'spec "s"',
        BLANK,
        BLANK,
        Block("model m", [Line('onnx "m.onnx"', "replace me"), "input text", BLANK]),
        Block(
            'capability "C"',
            [
                Block('mft "a"', ["from d"], comments=["1. a"]),
                Block('inv "b"', [BLANK, "from d", Comment("")]),
                BLANK,
                Comment('commented out: mft "c" {'),
            ],
        ),
    ]
    text = render(items)
    assert text == (
        '# header\n# second line\nspec "s"\n\nmodel m {\n  onnx "m.onnx"  # replace me\n  input text\n}\n\n'
        'capability "C" {\n  # 1. a\n  mft "a" {\n    from d\n  }\n\n  inv "b" {\n    from d\n    #\n  }\n\n'
        '  # commented out: mft "c" {\n}\n'
    )
    assert format_spec(text, "r.mlspec") == text
    assert render([]) == "" and render([BLANK]) == ""
    for broken in (['spec "a\nb"'], [Line("from d", "a\rb")], [Block('capability "a\nb"')]):
        with pytest.raises(ValueError):
            render(broken)


def test_long_statements_wrap_as_fmt_wraps_them():
    words = [f'"word number {i}, with a comma"' for i in range(14)]
    columns = [f"column_{i}" for i in range(30)]
    statements = [
        "lexicon long = [" + ", ".join(words) + "]",
        "input table columns [" + ", ".join(columns) + "]",
        "perturb replace(words: [" + ", ".join(words[:6]) + "]) then typos(count: 1)",
        "expect label in [" + ", ".join(f'"label {i}"' for i in range(20)) + "]",
    ]
    text = render([statements[0], Block("model m", [statements[1]]), Block('capability "c"', [Block('inv "t"', statements[2:])])])
    assert max(len(line) for line in text.splitlines()) <= printer.MAX_WIDTH
    assert len(text.splitlines()) > 10
    assert format_spec(text, "long.mlspec") == text
    lexicon = parse(text, "long.mlspec").lexicons[0]
    assert lexicon.values == [w.strip('"') for w in words]
