"""Stage 1: spec text -> AST (`parse`).

The grammar lives in `grammar/mlspec.lark` and is loaded once (LALR, contextual lexer,
strict). A Lark Transformer builds the pydantic AST directly; Lark trees and tokens never
leave this module. Syntax errors become located diagnostics that say what was expected;
statements given twice where one is allowed are reported together after the parse.
"""

from __future__ import annotations

import gc
import re
from functools import lru_cache
from importlib import resources

import lark
from lark import Lark, Token, Transformer, v_args

from mlspec.errors import Diagnostic, MlspecError, ParseError, Span, did_you_mean, remember_source
from mlspec.language import ast
from mlspec.language.literals import unquote
from mlspec.library.articles import indefinite_article

TERMINAL_DESCRIPTIONS = {
    "NAME": "a name",
    "STRING": "a string",
    "NUMBER": "a number",
    "PERCENT": "a percentage",
    "DURATION": "a duration (2s, 50ms)",
    "CMP": "a comparison (==, !=, >=, <=, >, <)",
    "$END": "the end of the file",
}


@lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = resources.files("grammar").joinpath("mlspec.lark").read_text(encoding="utf-8")
    # the analysed grammar is kept in a private cache folder, for a fast start (never Lark's
    # cache=True: a pickle in the shared temporary folder, which another user can plant)
    from mlspec.language.lark_cache import cached_lark

    return cached_lark(grammar, parser="lalr", propagate_positions=True, strict=True, maybe_placeholders=True)


def keywords() -> list[str]:
    """Every keyword of the language, for editors and hints."""
    return sorted(
        t.pattern.value for t in _lark().terminals if t.pattern.type == "str" and t.pattern.value.isidentifier()
    )


def parse(text: str, path: str) -> ast.SpecFile:
    """Parse spec `text` (read from `path`) into an AST; raise ParseError / MlspecError."""
    remember_source(path, text)
    # The parse makes a few objects a token and frees none of them until it is done: the
    # cyclic garbage collector, run every few hundred allocations over ever more live
    # objects, would make it slower than linear (a spec of 100,000 tests: 2.5x). Paused
    # here. What a large parse made (it makes no cycles) then goes straight to the oldest
    # generation (freeze and unfreeze: no traversal), or the collections after it would
    # each walk all of it as young objects (the check of those tests: 5x slower). Not
    # after a small one: the young garbage of the program would wait for a full collection.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse(text, path)
    finally:
        if collecting:
            if len(text) >= LARGE_SPEC and gc.get_freeze_count() == 0:  # nobody else keeps objects frozen
                gc.freeze()
                gc.unfreeze()
            gc.enable()


LARGE_SPEC = 1_000_000  # characters


def _parse(text: str, path: str) -> ast.SpecFile:
    try:
        tree = _lark().parse(text)  # LALR: iterative, however deep the lists nest
    except lark.exceptions.UnexpectedInput as error:
        raise _syntax_error(error, text, path) from None
    too_deep = _too_deep(tree, text, path)
    if too_deep is not None:  # the Transformer (and much after it) recurses: stop here
        raise ParseError(f"lists nest at most {MAX_LIST_DEPTH} deep", too_deep, "a parameter takes a value or a list of values")
    builder = _AstBuilder(path)
    spec = builder.transform(tree)
    if builder.problems:
        raise MlspecError.collected(builder.problems)
    return spec


# How deep `[...]` lists may nest in an argument. The language's lists are flat (strings, an
# eps sweep): a few levels leave room for the checker to say what a parameter takes.
MAX_LIST_DEPTH = 4


def _too_deep(tree: lark.Tree, text: str, path: str) -> Span | None:
    """Where the first `[` (in source order) opening a list nested more than MAX_LIST_DEPTH deep is."""
    holders = _list_holders()
    stack: list[tuple[lark.Tree, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if node.data == "list_value":
            depth += 1
            if depth > MAX_LIST_DEPTH:
                return _first_too_deep_bracket(text, path)
        stack.extend((child, depth) for child in node.children if isinstance(child, lark.Tree) and child.data in holders)
    return None


@lru_cache(maxsize=1)
def _list_holders() -> frozenset[str]:
    """The tree nodes that may hold a `list_value` (the rest of a large tree is not walked)."""
    rules = _lark().rules
    holders = {"list_value"}
    grown = True
    while grown:
        grown = False
        for rule in rules:
            names = {str(rule.origin.name)} | ({str(rule.alias)} if rule.alias else set())
            holds = not names.isdisjoint(holders) or any(not s.is_term and s.name in holders for s in rule.expansion)
            if holds and not names <= holders:
                holders |= names
                grown = True
    return frozenset(holders)


def _first_too_deep_bracket(text: str, path: str) -> Span:
    """In a text that parsed, brackets outside strings and comments are the lists' own, and only
    the lists of arguments nest: the first `[` opened inside MAX_LIST_DEPTH open ones."""
    depth = 0
    for match in _BRACKETS.finditer(text):
        bracket = match.group()
        if bracket == "[":
            depth += 1
            if depth > MAX_LIST_DEPTH:
                line = text.count("\n", 0, match.start()) + 1
                col = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
                return Span(file=path, line=line, col=col, end_line=line, end_col=col + 1)
        elif bracket == "]":
            depth -= 1
    raise AssertionError("a list nested too deep has a bracket")  # not reached: the tree has one


_BRACKETS = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[\[\]]')


# ---------------------------------------------------------------- syntax errors


def _describe(terminal: str) -> str:
    if terminal in TERMINAL_DESCRIPTIONS:
        return TERMINAL_DESCRIPTIONS[terminal]
    for definition in _lark().terminals:
        if definition.name == terminal and definition.pattern.type == "str":
            return f"`{definition.pattern.value}`"
    return terminal.lower()


def _expected_list(expected) -> str:
    items = sorted({_describe(t) for t in expected})
    if len(items) > 8:
        return ", ".join(items[:8]) + ", ..."
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _keyword_values(expected) -> list[str]:
    names = set(expected)
    return [t.pattern.value for t in _lark().terminals if t.name in names and t.pattern.type == "str"]


def _syntax_error(error: lark.exceptions.UnexpectedInput, text: str, path: str) -> ParseError:
    if isinstance(error, lark.exceptions.UnexpectedCharacters):
        return _unexpected_character(error, text, path)
    if isinstance(error, lark.exceptions.UnexpectedEOF) or getattr(error.token, "type", None) == "$END":
        lines = text.rstrip().split("\n")
        line, col = len(lines), len(lines[-1]) + 1
        return ParseError(
            f"unexpected end of file; expected {_expected_list(error.expected)}",
            Span(file=path, line=line, col=col, end_line=line, end_col=col + 1),
            "a `{` is not closed by a `}`" if "RBRACE" in error.expected else None,
        )
    token = error.token
    span = _token_span(token, path)
    return ParseError(f"unexpected `{_clipped(token)}`; expected {_expected_list(error.expected)}", span, _token_hint(token, error.expected))


def _token_hint(token: Token, expected) -> str | None:
    """What probably went wrong when `token` came where one of `expected` should be."""
    if token.type == "RBRACE" and "RBRACE" not in expected:
        return "a statement is incomplete before this `}`"
    if "COMMA" in expected and token.type in ("NAME", "STRING", "NUMBER"):
        return "separate the items with commas"
    if token.type == "STRING" and "NAME" in expected:
        return "names are written without quotes"
    return did_you_mean(str(token), _keyword_values(expected)) if len(str(token)) >= 3 else None


def _unexpected_character(error, text: str, path: str) -> ParseError:
    lines = text.split("\n")
    line_text = lines[error.line - 1] if error.line <= len(lines) else ""
    char = line_text[error.column - 1] if error.column - 1 < len(line_text) else ""
    if char == "'":
        span = Span(file=path, line=error.line, col=error.column, end_line=error.line, end_col=error.column + 1)
        return ParseError("unexpected `'`", span, 'strings are written in double quotes: "..."')
    if char == '"':
        return ParseError(
            "unterminated string",
            Span(file=path, line=error.line, col=error.column, end_line=error.line, end_col=len(line_text) + 1),
            'close the string with `"` on the same line',
        )
    word = re.match(r"[A-Za-z_][A-Za-z0-9_]*|\S", line_text[error.column - 1 :])
    shown = word.group(0) if word else char
    span = Span(file=path, line=error.line, col=error.column, end_line=error.line, end_col=error.column + len(shown))
    allowed = error.allowed or set()
    hint = did_you_mean(shown, _keyword_values(allowed))
    expected = f"; expected {_expected_list(allowed)}" if allowed else ""
    return ParseError(f"unexpected `{_clipped(shown)}`{expected}", span, hint)


def _clipped(text: str, limit: int = 60) -> str:
    """A token as a message quotes it: whole, or its start when it is long (the caret shows all of it)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------- tree -> AST


def _token_span(token: Token, path: str) -> Span:
    return Span(file=path, line=token.line, col=token.column, end_line=token.end_line, end_col=token.end_column)


def _unquote(token: Token) -> str:
    return unquote(str(token))  # mlspec.language.literals: the one place that reads and writes string literals


# How messages name a statement given twice.
_MODEL_STATEMENTS = {
    "source": "a model file",
    "input": "an `input`",
    "output": "an `output`",
    "batch": "a `batch`",
    "concurrency": "a `concurrency`",
    "timeout": "a `timeout`",
    "retries": "a `retries`",
    "request_field": "a `request`",
    "response_path": "a `response`",
    "neutral_band": "a `neutral between`",
}
_TEST_STATEMENTS = {name: f"{indefinite_article(kw)} `{kw}`" for name, kw in ast.STATEMENT_KEYWORDS.items()}

NAMED_METRICS = ("positive_rate", "mae")  # `metric NAME`: the group metrics that take no subject

# Test statements that may repeat; every other statement may appear once.
_REPEATED_TEST_FIELDS = {"templates", "where", "slices", "expects"}


@v_args(meta=True)
class _AstBuilder(Transformer):
    """Turns the Lark tree into AST nodes; statements become (field, value, span) triples."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.problems: list[Diagnostic] = []

    def _span(self, meta) -> Span:
        return Span(file=self.path, line=meta.line, col=meta.column, end_line=meta.end_line, end_col=meta.end_column)

    def _name(self, token: Token) -> ast.Name:
        return ast.Name(value=str(token), span=_token_span(token, self.path))

    def _assemble(self, statements, repeated: set[str], what: str, described: dict[str, str]) -> tuple[dict, dict[str, Span]]:
        """Statement triples -> fields (lists for `repeated` ones), and where each was first set."""
        fields: dict = {}
        spans: dict[str, Span] = {}
        for name, value, span in statements:
            if name in repeated:
                fields.setdefault(name, []).append(value)
            elif name in fields:
                self.problems.append(Diagnostic(f"{what} already has {described[name]} (line {spans[name].line})", span, "keep only one"))
                continue
            else:
                fields[name] = value
            spans.setdefault(name, span)
        return fields, spans

    # ---- top level
    def start(self, meta, items):
        fields: dict = {"imports": [], "models": [], "datasets": [], "lexicons": [], "capabilities": []}
        for kind, value, span in items:
            if kind in fields:
                fields[kind].append(value)
            elif "name" in fields:
                self.problems.append(Diagnostic("a spec file has one `spec` line", span, "remove this one"))
            else:
                fields["name"], fields["seed"] = value
        span = Span(file=self.path, line=1, col=1, end_line=1, end_col=1)
        return ast.SpecFile(path=self.path, span=span, **fields)

    def import_decl(self, meta, children):
        (path,) = children
        node = ast.Import(span=self._span(meta), path=_unquote(path), path_span=_token_span(path, self.path))
        return "imports", node, self._span(meta)

    def spec_decl(self, meta, children):
        name, seed = children
        return "spec", (_unquote(name), seed and self._quantity_token(seed)), self._span(meta)

    # ---- models
    def model_decl(self, meta, children):
        name, *statements = children
        fields, _ = self._assemble(statements, {"headers"}, f"model `{name}`", _MODEL_STATEMENTS)
        fields.update(fields.pop("source", {}))
        fields.update(fields.pop("input", {}))
        if "output" in fields:
            fields["output_kind"], fields["labels"] = fields.pop("output")
        return "models", ast.ModelDecl(span=self._span(meta), name=self._name(name), **fields), self._span(meta)

    def _source(self, meta, model_format: str, path: Token):
        return "source", {"format": model_format, "path": _unquote(path), "path_span": _token_span(path, self.path)}, self._span(meta)

    def model_source(self, meta, children):
        model_format, path = children
        return self._source(meta, model_format, path)

    def model_format(self, meta, children):
        return str(children[0])

    def http_source(self, meta, children):
        url, protocol = children
        kind, source, span = self._source(meta, "http", url)
        return kind, {**source, "protocol": protocol and self._name(protocol)}, span

    def concurrency_setting(self, meta, children):
        return "concurrency", self._quantity_token(children[0]), self._span(meta)

    def timeout_setting(self, meta, children):
        return "timeout", children[0], self._span(meta)

    def retries_setting(self, meta, children):
        return "retries", self._quantity_token(children[0]), self._span(meta)

    def header_value(self, meta, children):
        name, value = children
        return "headers", ast.Header(span=self._span(meta), name=_unquote(name), value=_unquote(value)), self._span(meta)

    def header_env(self, meta, children):
        name, variable = children
        return "headers", ast.Header(span=self._span(meta), name=_unquote(name), env=_unquote(variable)), self._span(meta)

    def request_field_setting(self, meta, children):
        return "request_field", _unquote(children[0]), self._span(meta)

    def response_setting(self, meta, children):
        return "response_path", _unquote(children[0]), self._span(meta)

    def input_text(self, meta, children):
        return "input", {"input_kind": "text"}, self._span(meta)

    def input_tokens(self, meta, children):
        options: dict = {}
        for name, value, span in children:
            if name in options:
                self.problems.append(Diagnostic(f"tokenizer option `{name}` is given twice", span, "keep only one"))
            options[name] = value
        if "vocabulary" in options:
            options["vocabulary"], options["vocabulary_span"] = options["vocabulary"]
        tokenizer = ast.TokenizerDecl(span=self._span(meta), **options)
        return "input", {"input_kind": "tokens", "tokenizer": tokenizer}, self._span(meta)

    def input_tokenizer(self, meta, children):
        path, max_length = children
        decl = ast.HfTokenizerDecl(
            span=self._span(meta), path=_unquote(path), path_span=_token_span(path, self.path), max_length=max_length and self._quantity_token(max_length)
        )
        return "input", {"input_kind": "tokenizer", "hf_tokenizer": decl}, self._span(meta)

    def token_vocabulary(self, meta, children):
        return "vocabulary", (_unquote(children[0]), _token_span(children[0], self.path)), self._span(meta)

    def token_lowercase(self, meta, children):
        return "lowercase", True, self._span(meta)

    def token_unknown(self, meta, children):
        return "unknown", _unquote(children[0]), self._span(meta)

    def token_padding(self, meta, children):
        return "padding", _unquote(children[0]), self._span(meta)

    def token_max_length(self, meta, children):
        return "max_length", self._quantity_token(children[0]), self._span(meta)

    def input_image(self, meta, children):
        shape, low, high = children
        image = ast.ImageInputDecl(span=self._span(meta), shape=shape, low=low, high=high)
        return "input", {"input_kind": "image", "image": image}, self._span(meta)

    def input_table(self, meta, children):
        columns = [self._name(c) for c in children if c is not None]
        return "input", {"input_kind": "table", "columns": columns}, self._span(meta)

    def number_list(self, meta, children):
        return [c for c in children if c is not None]

    def output_probabilities(self, meta, children):
        return "output", ("probabilities", children[0]), self._span(meta)

    def output_logits(self, meta, children):
        return "output", ("logits", children[0]), self._span(meta)

    def output_value(self, meta, children):
        return "output", ("value", [ast.Name(value="value", span=self._span(meta))]), self._span(meta)

    def output_values(self, meta, children):
        return "output", ("value", children[0]), self._span(meta)

    def batch_setting(self, meta, children):
        return "batch", self._quantity_token(children[0]), self._span(meta)

    def neutral_band_setting(self, meta, children):
        low, high = children
        return "neutral_band", ast.NeutralBandDecl(span=self._span(meta), low=low, high=high), self._span(meta)

    def band_bound(self, meta, children):
        numerator, denominator = children
        return ast.Bound(
            span=self._span(meta),
            numerator=self._quantity_token(numerator),
            denominator=denominator and self._quantity_token(denominator),
        )

    def label_list(self, meta, children):
        return [c for c in children if c is not None]

    def label(self, meta, children):
        (token,) = children
        value = _unquote(token) if token.type == "STRING" else str(token)
        return ast.Name(value=value, span=_token_span(token, self.path))

    # ---- data
    def dataset_decl(self, meta, children):
        name, data_format, path, fields = children
        return "datasets", ast.DatasetDecl(
            span=self._span(meta),
            name=self._name(name),
            format=data_format,
            path=_unquote(path),
            path_span=_token_span(path, self.path),
            fields={key.value: column for key, column in fields or []},
            field_spans={key.value: key.span for key, _ in fields or []},
        ), self._span(meta)

    def csv_format(self, meta, children):
        return "csv"

    def jsonl_format(self, meta, children):
        return "jsonl"

    def npz_format(self, meta, children):
        return "npz"

    def field_map(self, meta, children):
        fields: dict[str, tuple[ast.Name, ast.Name]] = {}
        for key, column in (c for c in children if c is not None):
            if key.value in fields:
                self.problems.append(Diagnostic(f"field `{key.value}` is mapped twice", key.span))
                continue
            fields[key.value] = (key, column)
        return list(fields.values())

    def field(self, meta, children):
        key, column = children
        value = _unquote(column) if column.type == "STRING" else str(column)  # a NUMBER stays its text
        return self._name(key), ast.Name(value=value, span=_token_span(column, self.path))

    def lexicon_decl(self, meta, children):
        name, body = children
        if isinstance(body, tuple):
            fields = {"file": body[0], "file_span": body[1]}
        else:
            fields = {"values": body}
        return "lexicons", ast.LexiconDecl(span=self._span(meta), name=self._name(name), **fields), self._span(meta)

    def lexicon_file(self, meta, children):
        return _unquote(children[0]), _token_span(children[0], self.path)

    def string_list(self, meta, children):
        return [_unquote(c) for c in children if c is not None]

    # ---- capabilities and tests
    def capability(self, meta, children):
        title, *tests = children
        return "capabilities", ast.Capability(span=self._span(meta), title=_unquote(title), tests=tests), self._span(meta)

    def test(self, meta, children):
        kind, title, on, *statements = children
        fields, spans = self._assemble(statements, _REPEATED_TEST_FIELDS, f"test {title}", _TEST_STATEMENTS)
        if "privileged" in fields:
            fields["privileged_column"], fields["privileged"] = fields["privileged"]
        return ast.TestDecl(
            span=self._span(meta),
            kind=kind,
            title=_unquote(title),
            title_span=_token_span(title, self.path),
            on=on or [],
            statement_spans=spans,
            **fields,
        )

    def test_kind(self, meta, children):
        return str(children[0])

    def on_clause(self, meta, children):
        return [self._name(c) for c in children]

    def template_stmt(self, meta, children):
        text, label = children
        return "templates", ast.Template(
            span=self._span(meta), text=_unquote(text), text_span=_token_span(text, self.path), raw=str(text)[1:-1], label=label
        ), self._span(meta)

    def from_stmt(self, meta, children):
        return "source", self._name(children[0]), self._span(meta)

    def against_stmt(self, meta, children):
        return "against", self._name(children[0]), self._span(meta)

    def sample_stmt(self, meta, children):
        size, seed = children
        sample = ast.Sample(
            span=self._span(meta), size=self._quantity_token(size), seed=seed and self._quantity_token(seed)
        )
        return "sample", sample, self._span(meta)

    def perturb_stmt(self, meta, children):
        *calls, variants = children
        perturb = ast.Perturb(span=self._span(meta), chain=calls, variants=variants and self._quantity_token(variants))
        return "perturb", perturb, self._span(meta)

    def swap_stmt(self, meta, children):
        return "swap", self._name(children[0]), self._span(meta)

    def max_fail_rate_stmt(self, meta, children):
        return "max_fail_rate", children[0], self._span(meta)

    def by_stmt(self, meta, children):
        return "by", [self._name(c) for c in children], self._span(meta)

    def metric_mean(self, meta, children):
        return "metric", ast.Metric(span=self._span(meta), kind="mean", subject=children[0]), self._span(meta)

    def metric_named(self, meta, children):
        name = str(children[0])
        if name not in NAMED_METRICS:
            hint = did_you_mean(name, NAMED_METRICS) or "`metric mean prob(LABEL)`, `metric mean value`, " + " or ".join(f"`metric {m}`" for m in NAMED_METRICS)
            self.problems.append(Diagnostic(f"unknown group metric `{name}`", _token_span(children[0], self.path), hint))
            name = NAMED_METRICS[0]
        return "metric", ast.Metric(span=self._span(meta), kind=name), self._span(meta)

    def positive_stmt(self, meta, children):
        return "positive", children[0], self._span(meta)

    def method_stmt(self, meta, children):
        return "method", children[0], self._span(meta)

    def privileged_stmt(self, meta, children):
        column, op, value = children
        if op != "==":
            self.problems.append(Diagnostic(f"`privileged` names one group: `privileged {column} == VALUE`, not `{op}`", self._span(meta)))
        condition = ast.LabelCondition(span=self._span(meta), op="==", labels=[value])
        return "privileged", (self._name(column), condition), self._span(meta)

    def min_group_size_stmt(self, meta, children):
        return "min_group_size", self._quantity_token(children[0]), self._span(meta)

    def requests_stmt(self, meta, children):
        return "requests", self._quantity_token(children[0]), self._span(meta)

    def duration_stmt(self, meta, children):
        return "duration", children[0], self._span(meta)

    def concurrency_stmt(self, meta, children):
        return "concurrency", self._quantity_token(children[0]), self._span(meta)

    # ---- perturbation calls
    def call(self, meta, children):
        name, *args = children
        return ast.Call(span=self._span(meta), name=self._name(name), args=[a for a in args if a is not None])

    def named_arg(self, meta, children):
        name, value = children
        return ast.Argument(span=self._span(meta), name=str(name), value=value)

    def positional_arg(self, meta, children):
        return ast.Argument(span=self._span(meta), name=None, value=children[0])

    def string_value(self, meta, children):
        return ast.StringValue(span=self._span(meta), value=_unquote(children[0]))

    def name_value(self, meta, children):
        return self._name(children[0])

    def list_value(self, meta, children):
        return ast.ListValue(span=self._span(meta), items=[c for c in children if c is not None])

    # ---- conditions and expectations
    def where_stmt(self, meta, children):
        return "where", children[0], self._span(meta)

    def slice_stmt(self, meta, children):
        return "slices", children[0], self._span(meta)

    def expected_slice(self, meta, children):
        op, value = children
        return ast.SliceCondition(span=self._span(meta), column=None, op=str(op), values=[value])

    def expected_in_slice(self, meta, children):
        return ast.SliceCondition(span=self._span(meta), column=None, op="in", values=children[0])

    def column_slice(self, meta, children):
        column, op, value = children
        return ast.SliceCondition(span=self._span(meta), column=self._name(column), op=str(op), values=[value])

    def column_in_slice(self, meta, children):
        column, values = children
        return ast.SliceCondition(span=self._span(meta), column=self._name(column), op="in", values=values)

    def category_list(self, meta, children):
        return [c for c in children if c is not None]

    def expect_stmt(self, meta, children):
        return "expects", children[0], self._span(meta)

    def label_condition(self, meta, children):
        op, label = children
        return ast.LabelCondition(span=self._span(meta), op=str(op), labels=[label]) if op in ("==", "!=") else self._bad_op(
            meta, op, "labels are compared with == or !="
        )

    def label_in_condition(self, meta, children):
        return ast.LabelCondition(span=self._span(meta), op="in", labels=children[0])

    def score_condition(self, meta, children):
        subject, op, value = children
        return ast.ScoreCondition(span=self._span(meta), subject=subject, op=str(op), value=value)

    def expect_label(self, meta, children):
        return self.label_condition(meta, children)

    def expect_label_expected(self, meta, children):
        (op,) = children
        if op not in ("==", "!="):
            return self._bad_op(meta, op, "labels are compared with == or !=")
        return ast.LabelCondition(span=self._span(meta), op=str(op), expected=True)

    def expect_label_in(self, meta, children):
        return ast.LabelCondition(span=self._span(meta), op="in", labels=children[0])

    def expect_label_not_in(self, meta, children):
        return ast.LabelCondition(span=self._span(meta), op="not in", labels=children[0])

    def expect_score(self, meta, children):
        return self.score_condition(meta, children)

    def expect_unchanged(self, meta, children):
        return ast.UnchangedExpect(span=self._span(meta), tolerance=children[0])

    def expect_value_unchanged(self, meta, children):
        subject, tolerance = children
        return ast.UnchangedExpect(span=self._span(meta), tolerance=tolerance, subject=subject)

    def expect_within(self, meta, children):
        subject, tolerance = children
        return ast.WithinExpect(span=self._span(meta), subject=subject, tolerance=tolerance)

    def expect_column(self, meta, children):
        column, column_type = children
        return ast.ColumnExpect(span=self._span(meta), column=self._name(column), type=column_type and self._name(column_type))

    def expect_between(self, meta, children):
        column, low, high = children
        return ast.BetweenExpect(span=self._span(meta), column=self._name(column), low=low, high=high)

    def expect_categories(self, meta, children):
        column, values = children
        return ast.CategoriesExpect(span=self._span(meta), column=self._name(column), values=values)

    def figure_argument(self, meta, children):
        token = children[0]
        return ast.Name(value=_unquote(token) if token.type == "STRING" else str(token), span=_token_span(token, self.path))

    def expect_monotonic(self, meta, children):
        subject, negated, direction, tolerance = children
        return ast.MonotonicExpect(
            span=self._span(meta), subject=subject, direction=direction, negated=negated is not None, tolerance=tolerance
        )

    def expect_metric(self, meta, children):
        name, argument, op, value, at_name, at_value = children
        return ast.MetricExpect(
            span=self._span(meta),
            metric=self._name(name),
            argument=argument,
            op=str(op),
            value=value,
            at_name=at_name and self._name(at_name),
            at_value=at_value,
        )

    def tolerance(self, meta, children):
        return children[0]

    def negated(self, meta, children):
        return True

    def increasing(self, meta, children):
        return "increasing"

    def decreasing(self, meta, children):
        return "decreasing"

    def prob_subject(self, meta, children):
        return ast.Subject(span=self._span(meta), kind="prob", label=children[0])

    def margin_subject(self, meta, children):
        label, minus = children
        return ast.Subject(span=self._span(meta), kind="margin", label=label, minus=minus)

    def confidence_subject(self, meta, children):
        return ast.Subject(span=self._span(meta), kind="confidence")

    def value_subject(self, meta, children):
        return ast.Subject(span=self._span(meta), kind="value", label=children[0])

    # ---- numbers
    def number(self, meta, children):
        return self._quantity_token(children[0])

    def percent(self, meta, children):
        return self._quantity_token(children[0])

    def duration(self, meta, children):
        return self._quantity_token(children[0])

    def _quantity_token(self, token: Token) -> ast.Quantity:
        text = str(token)
        span = _token_span(token, self.path)
        if text.endswith("%"):
            return ast.Quantity(span=span, value=float(text[:-1]) / 100, percent=True, text=text)
        if text.endswith("ms"):
            return ast.Quantity(span=span, value=float(text[:-2]) / 1000, duration=True, text=text)
        if text.endswith("s"):
            return ast.Quantity(span=span, value=float(text[:-1]), duration=True, text=text)
        return ast.Quantity(span=span, value=float(text), text=text)

    def _bad_op(self, meta, op, hint):
        self.problems.append(Diagnostic(f"`{op}` cannot compare labels", self._span(meta), hint))
        return ast.LabelCondition(span=self._span(meta), op="==", labels=[])
