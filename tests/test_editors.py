"""Tests for editor support: the Pygments lexer and the TextMate grammar (VS Code, GitHub).

Both highlighters are checked against the parser itself. Every example spec in the
repository is parsed with `grammar/mlspec.lark` keeping all tokens, and the characters of
each token must be highlighted as what the parser made of them: a keyword as a keyword, a
name as a name (also where it is spelled like a keyword: `text: text`, `positive positive`),
strings, numbers, operators and punctuation; the text between tokens is whitespace or
comments, and placeholders are highlighted inside template strings and nowhere else.
Keyword coverage is checked against `mlspec.language.parser.keywords()` by kind
(declarations, test kinds, model formats, the others: `editors/generate.py`), and the test
kinds and model formats against the test-kind and back-end registries, so a keyword added
to the grammar, a kind or a back end but not to a highlighter fails here, and so does a
highlighted word that is no keyword. The TextMate grammars' keyword lists are written by
`python editors/generate.py`; a test checks that it has nothing left to change.

The TextMate grammar is checked with a small Python interpreter of its rules (match,
begin/end, captures, includes): enough for this grammar, and CI needs nothing but Python.
Where Node.js and the npm packages `vscode-textmate` and `vscode-oniguruma` can be found
(`npm install vscode-textmate vscode-oniguruma` in the repository root, or NODE_PATH), one
more test tokenizes with VS Code's own engine and compares it with the interpreter; it skips
where they are missing, and fails instead when the environment variable CI is set.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pytest
from lark import Lark, Token
from lark.exceptions import UnexpectedInput

from mlspec.language.checker import PLACEHOLDER
from mlspec.language.parser import keywords

ROOT = Path(__file__).resolve().parents[1]
EDITORS = ROOT / "editors"
TM_GRAMMAR = EDITORS / "mlspec.tmLanguage.json"
VSCODE = EDITORS / "vscode"
EXAMPLES = sorted(
    path
    for path in ROOT.rglob("*.mlspec")
    if not any(part.startswith(".") or part in ("node_modules", "build", "dist") for part in path.relative_to(ROOT).parts)
)
EXAMPLE_IDS = [str(path.relative_to(ROOT)) for path in EXAMPLES]
def _load_generate():
    spec = importlib.util.spec_from_file_location("editors_generate", EDITORS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _load_generate()
KINDS = generate.keyword_kinds()  # the grammar's keywords: declarations, test_kinds, model_formats, others
DECLARATIONS = KINDS["declarations"]
TEST_KINDS = KINDS["test_kinds"]


def _kind_of(word: str) -> str:
    return next(kind for kind, words in KINDS.items() if word in words)


def test_there_are_example_specs():
    assert len(EXAMPLES) >= 10, EXAMPLE_IDS
    assert {"mft", "inv", "dir", "fairness", "attack"} <= set(TEST_KINDS)


# ---------------------------------------------------------------- the keywords, by kind


def test_keyword_kinds_cover_the_grammar():
    listed = [word for words in KINDS.values() for word in words]
    assert sorted(listed) == keywords() and len(set(listed)) == len(listed)
    assert set(DECLARATIONS) == {"spec", "import", "model", "dataset", "lexicon", "capability"}
    assert set(KINDS["model_formats"]) >= {"onnx", "torch"}


def test_test_kinds_are_the_registrys():
    try:
        from mlspec.language.kinds import all_kinds
    except ImportError:
        pytest.skip("no test-kind registry (mlspec.language.kinds)")
    registered = all_kinds()
    assert {kind.keyword for kind in registered.values()} == set(registered) == set(KINDS["test_kinds"])


def test_model_formats_are_the_back_end_registrys():
    try:
        from runners import backends
    except ImportError:
        pytest.skip("no back-end registry (runners.backends)")
    assert {backend.format for backend in backends().values()} == set(KINDS["model_formats"])


def test_textmate_keyword_lists_are_generated_from_the_grammar():
    for path in generate.GRAMMARS:
        text = path.read_text(encoding="utf-8")
        assert generate.generated(text) == text, f"run `python editors/generate.py` to update {path.relative_to(ROOT)}"


# ---------------------------------------------------------------- the parser's view


@lru_cache(maxsize=1)
def _full_lark() -> Lark:
    """The language's grammar, keeping the keyword and punctuation tokens the AST drops."""
    grammar = resources.files("grammar").joinpath("mlspec.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", keep_all_tokens=True, maybe_placeholders=False)


@lru_cache(maxsize=1)
def _keyword_terminals() -> frozenset[str]:
    return frozenset(
        t.name for t in _full_lark().terminals if t.pattern.type == "str" and t.pattern.value.isidentifier()
    )


def _token_kind(token: Token) -> str:
    if token.type in _keyword_terminals():
        return "keyword"
    if token.type == "NAME":
        return "name"
    if token.type == "STRING":
        return "string"
    if token.type in ("NUMBER", "PERCENT", "DURATION"):
        return "number"
    if token.type == "CMP" or str(token) in ("->", "="):
        return "operator"
    assert not str(token)[0].isalnum(), f"unclassified token {token.type} {token!r}"
    return "punctuation"


def expected_kinds(path: Path) -> tuple[str | None, ...]:
    """What each character of `path` is to the parser: keyword, name, string, placeholder,
    number, operator, punctuation, comment, or None for whitespace between tokens."""
    kinds = _parsed_kinds(path)
    if kinds is None:
        pytest.skip(f"{path.relative_to(ROOT)} does not parse (a spec with errors on purpose?)")
    return kinds


@lru_cache(maxsize=None)
def _parsed_kinds(path: Path) -> tuple[str | None, ...] | None:
    text = path.read_text(encoding="utf-8")
    try:
        tree = _full_lark().parse(text)
    except UnexpectedInput:
        return None
    tokens = sorted(
        tree.scan_values(lambda v: isinstance(v, Token)), key=lambda t: t.start_pos
    )
    kinds: list[str | None] = [None] * len(text)
    previous = None
    for token in tokens:
        kind = _token_kind(token)
        kinds[token.start_pos : token.end_pos] = [kind] * (token.end_pos - token.start_pos)
        if kind == "string" and previous is not None and previous.type == "TEMPLATE":
            for match in PLACEHOLDER.finditer(str(token)):
                start, end = token.start_pos + match.start(), token.start_pos + match.end()
                kinds[start:end] = ["placeholder"] * (end - start)
        previous = token
    # The parser ignores whitespace and comments only: anything else it skipped is a comment.
    return tuple("comment" if k is None and not c.isspace() else k for k, c in zip(kinds, text))


def disagreements(path: Path, classes, accepts) -> list[str]:
    """Runs of characters whose highlighting class (a Pygments token type or a tuple of
    TextMate scopes) does not fit what the parser made of them."""
    text = path.read_text(encoding="utf-8")
    kinds = expected_kinds(path)
    assert len(classes) == len(text)
    problems: list[str] = []
    i = 0
    while i < len(text):
        kind = kinds[i]
        if kind is None or accepts[kind](classes[i]):
            i += 1
            continue
        j = i
        while j < len(text) and kinds[j] == kind and classes[j] == classes[i] and text[j] != "\n":
            j += 1
        line = text.count("\n", 0, i) + 1
        col = i - (text.rfind("\n", 0, i) + 1) + 1
        problems.append(f"{path.relative_to(ROOT)}:{line}:{col}: {text[i:j]!r} is a {kind}, highlighted as {classes[i]}")
        i = j
    return problems


def test_parser_view_of_an_example():
    kinds = expected_kinds(ROOT / "specs" / "sentiment" / "sentiment.mlspec")
    text = (ROOT / "specs" / "sentiment" / "sentiment.mlspec").read_text(encoding="utf-8")

    def kind_at(fragment: str, offset: int = 0) -> str | None:
        return kinds[text.index(fragment) + offset]

    assert kind_at("# Behavioural") == "comment"
    assert kind_at("{ text: text", 2) == "name"
    assert kind_at("input text", 6) == "keyword"
    assert kind_at("{thing} was {pos_adj}", 1) == "placeholder"
    assert kind_at('"Vocabulary"') == "string"
    assert kind_at("5%") == "number"
    assert kind_at("-> positive", 3) == "name"


# ---------------------------------------------------------------- Pygments


@pytest.fixture(scope="module")
def pygments_lexer():
    pytest.importorskip("pygments")
    from mlspec.pygments_lexer import MlspecLexer

    return MlspecLexer(stripnl=False, ensurenl=False)


def _pygments_accepts():
    from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String

    return {
        "keyword": lambda t: t in Keyword,
        "name": lambda t: t in Name,
        "string": lambda t: t in String and t not in String.Interpol,
        "placeholder": lambda t: t in String.Interpol,
        "number": lambda t: t in Number,
        "operator": lambda t: t in Operator,
        "punctuation": lambda t: t in Punctuation,
        "comment": lambda t: t in Comment,
    }


def pygments_classes(lexer, text: str) -> list:
    classes: list = [None] * len(text)
    for index, ttype, value in lexer.get_tokens_unprocessed(text):
        classes[index : index + len(value)] = [ttype] * len(value)
    return classes


@pytest.mark.parametrize("path", EXAMPLES, ids=EXAMPLE_IDS)
def test_pygments_lexes_example_exactly(pygments_lexer, path):
    from pygments.token import Error

    text = path.read_text(encoding="utf-8")
    tokens = list(pygments_lexer.get_tokens(text))
    assert "".join(value for _, value in tokens) == text
    errors = [value for ttype, value in tokens if ttype in Error]
    assert not errors


@pytest.mark.parametrize("path", EXAMPLES, ids=EXAMPLE_IDS)
def test_pygments_agrees_with_the_parser(pygments_lexer, path):
    classes = pygments_classes(pygments_lexer, path.read_text(encoding="utf-8"))
    assert disagreements(path, classes, _pygments_accepts()) == []


def _pygments_types():
    from pygments.token import Keyword

    return {"declarations": Keyword.Declaration, "test_kinds": Keyword.Type, "model_formats": Keyword.Reserved, "others": Keyword}


def test_pygments_keyword_lists_are_the_grammars(pygments_lexer):
    from mlspec import pygments_lexer as module

    lists = {
        "declarations": module.DECLARATION_KEYWORDS,
        "test_kinds": module.TEST_KINDS,
        "model_formats": module.MODEL_FORMATS,
        "others": module.STATEMENT_KEYWORDS,
    }
    for kind, words in lists.items():
        assert len(set(words)) == len(words), f"{kind} lists a word twice"
        missing, stale = set(KINDS[kind]) - set(words), set(words) - set(KINDS[kind])
        assert not missing and not stale, f"mlspec/pygments_lexer.py {kind}: add {sorted(missing)}, remove {sorted(stale)}"


def test_pygments_knows_every_keyword(pygments_lexer):
    from pygments.token import Keyword

    types = _pygments_types()
    for word in keywords():
        tokens = [(t, v) for t, v in pygments_lexer.get_tokens(word) if v.strip()]
        assert tokens == [(tokens[0][0], word)] and tokens[0][0] in Keyword, (word, tokens)
        assert tokens[0][0] is types[_kind_of(word)], (word, tokens)


def test_pygments_highlights_every_title_and_model_source(pygments_lexer):
    from pygments.token import Keyword, String

    for kind in KINDS["test_kinds"]:
        tokens = [(t, v) for t, v in pygments_lexer.get_tokens(f'{kind} "a title" {{') if v.strip()]
        assert tokens[:2] == [(Keyword.Type, kind), (String.Double, '"')], tokens
    for model_format in KINDS["model_formats"]:
        tokens = [(t, v) for t, v in pygments_lexer.get_tokens(f'model m {{\n  {model_format} "x"\n}}') if v.strip()]
        assert (Keyword.Reserved, model_format) in tokens, tokens


def test_pygments_rules_name_no_stale_keyword():
    """Every word of an alternation in the lexer's rules (`(model|dataset|lexicon)`) is a keyword."""
    from mlspec.pygments_lexer import MlspecLexer

    sources = [rule[0] for rules in MlspecLexer.tokens.values() for rule in rules if isinstance(rule, tuple) and isinstance(rule[0], str)]
    stale = {word for source in sources for word in _alternation_words(source)} - set(keywords())
    assert stale == set()


def _alternation_words(source: str) -> set[str]:
    """The words of each `(a|b|c)` or `(?:a|b|c)` group of lower-case words in a regex,
    but for a duration's units (`(ms|s)`)."""
    words = set()
    for group in re.findall(r"\((?:\?:)?([a-z_]+(?:\|[a-z_]+)*)\)", source):
        if group != "ms|s":
            words |= set(group.split("|"))
    return words


def test_pygments_every_keyword_in_the_examples_is_a_keyword_somewhere(pygments_lexer):
    from pygments.token import Keyword

    seen = set()
    for path in EXAMPLES:
        text = path.read_text(encoding="utf-8")
        seen |= {v for t, v in pygments_lexer.get_tokens(text) if t in Keyword}
    used = {text_of(path, i) for path in EXAMPLES for i in keyword_starts(path)}
    assert used - seen == set()


def test_pygments_samples(pygments_lexer):
    from pygments.token import Comment, Keyword, Name, String

    text = 'mft "t" {\n  template "I {a:adj} {x}\\"" -> positive  # note\n  positive positive\n}\n'
    tokens = [(t, v) for t, v in pygments_lexer.get_tokens(text) if v.strip()]
    assert (Keyword.Type, "mft") in tokens
    assert (String.Interpol, "{a:adj}") in tokens and (String.Interpol, "{x}") in tokens
    assert (String.Escape, '\\"') in tokens
    assert (Comment.Single, "# note") in tokens
    assert [v for t, v in tokens if t in Keyword] == ["mft", "template", "positive"]
    assert [t for t, v in tokens if v == "positive"] == [Name, Keyword, Name]
    # Placeholders only in template strings; an unterminated string ends at the line's end.
    tokens = list(pygments_lexer.get_tokens('capability "{x}"\nlexicon l = ["a\n'))
    assert all(t not in String.Interpol for t, _ in tokens)
    assert (Keyword.Declaration, "lexicon") in tokens


def test_pygments_entry_point():
    pygments = pytest.importorskip("pygments")
    from importlib.metadata import entry_points

    from pygments.lexers import find_lexer_class_by_name

    from mlspec.pygments_lexer import MlspecLexer

    assert pygments.__version__
    registered = [e for e in entry_points(group="pygments.lexers") if e.name == "mlspec"]
    if not registered:
        pytest.skip("mlspec is not installed with its pygments.lexers entry point (pip install -e .)")
    assert registered[0].load() is MlspecLexer
    assert find_lexer_class_by_name("mlspec") is MlspecLexer


def keyword_starts(path: Path) -> list[int]:
    kinds = _parsed_kinds(path) or ()
    return [i for i, k in enumerate(kinds) if k == "keyword" and (i == 0 or kinds[i - 1] != "keyword")]


def text_of(path: Path, start: int) -> str:
    text = path.read_text(encoding="utf-8")
    return re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[start:]).group(0)


# ---------------------------------------------------------------- TextMate


@dataclass(frozen=True)
class _Frame:
    rule: dict
    scopes: tuple[str, ...]  # of the begin and end matches
    content: tuple[str, ...]  # between them


class TextMateGrammar:
    """A small interpreter of a TextMate grammar: `match` and `begin`/`end` rules with
    `name`, `contentName`, `captures`/`beginCaptures`/`endCaptures` and `patterns`, and
    `include` of `#repository` rules and `$self`. At each position the earliest match
    wins, ties going to the rule listed first and to a region's `end` — as in
    vscode-textmate. Lines are matched with their newline, like vscode-textmate does."""

    def __init__(self, data: dict):
        self.data = data
        self.scope_name = data["scopeName"]
        self.repository = data.get("repository", {})
        self._compiled: dict[str, re.Pattern] = {}

    def regex(self, source: str) -> re.Pattern:
        if source not in self._compiled:
            self._compiled[source] = re.compile(source)
        return self._compiled[source]

    def rules(self, patterns: list[dict]) -> list[dict]:
        out = []
        for pattern in patterns:
            if "include" in pattern:
                ref = pattern["include"]
                if ref in ("$self", "$base"):
                    out += self.rules(self.data["patterns"])
                elif ref.startswith("#"):
                    out += self.rules([self.repository[ref[1:]]])
                else:
                    raise ValueError(f"unsupported include {ref}")
            elif "match" in pattern or "begin" in pattern:
                out.append(pattern)
            else:
                out += self.rules(pattern.get("patterns", []))
        return out

    def tokenize_line(self, line: str, stack: tuple[_Frame, ...]):
        """Scopes of each character of `line`, and the stack of open regions after it."""
        text = line + "\n"
        scopes: list[tuple[str, ...]] = [()] * len(text)
        pos, stalls = 0, 0

        def paint(start, end, names, match=None, captures=None):
            for i in range(start, end):
                extra = ()
                for group, capture in sorted((captures or {}).items(), key=lambda kv: int(kv[0])):
                    g = int(group)
                    if capture.get("name") and match.start(g) != -1 and match.start(g) <= i < match.end(g):
                        extra += tuple(capture["name"].split())
                scopes[i] = names + extra

        while True:
            base = stack[-1].content if stack else (self.scope_name,)
            candidates = [("end", stack[-1].rule)] if stack else []
            candidates += [("rule", r) for r in self.rules(stack[-1].rule.get("patterns", []) if stack else self.data["patterns"])]
            best = None
            for kind, rule in candidates:
                source = rule["end"] if kind == "end" else rule.get("match", rule.get("begin"))
                match = self.regex(source).search(text, pos)
                if match and (best is None or match.start() < best[2].start()):
                    best = (kind, rule, match)
            if best is None:
                paint(pos, len(text), base)
                break
            kind, rule, match = best
            paint(pos, match.start(), base)
            names = tuple((rule.get("name") or "").split())
            if kind == "end":
                frame = stack[-1]
                paint(match.start(), match.end(), frame.scopes, match, rule.get("endCaptures", rule.get("captures")))
                stack = stack[:-1]
            elif "match" in rule:
                if match.end() == match.start():
                    raise AssertionError(f"empty match of {rule['match']!r} at {pos} in {line!r}")
                paint(match.start(), match.end(), base + names, match, rule.get("captures"))
            else:
                paint(match.start(), match.end(), base + names, match, rule.get("beginCaptures", rule.get("captures")))
                content = base + names + tuple((rule.get("contentName") or "").split())
                stack = stack + (_Frame(rule, base + names, content),)
            stalls = stalls + 1 if match.end() == pos else 0
            if stalls > 50:
                raise AssertionError(f"the grammar makes no progress at {pos} in {line!r}")
            pos = match.end()
        return scopes[: len(line)], stack

    def tokenize(self, text: str) -> tuple[list[tuple[str, ...]], tuple[_Frame, ...]]:
        """Scopes of each character of `text` (newlines get the grammar's scope)."""
        classes: list[tuple[str, ...]] = []
        stack: tuple[_Frame, ...] = ()
        for number, line in enumerate(text.split("\n")):
            if number:
                classes.append((self.scope_name,))
            line_scopes, stack = self.tokenize_line(line, stack)
            classes += line_scopes
        return classes, stack


@lru_cache(maxsize=1)
def tm_data() -> dict:
    return json.loads(TM_GRAMMAR.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tm() -> TextMateGrammar:
    return TextMateGrammar(tm_data())


def _has(scopes, *prefixes) -> bool:
    return any(s == p or s.startswith(p + ".") for s in scopes for p in prefixes)


TM_ACCEPTS = {
    "keyword": lambda s: _has(s, "keyword.other", "keyword.control", "storage.type") and not _has(s, "string", "comment"),
    "name": lambda s: _has(s, "variable", "entity.name")
    and not _has(s, "keyword", "storage", "string", "comment", "variable.other.placeholder"),
    "string": lambda s: _has(s, "string.quoted.double") and not _has(s, "variable.other.placeholder", "comment"),
    "placeholder": lambda s: _has(s, "string.quoted.double") and _has(s, "variable.other.placeholder"),
    "number": lambda s: _has(s, "constant.numeric"),
    "operator": lambda s: _has(s, "keyword.operator"),
    "punctuation": lambda s: _has(s, "punctuation") and not _has(s, "string", "comment"),
    "comment": lambda s: _has(s, "comment.line.number-sign"),
}


def _all_regexes(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("match", "begin", "end", "while") and isinstance(value, str):
                yield value
            else:
                yield from _all_regexes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _all_regexes(item)


def test_textmate_grammar_metadata():
    data = tm_data()
    assert data["scopeName"] == "source.mlspec"
    assert data["fileTypes"] == ["mlspec"]
    assert data["name"] == "mlspec"


def test_textmate_regexes_compile_with_python_and_avoid_oniguruma_only_syntax():
    regexes = list(_all_regexes(tm_data()))
    assert len(regexes) > 20
    for source in regexes:
        re.compile(source)
        # Possessive quantifiers, atomic groups, \h, \G, \A, \z and named backreferences
        # mean different things (or nothing) outside Oniguruma.
        assert not re.search(r"[*+?}]\+|\(\?>|\\[hHGAzZ]|\\k<", source), source


def test_textmate_includes_resolve(tm):
    def walk(node):
        if isinstance(node, dict):
            if "include" in node:
                ref = node["include"]
                assert ref in ("$self", "$base") or ref[1:] in tm.repository, ref
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(tm_data())


@pytest.mark.parametrize("path", EXAMPLES, ids=EXAMPLE_IDS)
def test_textmate_tokenizes_example(tm, path):
    text = path.read_text(encoding="utf-8")
    classes, stack = tm.tokenize(text)
    assert stack == (), "a region is still open at the end of the file"
    unscoped = [
        f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, i) + 1}: {text[i]!r}"
        for i, scopes in enumerate(classes)
        if not text[i].isspace() and scopes == (tm.scope_name,)
    ]
    assert unscoped == []


@pytest.mark.parametrize("path", EXAMPLES, ids=EXAMPLE_IDS)
def test_textmate_agrees_with_the_parser(tm, path):
    classes, _ = tm.tokenize(path.read_text(encoding="utf-8"))
    assert disagreements(path, classes, TM_ACCEPTS) == []


def test_textmate_knows_every_keyword(tm):
    for word in keywords():
        scopes, stack = tm.tokenize_line(word, ())
        assert stack == () and all(TM_ACCEPTS["keyword"](s) for s in scopes), (word, scopes[0])
        assert generate.SCOPES[_kind_of(word)] in scopes[0], (word, scopes[0])
    for rule in tm.rules([{"include": "#keywords"}]):
        listed = re.findall(r"[a-z_]+", re.sub(r"\\b|\(\?:|\)", " ", rule["match"]))
        kind = next(kind for kind, scope in generate.SCOPES.items() if scope == rule["name"])
        assert sorted(listed) == sorted(KINDS[kind]), (rule["name"], "run `python editors/generate.py`")


def test_textmate_highlights_every_title_and_model_source(tm):
    for kind in KINDS["test_kinds"]:
        scopes, _ = tm.tokenize_line(f'{kind} "a title" {{', ())
        assert _has(scopes[0], "keyword.control.test") and _has(scopes[len(kind) + 2], "entity.name.section"), (kind, scopes)
    for model_format in KINDS["model_formats"]:
        scopes, _ = tm.tokenize_line(f'  {model_format} "x"', ())
        assert _has(scopes[2], "keyword.other.model-format"), (model_format, scopes[2])


def test_textmate_rules_name_no_stale_keyword():
    """Every word of an alternation in the grammar's regexes (`(from|swap|at)`) is a keyword."""
    words = {word for source in _all_regexes(tm_data()) for word in _alternation_words(source)}
    assert words - set(keywords()) == set()


def test_textmate_every_keyword_in_the_examples_is_a_keyword_somewhere(tm):
    seen = set()
    for path in EXAMPLES:
        text = path.read_text(encoding="utf-8")
        classes, _ = tm.tokenize(text)
        for start in keyword_starts(path):
            if TM_ACCEPTS["keyword"](classes[start]):
                seen.add(text_of(path, start))
    used = {text_of(path, i) for path in EXAMPLES for i in keyword_starts(path)}
    assert used - seen == set()


def test_textmate_samples(tm):
    line = '  template "I {a:adj} {x}\\"" -> positive  # note'
    scopes, stack = tm.tokenize_line(line, ())
    assert stack == ()

    def at(fragment, offset=0):
        return scopes[line.index(fragment) + offset]

    assert _has(at("template"), "keyword.other")
    assert _has(at("{a:adj}"), "variable.other.placeholder") and _has(at("{a:adj}"), "string.quoted.double")
    assert _has(at("{x}", 1), "variable.other.placeholder")
    assert _has(at('\\"'), "constant.character.escape")
    assert _has(at("->"), "keyword.operator")
    assert TM_ACCEPTS["name"](at("positive"))
    assert _has(at("# note"), "comment.line.number-sign")

    line = 'mft "no {placeholder} in titles" on m1, text {'
    scopes, _ = tm.tokenize_line(line, ())
    assert _has(at("mft"), "keyword.control")
    assert _has(at("titles"), "entity.name.section") and not _has(at("{placeholder}"), "variable.other.placeholder")
    assert TM_ACCEPTS["name"](at("text")) and _has(at("text {", 5), "punctuation")

    line = "perturb swap(first_name) then typos(count: 1) variants 2"
    scopes, _ = tm.tokenize_line(line, ())
    assert _has(at("swap"), "entity.name.function") and _has(at("typos"), "entity.name.function")
    assert _has(at("count"), "variable.parameter") and _has(at("1)"), "constant.numeric")
    assert _has(at("variants"), "keyword.other")

    # An unterminated string ends at the end of its line.
    (scopes, stack) = tm.tokenize_line('lexicon l = ["a', ())
    _, stack = tm.tokenize_line('"b"]', stack)
    assert stack == ()


# ---------------------------------------------------------------- VS Code extension


def test_vscode_extension():
    package = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    (language,) = package["contributes"]["languages"]
    (grammar,) = package["contributes"]["grammars"]
    assert language["id"] == grammar["language"] == "mlspec"
    assert language["extensions"] == [".mlspec"]
    assert grammar["scopeName"] == tm_data()["scopeName"]
    # The extension folder must be self-contained (copied or packaged as it is), so it
    # holds a copy of editors/mlspec.tmLanguage.json; the two must not drift apart.
    assert (VSCODE / grammar["path"]).read_text(encoding="utf-8") == TM_GRAMMAR.read_text(encoding="utf-8"), (
        "copy editors/mlspec.tmLanguage.json to editors/vscode/syntaxes/"
    )
    configuration = json.loads((VSCODE / language["configuration"]).read_text(encoding="utf-8"))
    assert configuration["comments"]["lineComment"] == "#"
    assert {tuple(pair) for pair in configuration["brackets"]} == {("{", "}"), ("[", "]"), ("(", ")")}
    closing = {pair["open"]: pair["close"] for pair in configuration["autoClosingPairs"]}
    assert closing == {"{": "}", "[": "]", "(": ")", '"': '"'}
    re.compile(configuration["wordPattern"])
    for pattern in configuration["indentationRules"].values():
        re.compile(pattern)


# ---------------------------------------------------------------- VS Code's own engine (optional)

_NODE_TOKENIZER = r"""
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');
const req = createRequire(path.join(process.cwd(), 'index.js'));
const vsctm = req('vscode-textmate');
const onig = req('vscode-oniguruma');
const [grammarPath, ...files] = process.argv.slice(2);
(async () => {
  const wasm = fs.readFileSync(req.resolve('vscode-oniguruma/release/onig.wasm'));
  await onig.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (sources) => new onig.OnigScanner(sources),
      createOnigString: (s) => new onig.OnigString(s),
    }),
    loadGrammar: async () => vsctm.parseRawGrammar(fs.readFileSync(grammarPath, 'utf8'), grammarPath),
  });
  const grammar = await registry.loadGrammar('source.mlspec');
  const out = {};
  for (const file of files) {
    let stack = vsctm.INITIAL;
    out[file] = fs.readFileSync(file, 'utf8').split('\n').map((line) => {
      const result = grammar.tokenizeLine(line, stack);
      stack = result.ruleStack;
      return result.tokens.map((t) => [t.startIndex, t.endIndex, t.scopes]);
    });
  }
  process.stdout.write(JSON.stringify(out));
})().catch((error) => { console.error(error); process.exit(1); });
"""


@lru_cache(maxsize=1)
def _node() -> str | None:
    node = shutil.which("node")
    if node is None:
        return None
    probe = "require.resolve('vscode-textmate'); require.resolve('vscode-oniguruma')"
    found = subprocess.run([node, "-e", probe], cwd=ROOT, capture_output=True, timeout=60)
    return node if found.returncode == 0 else None


def test_vscode_textmate_engine_agrees(tm, tmp_path):
    node = _node()
    if node is None:
        missing = "needs node and the npm packages vscode-textmate and vscode-oniguruma (npm install --no-save vscode-textmate vscode-oniguruma)"
        (pytest.fail if os.environ.get("CI") else pytest.skip)(missing + ("; CI is set, so this fails" if os.environ.get("CI") else ""))
    script = tmp_path / "tokenize.js"
    script.write_text(_NODE_TOKENIZER, encoding="utf-8")
    files = [str(path) for path in EXAMPLES]
    done = subprocess.run(
        [node, str(script), str(TM_GRAMMAR), *files], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    engine = json.loads(done.stdout)
    problems = []
    for path in EXAMPLES:
        text = path.read_text(encoding="utf-8")
        classes: list[tuple[str, ...]] = []
        for number, (line, tokens) in enumerate(zip(text.split("\n"), engine[str(path)])):
            if number:
                classes.append((tm.scope_name,))
            line_classes = [(tm.scope_name,)] * len(line)
            for start, end, scopes in tokens:
                for i in range(start, min(end, len(line))):
                    line_classes[i] = tuple(scopes)
            classes += line_classes
        problems += disagreements(path, classes, TM_ACCEPTS)
        ours, _ = tm.tokenize(text)
        for i, (a, b) in enumerate(zip(ours, classes)):
            if a != b and not text[i].isspace():
                line = text.count("\n", 0, i) + 1
                problems.append(f"{path.relative_to(ROOT)}:{line}: {text[i]!r}: interpreter {a}, vscode-textmate {b}")
                break
    assert problems == []
