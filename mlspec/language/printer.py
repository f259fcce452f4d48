"""AST -> spec text, in the canonical layout: what tools write (`mlspec import checklist`).

`mlspec fmt` (mlspec/language/formatter.py) lays out text that an author wrote, keeping
its tokens and comments; this module writes text from AST nodes, with the same layout,
so what a tool writes is already formatted (`format_spec(text) == text`). Both share the
layout constants and the wrapping of long lines (`wrap`), and every string literal is
written by `mlspec.language.literals`.

Three levels, each usable on its own:

- pieces: `string`, `label`, `label_list`, `quantity`, `value`, `call`, `subject`,
  `condition`, `expectation`: the text of one part of a statement
  (`label_list(["negative", "very bad"])` is `[negative, "very bad"]`);
- statements: `model_statements`, `dataset`, `lexicon`, `test_statements`, `where`,
  `expect`, ...: one statement a string, on one line;
- layout: `Block` (a header, a body, leading comments), `Line` (a statement with an
  optional trailing comment), `Comment`, `BLANK`, and `render(items)`, which indents,
  wraps lines longer than `MAX_WIDTH` at the commas of their lists and places blank
  lines by `fmt`'s rules. `model`, `test`, `capability` build the blocks of AST nodes
  and `spec_file` prints a whole SpecFile.

Printing never changes meaning: `parse(print(node))` gives the node back, spans aside. The
AST does not keep the order of a block's statements, so a block's statements are written
in one fixed order; comments are not in the AST, so a tool adds its own as layout items.
A node a tool builds needs a span: `NOWHERE` is one that points at no file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from mlspec.errors import Span
from mlspec.language import ast
from mlspec.language.literals import is_name, name_or_string, quote

__all__ = [
    "BLANK",
    "CONTINUATION",
    "INDENT",
    "MAX_WIDTH",
    "NOWHERE",
    "Block",
    "Comment",
    "Line",
    "call",
    "capability",
    "condition",
    "dataset",
    "expect",
    "expectation",
    "label",
    "label_list",
    "lexicon",
    "model",
    "name",
    "model_statements",
    "quantity",
    "render",
    "slice_condition",
    "spec_file",
    "string",
    "subject",
    "test",
    "test_header",
    "test_statements",
    "value",
    "where",
    "wrap",
]

MAX_WIDTH = 100  # lines longer than this are wrapped at the commas of their lists, if they have any
INDENT = "  "  # one block level
CONTINUATION = "    "  # extra indentation of a wrapped statement's continuation lines

_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")  # the grammar's NUMBER terminal
NOWHERE = Span(file="<printer>", line=1, col=1, end_line=1, end_col=1)  # the span of a node a tool builds


# ---------------------------------------------------------------- pieces


def string(text: str) -> str:
    """A string literal."""
    return quote(text)


def label(node: ast.Name | str) -> str:
    """A label: a bare name when it is one (`positive`), else a string (`"very bad"`)."""
    return name_or_string(node.value if isinstance(node, ast.Name) else node)


def label_list(labels: Iterable[ast.Name | str]) -> str:
    """`[negative, "very bad"]`."""
    return "[" + ", ".join(label(item) for item in labels) + "]"


def name(node: ast.Name | str) -> str:
    """A name (of a model, dataset, lexicon, column, perturbation, ...): written bare, so it must be one."""
    text = node.value if isinstance(node, ast.Name) else node
    if not is_name(text):
        raise ValueError(f"{text!r} is not a name ([A-Za-z_][A-Za-z0-9_]*)")
    return text


def _names(names: Iterable[ast.Name]) -> str:
    return ", ".join(name(n) for n in names)


def quantity(node: ast.Quantity) -> str:
    """A number, percentage or duration as written (`0.10`, `5%`, `50ms`)."""
    return node.text


def _field_value(node: ast.Name) -> str:
    """The column of a dataset field: a name, a number, or a string."""
    text = node.value
    return text if is_name(text) or _NUMBER.fullmatch(text) else quote(text)


def value(node: ast.Value) -> str:
    """An argument value: a quantity, a string, a name or a list of values."""
    if isinstance(node, ast.Quantity):
        return quantity(node)
    if isinstance(node, ast.StringValue):
        return quote(node.value)
    if isinstance(node, ast.ListValue):
        return "[" + ", ".join(value(item) for item in node.items) + "]"
    return name(node)


def call(node: ast.Call) -> str:
    """`typos(count: 1)`, or the bare name of a call without arguments."""
    if not node.args:
        return name(node.name)
    args = ", ".join((f"{name(arg.name)}: " if arg.name is not None else "") + value(arg.value) for arg in node.args)
    return f"{name(node.name)}({args})"


def subject(node: ast.Subject) -> str:
    """`prob(positive)`, `margin(positive, negative)` or `confidence`."""
    if node.kind == "prob":
        return f"prob({label(node.label)})"
    if node.kind == "margin":
        return f"margin({label(node.label)}, {label(node.minus)})"
    if node.kind == "value":
        return f"value({label(node.label)})" if node.label is not None else "value"
    return "confidence"


def condition(node: ast.LabelCondition | ast.ScoreCondition) -> str:
    """A condition on a prediction: `label != neutral`, `label in [a, b]`, `confidence < 0.9`."""
    if isinstance(node, ast.ScoreCondition):
        return f"{subject(node.subject)} {node.op} {quantity(node.value)}"
    if node.expected:
        return f"label {node.op} expected"
    if node.op in ("in", "not in"):
        return f"label {node.op} {label_list(node.labels)}"
    (only,) = node.labels
    return f"label {node.op} {label(only)}"


def expectation(node: ast.Expectation) -> str:
    """What follows `expect`."""
    if isinstance(node, (ast.LabelCondition, ast.ScoreCondition)):
        return condition(node)
    if isinstance(node, ast.UnchangedExpect):
        return (f"{subject(node.subject)} " if node.subject is not None else "") + "unchanged" + _tolerance(node.tolerance)
    if isinstance(node, ast.WithinExpect):
        return f"{subject(node.subject)} within {quantity(node.tolerance)} of expected"
    if isinstance(node, ast.MonotonicExpect):
        return f"{subject(node.subject)}{' not' if node.negated else ''} {node.direction}" + _tolerance(node.tolerance)
    if isinstance(node, ast.ColumnExpect):
        return f"column {name(node.column)}" + (f": {name(node.type)}" if node.type is not None else "")
    if isinstance(node, ast.BetweenExpect):
        return f"{name(node.column)} between {quantity(node.low)} and {quantity(node.high)}"
    if isinstance(node, ast.CategoriesExpect):
        return f"{name(node.column)} in {_values(node.values)}"
    at = f" at {name(node.at_name)} {quantity(node.at_value)}" if node.at_name is not None else ""
    argument = f"({label(node.argument)})" if node.argument is not None else ""
    return f"{name(node.metric)}{argument} {node.op} {quantity(node.value)}{at}"


def _values(values: Iterable[ast.Value]) -> str:
    return "[" + ", ".join(value(item) for item in values) + "]"


def slice_condition(node: ast.SliceCondition) -> str:
    """`where sex == "Female"`, `where expected in [a, b]`."""
    column = name(node.column) if node.column is not None else "expected"
    shown = _values(node.values) if node.op == "in" else value(node.values[0])
    return f"where {column} {node.op} {shown}"


def _tolerance(node: ast.Quantity | None) -> str:
    return f" tolerance {quantity(node)}" if node is not None else ""


# ---------------------------------------------------------------- statements


def spec_line(name: str, seed: ast.Quantity | None = None) -> str:
    """`spec "name" seed 3`."""
    return f"spec {quote(name)}" + (f" seed {quantity(seed)}" if seed is not None else "")


def import_line(node: ast.Import) -> str:
    return f"import {quote(node.path)}"


def model_statements(node: ast.ModelDecl) -> list[str]:
    """The statements of a model block, in a fixed order: source, connection, input, output, batch."""
    lines = []
    if node.format is not None:
        protocol = f" protocol {name(node.protocol)}" if node.protocol is not None else ""
        lines.append(f"{node.format} {quote(node.path)}{protocol}")
    for keyword, setting in (("concurrency", node.concurrency), ("timeout", node.timeout), ("retries", node.retries)):
        if setting is not None:
            lines.append(f"{keyword} {quantity(setting)}")
    for header in node.headers:
        given = f"env {quote(header.env)}" if header.env is not None else quote(header.value or "")
        lines.append(f"header {quote(header.name)} {given}")
    if node.request_field is not None:
        lines.append(f"request {quote(node.request_field)}")
    if node.response_path is not None:
        lines.append(f"response {quote(node.response_path)}")
    if node.input_kind is not None:
        lines.append(_input(node))
    if node.output_kind == "value":
        outputs = [n.value for n in node.labels]
        lines.append("output value" if outputs == ["value"] else f"output values {label_list(node.labels)}")
    elif node.output_kind is not None:
        lines.append(f"output {node.output_kind} labels {label_list(node.labels)}")
    if node.batch is not None:
        lines.append(f"batch {quantity(node.batch)}")
    if node.neutral_band is not None:
        band = node.neutral_band
        lines.append(f"neutral between {band.low.text} and {band.high.text}")
    return lines


def _input(node: ast.ModelDecl) -> str:
    if node.input_kind == "tokens":
        tokenizer = node.tokenizer or ast.TokenizerDecl(span=NOWHERE)
        options = ""
        if tokenizer.vocabulary is not None:
            options += f" vocabulary {quote(tokenizer.vocabulary)}"
        if tokenizer.lowercase:
            options += " lowercase"
        if tokenizer.unknown is not None:
            options += f" unknown {quote(tokenizer.unknown)}"
        if tokenizer.padding is not None:
            options += f" padding {quote(tokenizer.padding)}"
        if tokenizer.max_length is not None:
            options += f" max_length {quantity(tokenizer.max_length)}"
        return "input tokens" + options
    if node.input_kind == "tokenizer":
        decl = node.hf_tokenizer
        return f"input tokenizer {quote(decl.path)}" + (f" max_length {quantity(decl.max_length)}" if decl.max_length is not None else "")
    if node.input_kind == "image":
        image = node.image
        shape = ", ".join(quantity(q) for q in image.shape)
        return f"input image shape [{shape}] range [{quantity(image.low)}, {quantity(image.high)}]"
    if node.input_kind == "table":
        return f"input table columns [{_names(node.columns)}]"
    return "input text"


def dataset(node: ast.DatasetDecl) -> str:
    """`dataset reviews = csv "reviews.csv" { text: review, label: label }`."""
    fields = ", ".join(f"{name(key)}: {_field_value(column)}" for key, column in node.fields.items())
    return f"dataset {name(node.name)} = {node.format} {quote(node.path)}" + (f" {{ {fields} }}" if fields else "")


def lexicon(node: ast.LexiconDecl) -> str:
    """`lexicon adj = ["good", "bad"]` or `lexicon adj = file "adj.txt"`."""
    if node.file is not None:
        return f"lexicon {name(node.name)} = file {quote(node.file)}"
    return f"lexicon {name(node.name)} = [" + ", ".join(quote(v) for v in node.values or []) + "]"


def where(node: ast.LabelCondition | ast.ScoreCondition) -> str:
    """`where original.label != neutral`."""
    return f"where original.{condition(node)}"


def expect(node: ast.Expectation) -> str:
    """`expect label == positive`."""
    return f"expect {expectation(node)}"


def test_header(kind: str, title: str, on: Iterable[ast.Name] = ()) -> str:
    """`mft "title"` or `mft "title" on m1, m2` (a block header, without its `{`)."""
    models = _names(on)
    return f"{kind} {quote(title)}" + (f" on {models}" if models else "")


def test_statements(node: ast.TestDecl) -> list[str]:
    """The statements of a test, in a fixed order: its cases, what it changes, what it expects."""
    lines = []
    for template in node.templates:
        lines.append(f"template {quote(template.text)}" + (f" -> {label(template.label)}" if template.label else ""))
    if node.source is not None:
        lines.append(f"from {name(node.source)}")
    if node.against is not None:
        lines.append(f"against {name(node.against)}")
    if node.sample is not None:
        lines.append(f"sample {quantity(node.sample.size)}" + (f" seed {quantity(node.sample.seed)}" if node.sample.seed is not None else ""))
    if node.perturb is not None:
        variants = f" variants {quantity(node.perturb.variants)}" if node.perturb.variants is not None else ""
        lines.append("perturb " + " then ".join(call(c) for c in node.perturb.chain) + variants)
    if node.swap is not None:
        lines.append(f"swap {name(node.swap)}")
    lines += [slice_condition(condition) for condition in node.slices]
    lines += [where(condition) for condition in node.where]
    if node.by:
        lines.append(f"by {_names(node.by)}")
    if node.metric is not None:
        lines.append(f"metric mean {subject(node.metric.subject)}" if node.metric.kind == "mean" else f"metric {node.metric.kind}")
    if node.positive is not None:
        lines.append(f"positive {label(node.positive)}")
    if node.privileged is not None:
        lines.append(f"privileged {name(node.privileged_column)} {node.privileged.op} {label(node.privileged.labels[0])}")
    if node.method is not None:
        lines.append(f"method {call(node.method)}")
    for keyword in ("min_group_size", "requests", "duration", "concurrency"):
        if getattr(node, keyword) is not None:
            lines.append(f"{keyword} {quantity(getattr(node, keyword))}")
    lines += [expect(expectation) for expectation in node.expects]
    if node.max_fail_rate is not None:
        lines.append(f"max_fail_rate {quantity(node.max_fail_rate)}")
    return lines


# ---------------------------------------------------------------- layout


@dataclass
class Comment:
    """A comment on a line of its own; `text` follows `# ` (each of its lines is one comment)."""

    text: str


@dataclass
class Line:
    """A statement on one line (wrapped when too long), with an optional comment after it."""

    text: str
    comment: str | None = None  # follows `  # ` on the statement's first line


@dataclass
class Block:
    """`header {`, the body one level in, `}`; `comments` go on their own lines before it.
    A capability and a test follow a blank line (not the first of a block), as `fmt` writes them."""

    header: str
    body: list[Item] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    @property
    def spaced(self) -> bool:
        return not self.header.startswith("model ")  # the grammar's blocks: model, capability, test


class _Blank:
    def __repr__(self) -> str:
        return "BLANK"


BLANK = _Blank()  # a blank line; runs collapse to one, and none follows `{` or precedes `}`

Item = str | Line | Comment | Block | _Blank


def model(node: ast.ModelDecl) -> Block:
    return Block(f"model {name(node.name)}", list(model_statements(node)))


def test(node: ast.TestDecl) -> Block:
    return Block(test_header(node.kind, node.title, node.on), list(test_statements(node)))


def capability(node: ast.Capability) -> Block:
    return Block(f"capability {quote(node.title)}", [test(t) for t in node.tests])


def spec_file(node: ast.SpecFile) -> str:
    """A whole spec file: the spec line and imports, models, datasets, lexicons, capabilities."""
    items: list[Item] = []
    if node.name is not None:
        items.append(spec_line(node.name, node.seed))
    items += [import_line(i) for i in node.imports]
    for decl in node.models:
        items += [BLANK, model(decl)]
    for group in ([dataset(d) for d in node.datasets], [lexicon(x) for x in node.lexicons]):
        if group:
            items += [BLANK, *group]
    items += [capability(c) for c in node.capabilities]
    return render(items)


def render(items: Iterable[Item]) -> str:
    """The text of layout items: indented, wrapped, blank lines placed as `fmt` does; one
    newline at the end (the empty string for nothing)."""
    out: list = []
    _emit(list(items), 0, out)
    lines: list = []
    for entry in out:  # the blank-line rules of fmt
        if entry is BLANK:
            if lines and lines[-1] is not BLANK and lines[-1][1] != "open":
                lines.append(BLANK)
            continue
        if entry[1] == "close" and lines and lines[-1] is BLANK:
            lines.pop()
        lines.append(entry)
    while lines and lines[-1] is BLANK:
        lines.pop()
    text = "\n".join("" if line is BLANK else line[0].rstrip() for line in lines)
    return text + "\n" if text else ""


def _comment_lines(text: str) -> list[str]:
    return [f"# {line}" for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]


def _emit(items: list[Item], depth: int, out: list) -> None:
    indent = INDENT * depth
    for item in items:
        if item is BLANK:
            out.append(BLANK)
        elif isinstance(item, Comment):
            out += [(indent + line, "comment") for line in _comment_lines(item.text)]
        elif isinstance(item, Block):
            if item.spaced:
                out.append(BLANK)
            out += [(indent + line, "comment") for text in item.comments for line in _comment_lines(text)]
            out.append((wrap(_segments(_one_line(item.header) + " {"), indent)[0], "open"))
            _emit(item.body, depth + 1, out)
            out.append((indent + "}", "close"))
        else:
            line = item if isinstance(item, Line) else Line(item)
            wrapped = wrap(_segments(_one_line(line.text)), indent)
            trailing = f"  # {_one_line(line.comment)}" if line.comment is not None else ""
            out.append((wrapped[0] + trailing, "stmt"))
            out += [(text, "stmt") for text in wrapped[1:]]


def _one_line(text: str) -> str:
    if "\n" in text or "\r" in text:
        raise ValueError(f"a statement, a block header or a comment after a statement is one line: {text!r}")
    return text


def _segments(text: str) -> list[str]:
    """A statement cut after each comma of its `[...]` lists (strings skipped), the space
    after each cut dropped: `wrap` puts the pieces back on one line or several."""
    segments, start, depth, i = [], 0, 0, 0
    while i < len(text):
        char = text[i]
        if char == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth > 0:
            segments.append(text[start : i + 1])
            start = i + 2 if text[i + 1 : i + 2] == " " else i + 1
            i = start
            continue
        i += 1
    segments.append(text[start:])
    return segments


def wrap(segments: list[str], indent: str) -> list[str]:
    """A statement's segments (cut after the commas of its lists) on one line when it fits in
    MAX_WIDTH, else greedily as many a line as fit, continuation lines indented by CONTINUATION."""
    single = indent + " ".join(segments)
    if len(single) <= MAX_WIDTH or len(segments) == 1:
        return [single]
    lines = [indent + segments[0]]
    for segment in segments[1:]:
        if len(lines[-1]) + 1 + len(segment) <= MAX_WIDTH:
            lines[-1] += " " + segment
        else:
            lines.append(indent + CONTINUATION + segment)
    return lines
