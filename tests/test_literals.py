"""`mlspec.language.literals`: string literals and labels are written so the parser reads
back exactly what was meant, and the parser reads them with the same code."""

from __future__ import annotations

import random
import re
from importlib import resources

import pytest

from mlspec.errors import MlspecError
from mlspec.language import ast
from mlspec.language.literals import LABEL_KEYWORDS, STRING, is_name, name_or_string, quote, unquote
from mlspec.language.parser import keywords, parse
from mlspec.language.sources import read_spec

# Characters that have tripped string literals up somewhere: quotes, backslashes, line
# breaks of every kind, control characters, placeholders, non-ASCII and astral characters.
ALPHABET = (
    ['"', "\\", "\n", "\r", "\t", "\x00", "\x01", "\x0b", "\x0c", "\x1b", "\x1c", "\x7f", "\x85", "\u2028", "\u2029"]
    + ["{", "}", "#", "'", " ", "a", "Z", "_", "0", "é", "ß", "中", "\u200b", "\ufeff", "😀", "\U0010fffd"]
    + list('\\n\\t\\r\\"')
)


def random_texts(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    texts = ["", "\\", '"', "\\\\", '\\"', "\n", "\r\n", "\\n", "a\\", 'end"']
    texts += ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 24))) for _ in range(count)]
    texts += ["".join(chr(rng.randint(1, 0x2FFF)) for _ in range(rng.randint(1, 12))) for _ in range(count // 4)]
    return texts


def test_string_terminal_is_the_grammars():
    grammar = resources.files("grammar").joinpath("mlspec.lark").read_text(encoding="utf-8")
    (pattern,) = re.findall(r"^STRING: /(.*)/$", grammar, re.MULTILINE)
    assert STRING.pattern == pattern


@pytest.mark.parametrize(
    "text, literal",
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("a\\b", '"a\\\\b"'),
        ("two\nlines\ttab", '"two\\nlines\\ttab"'),
        ("cr\r", '"cr\\r"'),
        ("{thing} é 😀", '"{thing} é 😀"'),
    ],
)
def test_quote(text, literal):
    assert quote(text) == literal
    assert unquote(literal) == text


def test_unquote_reads_any_escape_as_its_character():
    assert unquote('"\\{x\\} \\q \\\\n"') == "{x} q \\n"


def test_round_trip_of_many_random_strings(tmp_path):
    texts = random_texts(2000)
    for text in texts:
        literal = quote(text)
        assert unquote(literal) == text, repr(text)
        assert STRING.fullmatch(literal), repr(literal)
        assert "\n" not in literal and "\r" not in literal  # one line, even after reading with universal newlines
    # The parser reads each literal back, from text and from a file (read as spec files are).
    spec = "".join(f"lexicon l{i} = [{quote(text)}]\n" for i, text in enumerate(texts))
    for source in (spec, _written(tmp_path, spec)):
        parsed = parse(source, "strings.mlspec")
        assert [lexicon.values[0] for lexicon in parsed.lexicons] == texts


def _written(tmp_path, text: str) -> str:
    path = tmp_path / "strings.mlspec"
    path.write_text(text, encoding="utf-8")
    return read_spec(path)


def test_titles_and_paths_round_trip():
    for text in random_texts(200, seed=11):
        parsed = parse(f"spec {quote(text)}\ncapability {quote(text)} {{\n  mft {quote(text)} {{\n  }}\n}}\n", "t.mlspec")
        assert parsed.name == parsed.capabilities[0].title == parsed.capabilities[0].tests[0].title == text


# ---------------------------------------------------------------- labels

# Every place of the grammar where a label stands, as one spec; L is the label.
LABEL_PLACES = """
model m {
  output probabilities labels [L, L]
}
capability "c" {
  mft "t" {
    template "x" -> L
    where original.label == L
    where original.label != L
    where original.label in [L, L]
    where original.prob(L) > 0.5
    expect label == L
    expect label != L
    expect label in [L]
    expect label not in [L, L]
    expect prob(L) >= 0.5
    expect margin(L, L) not increasing
    positive L
    privileged column == L
    metric mean prob(L)
  }
}
"""
PLACES = LABEL_PLACES.count("L")  # the only capital L of the spec


def labels_of(spec: ast.SpecFile) -> list[str]:
    """Every label of a parsed spec."""
    found: list[str] = []

    def walk(node, field=""):
        if isinstance(node, ast.Name):
            if field in ("labels", "label", "minus", "positive"):
                found.append(node.value)
        elif isinstance(node, ast.Node):
            for name in type(node).model_fields:
                walk(getattr(node, name), name)
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item, field)

    walk(spec)
    return found


def test_the_label_places_are_all_found():
    parsed = parse(LABEL_PLACES.replace("L", "x"), "labels.mlspec")
    assert labels_of(parsed) == ["x"] * PLACES
    assert PLACES == 19


@pytest.mark.parametrize("label", sorted({*keywords(), "negative", "very bad", "1st", 'say "hi"', "a\\b", "é", "x y", "_ok", "", "L"}))
def test_a_label_is_read_back_in_every_place(label):
    parsed = parse(LABEL_PLACES.replace("L", name_or_string(label)), "labels.mlspec")
    assert labels_of(parsed) == [label] * PLACES


def test_label_keywords_are_the_keywords_that_cannot_stand_bare_for_a_label():
    """Quoting exactly the words that need it keeps names bare: `labels [negative, neutral, positive]`."""
    needs_quotes = set()
    for word in keywords():
        try:
            parsed = parse(LABEL_PLACES.replace("L", word), "labels.mlspec")
        except MlspecError:
            needs_quotes.add(word)
            continue
        if labels_of(parsed) != [word] * PLACES:
            needs_quotes.add(word)
    assert needs_quotes == LABEL_KEYWORDS


def test_name_or_string():
    assert [name_or_string(v) for v in ("positive", "very bad", "expected", "label", "1st", "_x9")] == [
        "positive",
        '"very bad"',
        '"expected"',
        "label",
        '"1st"',
        "_x9",
    ]
    assert is_name("abc_1") and not is_name("a-b") and not is_name("")
