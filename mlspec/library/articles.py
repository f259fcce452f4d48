"""English indefinite articles: "a" or "an" before a word, for templates and swaps."""


def indefinite_article(word: str) -> str:
    """Return "an" if ``word`` starts with a vowel letter, else "a"."""
    return "an" if word.lstrip()[:1].lower() in {"a", "e", "i", "o", "u"} else "a"
