"""A Pygments lexer for mlspec files (`*.mlspec`).

Registered as the `mlspec` lexer through the `pygments.lexers` entry point, so
`pygmentize -l mlspec spec.mlspec`, Sphinx/MkDocs code blocks and anything else built on
Pygments highlight specs. Only this module imports Pygments; the rest of mlspec never does.

Keywords are contextual in the language (`text`, `label`, `positive` ... are also valid
names), so the lexer follows the few places where a name is expected: the name after
`model`/`dataset`/`lexicon`/`from`/`swap`/`at`/`privileged`/`positive`, the names after
`by`/`on`, field and argument keys and values (`text: text`), the label after a
comparison or `->`, and everything inside `[...]` and call arguments `(...)`. Placeholders
(`{thing}`, `{a:adj}`) are highlighted in template strings only.

The keywords are highlighted in four kinds: declarations (`Keyword.Declaration`), test
kinds (`Keyword.Type`), model formats (`Keyword.Reserved`: `onnx`, `torch`, ...) and the
others (`Keyword`). `tests/test_editors.py` checks the lexer against the parser on every
example spec, and checks that the four lists below are exactly the keywords of
`grammar/mlspec.lark` of each kind (`editors/generate.py: keyword_kinds()`), so a keyword
added to the grammar, a test kind or a model back end fails there until it is listed here.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, default, include, words
from pygments.token import (
    Comment,
    Error,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

__all__ = ["MlspecLexer"]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"

# Declarations (`import "other.mlspec"` takes another spec's models, datasets and lexicons).
DECLARATION_KEYWORDS = ("spec", "import", "model", "dataset", "lexicon", "capability")
TEST_KINDS = ("mft", "inv", "dir", "fairness", "attack", "load", "metrics", "data", "drift")  # the test-kind registry's keywords
MODEL_FORMATS = ("onnx", "torch", "python", "huggingface", "http")  # the back-end registry's formats
STATEMENT_KEYWORDS = (
    "template", "from", "sample", "seed", "perturb", "then", "variants", "swap", "where",
    "original", "expect", "max_fail_rate", "by", "metric", "mean", "positive",
    "method", "privileged", "min_group_size", "tolerance", "unchanged", "increasing",
    "decreasing", "not", "in", "label", "prob", "confidence", "expected", "at", "input",
    "output", "labels", "text", "tokens", "image", "table", "shape", "range", "columns",
    "vocabulary", "lowercase", "unknown", "padding", "max_length", "tokenizer", "batch", "file", "csv",
    "jsonl", "npz", "probabilities", "logits", "on", "protocol", "concurrency", "timeout",
    "retries", "header", "env", "request", "response", "requests", "duration", "margin",
    "neutral", "between", "and", "against", "column", "of", "value", "values", "within",
)  # fmt: skip

_PLACEHOLDER = r"\{(?:(?:a|an|A|An):)?" + _NAME + r"\}"


class MlspecLexer(RegexLexer):
    """Lexer for mlspec behavioural test specs."""

    name = "mlspec"
    aliases = ["mlspec"]
    filenames = ["*.mlspec"]
    mimetypes = ["text/x-mlspec"]

    tokens = {
        "whitespace": [
            (r"\s+", Whitespace),
            (r"#[^\n]*", Comment.Single),
        ],
        "root": [
            include("whitespace"),
            # Titles: spec "name", capability "Title", mft "title" ...
            (r"(spec|capability)\b(\s*)(\")", bygroups(Keyword.Declaration, Whitespace, String.Double), "string"),
            (r"(" + "|".join(TEST_KINDS) + r")\b(\s*)(\")", bygroups(Keyword.Type, Whitespace, String.Double), "string"),
            (r"(template)\b(\s*)(\")", bygroups(Keyword, Whitespace, String.Double), "template-string"),
            # Keywords followed by a name.
            (r"(model|dataset|lexicon)\b(\s+)(" + _NAME + ")", bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (r"(perturb|then|method)\b(\s+)(" + _NAME + ")", bygroups(Keyword, Whitespace, Name.Function)),
            (r"(from|swap|at|privileged|positive)\b(\s+)(" + _NAME + ")", bygroups(Keyword, Whitespace, Name)),
            (r"(by|on)\b(?=[ \t]+[A-Za-z_])", Keyword, "name-list"),
            include("key-value"),
            # Comparisons and ->: a name after one is a label (or the keyword `expected`).
            (
                r"(==|!=|>=|<=|->|>|<)(\s*)(?:(expected)\b|(" + _NAME + "))?",
                bygroups(Operator, Whitespace, Keyword, Name),
            ),
            (r"=", Operator),
            (r"\"", String.Double, "string"),
            include("call"),
            (r"\[", Punctuation, "list"),
            (words(DECLARATION_KEYWORDS, prefix=r"\b", suffix=r"\b"), Keyword.Declaration),
            (words(TEST_KINDS, prefix=r"\b", suffix=r"\b"), Keyword.Type),
            (words(MODEL_FORMATS, prefix=r"\b", suffix=r"\b"), Keyword.Reserved),
            (words(STATEMENT_KEYWORDS, prefix=r"\b", suffix=r"\b"), Keyword),
            include("number"),
            (_NAME, Name),
            (r"[{}(),.:/\]]", Punctuation),  # `/` of a fraction: neutral between 1/3 and 2/3
            (r".", Error),
        ],
        "key-value": [
            (r"(" + _NAME + r")(\s*)(:)(\s*)(" + _NAME + r")?", bygroups(Name.Attribute, Whitespace, Punctuation, Whitespace, Name)),
        ],
        "call": [
            (r"(prob|margin)(\s*)(\()", bygroups(Keyword, Whitespace, Punctuation), "arguments"),
            (r"(" + _NAME + r")(\s*)(\()", bygroups(Name.Function, Whitespace, Punctuation), "arguments"),
            (r"\(", Punctuation, "arguments"),
        ],
        "number": [
            (r"-?\d+(\.\d+)?%", Number),
            (r"\d+(\.\d+)?(ms|s)(?![A-Za-z0-9_])", Number),
            (r"-?\d+\.\d+([eE][-+]?\d+)?", Number.Float),
            (r"-?\d+[eE][-+]?\d+", Number.Float),
            (r"-?\d+", Number.Integer),
        ],
        "arguments": [
            include("whitespace"),
            (r"\)", Punctuation, "#pop"),
            (r"\"", String.Double, "string"),
            include("key-value"),
            include("call"),
            (r"\[", Punctuation, "list"),
            include("number"),
            (_NAME, Name),
            (r"[,.:]", Punctuation),
            (r"[^\s)]", Error),
        ],
        "list": [
            include("whitespace"),
            (r"\]", Punctuation, "#pop"),
            (r"\"", String.Double, "string"),
            include("call"),
            (r"\[", Punctuation, "#push"),
            include("number"),
            (_NAME, Name),
            (r"[,.:]", Punctuation),
            (r"[^\s\]]", Error),
        ],
        "name-list": [
            # by A, B / on M1, M2: ends after a name not followed by a comma.
            include("whitespace"),
            (_NAME + r"(?=\s*,)", Name),
            (r",", Punctuation),
            (_NAME, Name, "#pop"),
            default("#pop"),
        ],
        "string": [
            (r"\"", String.Double, "#pop"),
            (r"\\.", String.Escape),
            (r"[^\"\\\n]+", String.Double),
            (r"\\", String.Double),
            default("#pop"),  # unterminated at the end of the line
        ],
        "template-string": [
            (r"\"", String.Double, "#pop"),
            (r"\\.", String.Escape),
            (_PLACEHOLDER, String.Interpol),
            (r"[^\"\\\n{]+", String.Double),
            (r"[\\{]", String.Double),
            default("#pop"),
        ],
    }
