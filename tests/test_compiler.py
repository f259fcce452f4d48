"""Tests for the compiler (mlspec.compile.compiler) and template expansion (mlspec.compile.templates).

Each test writes a small spec into a temporary directory and compiles it with
`plan_file`, then checks exact cases. Model files are never opened by the compiler, so
the specs name a model file that does not exist.
"""

from __future__ import annotations

import itertools
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from mlspec.compile.plan import LabelCheck, Plan, TestPlan, UnchangedCheck
from mlspec.compile.templates import expand, product_size, sample_indices
from mlspec.errors import MlspecError
from mlspec.language.checker import Placeholder, template_placeholders
from mlspec.library.lexicons import builtin_lexicons
from mlspec.library.seeds import seeded_rng
from mlspec.run.pipeline import plan_file

MODEL = """
model m {
  onnx "m.onnx"
  input text
  output probabilities labels [negative, positive]
}
"""


# ---------------------------------------------------------------- helpers


def write(directory: Path, name: str, body: str, header: str = MODEL) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.mlspec"
    path.write_text(header + body, encoding="utf-8")
    return path


def compile_text(tmp_path: Path, monkeypatch, body: str, name: str = "t", header: str = MODEL, seed: int | None = None) -> Plan:
    monkeypatch.chdir(tmp_path)
    return plan_file(write(tmp_path, name, body, header), seed=seed)[1]


def get_test(plan: Plan, title: str) -> TestPlan:
    return next(t for t in plan.tests if t.title == title)


def texts(plan: Plan, title: str) -> list[str]:
    """The case texts (originals for INV/DIR) of a test."""
    return [plan.inputs[i] for i in get_test(plan, title).inputs]


def variants(plan: Plan, title: str) -> list[list[str]]:
    """The variant texts of each case of an INV/DIR test."""
    test = get_test(plan, title)
    grouped: list[list[str]] = [[] for _ in range(test.n_cases)]
    for input_id, case in zip(test.variants, test.variant_case):
        grouped[case].append(plan.inputs[input_id])
    return grouped


def expected(plan: Plan, title: str) -> list[str | None]:
    test = get_test(plan, title)
    if test.expected is None:
        return [None] * test.n_cases
    return [test.expected_labels[e] if e >= 0 else None for e in test.expected]


def placeholders(text: str, lexicons) -> tuple[Placeholder, ...]:
    return tuple(Placeholder(*found) for found in template_placeholders(text, lexicons))


# ---------------------------------------------------------------- templates


def test_expansion_order_last_placeholder_varies_fastest(tmp_path, monkeypatch):
    plan = compile_text(tmp_path, monkeypatch, """
lexicon a = ["a1", "a2"]
lexicon b = ["b1", "b2", "b3"]
lexicon c = ["c1", "c2"]
capability "T" {
  mft "three" {
    template "{a}-{b}-{c}" -> positive
  }
}
""")
    want = ["-".join(combo) for combo in itertools.product(["a1", "a2"], ["b1", "b2", "b3"], ["c1", "c2"])]
    assert texts(plan, "three") == want
    assert texts(plan, "three")[:3] == ["a1-b1-c1", "a1-b1-c2", "a1-b2-c1"]


def test_case_counts_equal_the_product(tmp_path, monkeypatch):
    plan = compile_text(tmp_path, monkeypatch, """
lexicon a = ["1", "2", "3"]
lexicon b = ["x", "y", "z", "w"]
lexicon c = ["p", "q", "r", "s", "t"]
capability "T" {
  mft "two" {
    template "{a} {b}" -> positive
  }
  mft "three" {
    template "{a} {b} {c}" -> positive
  }
  mft "templates add up" {
    template "{a} {b} {c}" -> positive
    template "{c}!" -> negative
    template "no placeholder" -> negative
  }
  mft "repeated key counts once" {
    template "{a} and {a}, {b}" -> positive
  }
}
""")
    assert get_test(plan, "two").n_cases == 3 * 4
    assert get_test(plan, "three").n_cases == 3 * 4 * 5
    assert get_test(plan, "templates add up").n_cases == 3 * 4 * 5 + 5 + 1
    assert texts(plan, "repeated key counts once")[:5] == ["1 and 1, x", "1 and 1, y", "1 and 1, z", "1 and 1, w", "2 and 2, x"]
    assert get_test(plan, "repeated key counts once").n_cases == 12


def test_article_placeholder(tmp_path, monkeypatch):
    plan = compile_text(tmp_path, monkeypatch, """
lexicon fruit = ["apple", "pear", "egg", "Orange", "umbrella", "banana"]
capability "T" {
  mft "articles" {
    template "I ate {a:fruit}, the {fruit}." -> positive
  }
}
""")
    assert texts(plan, "articles") == [
        "I ate an apple, the apple.",
        "I ate a pear, the pear.",
        "I ate an egg, the egg.",
        "I ate an Orange, the Orange.",
        "I ate an umbrella, the umbrella.",
        "I ate a banana, the banana.",
    ]


def test_numbered_placeholders_are_independent_draws(tmp_path, monkeypatch):
    plan = compile_text(tmp_path, monkeypatch, """
lexicon x = ["A", "B", "C"]
capability "T" {
  mft "draws" {
    template "{x1} meets {x2}" -> positive
  }
  mft "one key" {
    template "{x} meets {x}" -> positive
  }
}
""")
    got = texts(plan, "draws")
    assert got == [f"{p} meets {q}" for p, q in itertools.product("ABC", "ABC")]
    assert {"A meets A", "B meets B", "C meets C"} <= set(got)
    assert texts(plan, "one key") == ["A meets A", "B meets B", "C meets C"]


SAMPLED = """
lexicon a = ["a1", "a2", "a3", "a4"]
lexicon b = ["b1", "b2", "b3", "b4", "b5"]
lexicon c = ["c1", "c2", "c3", "c4", "c5", "c6"]
capability "T" {
  mft "sampled" {
    template "{a} {b} {c}" -> positive
    sample 5 seed SEED
  }
  mft "full" {
    template "{a} {b} {c}" -> positive
  }
}
"""


def test_sampling_picks_distinct_cases_deterministically(tmp_path, monkeypatch):
    plan = compile_text(tmp_path, monkeypatch, SAMPLED.replace("SEED", "3"))
    full = texts(plan, "full")
    picked = texts(plan, "sampled")
    assert len(picked) == 5 and len(set(picked)) == 5
    # a subset of the product, kept in product order, drawn from the explicit seed's generator
    indices = sample_indices(len(full), 5, seeded_rng(3, "", "sample"))
    assert picked == [full[i] for i in indices]
    assert list(indices) == sorted(indices)
    # the same spec gives the same sample; another seed another sample
    assert texts(compile_text(tmp_path, monkeypatch, SAMPLED.replace("SEED", "3")), "sampled") == picked
    assert texts(compile_text(tmp_path, monkeypatch, SAMPLED.replace("SEED", "4")), "sampled") != picked


def test_sample_across_templates_is_one_space(tmp_path, monkeypatch):
    plan = compile_text(tmp_path, monkeypatch, """
lexicon a = ["1", "2", "3", "4"]
capability "T" {
  mft "two templates" {
    template "pos {a}" -> positive
    template "neg {a}" -> negative
    sample 8 seed 1
  }
  mft "more than there is" {
    template "pos {a}" -> positive
    template "neg {a}" -> negative
    sample 100 seed 1
  }
}
""")
    every = [f"pos {a}" for a in "1234"] + [f"neg {a}" for a in "1234"]
    assert texts(plan, "two templates") == every
    assert expected(plan, "two templates") == ["positive"] * 4 + ["negative"] * 4
    assert texts(plan, "more than there is") == every


def test_sample_indices_small_cases():
    rng = np.random.default_rng(0)
    assert list(sample_indices(5, None, None)) == [0, 1, 2, 3, 4]
    assert list(sample_indices(5, 5, rng)) == [0, 1, 2, 3, 4]
    assert list(sample_indices(5, 9, rng)) == [0, 1, 2, 3, 4]
    picked = sample_indices(100, 10, np.random.default_rng(1))
    assert len(set(picked.tolist())) == 10 and list(picked) == sorted(picked) and picked.dtype == np.int64
    assert list(picked) == list(sample_indices(100, 10, np.random.default_rng(1)))
    assert list(picked) != list(sample_indices(100, 10, np.random.default_rng(2)))


def test_sampling_a_product_of_a_trillion_does_not_materialise_it():
    lexicons = {"city": builtin_lexicons()["city"]}
    total = len(lexicons["city"]) ** 4  # 925 distinct cities: about 7e11 cases
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        picked = sample_indices(total, 1000, np.random.default_rng(7))
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert len(picked) == 1000 and len(np.unique(picked)) == 1000
    assert picked.min() >= 0 and picked.max() < total and list(picked) == sorted(picked)
    assert peak < 16 << 20  # materialising the product would need terabytes

    found = placeholders("{city1} to {city2} via {city3} and {city4}", lexicons)
    assert product_size(found, lexicons) == total
    expansion = expand("{city1} to {city2} via {city3} and {city4}", found, lexicons, picked)
    assert len(set(expansion.texts.tolist())) == 1000
    cities = lexicons["city"]
    first = int(picked[0])
    n = len(cities)
    digits = [first // n**3 % n, first // n**2 % n, first // n % n, first % n]
    assert expansion.texts[0] == "{} to {} via {} and {}".format(*(cities[d] for d in digits))


def test_spec_sampling_a_trillion_case_product(tmp_path, monkeypatch):
    body = """
capability "T" {
  mft "huge" {
    template "{city1} to {city2} via {city3} and {city4}" -> positive
    sample 50 seed 1
  }
}
"""
    plan = compile_text(tmp_path, monkeypatch, body)
    got = texts(plan, "huge")
    assert len(got) == 50 and len(set(got)) == 50


def test_expand_fixed_key():
    lexicons = {"who": ("Ann", "Bob"), "grp": ("atheist", "Hindu")}
    found = placeholders("{who} is {a:grp}.", lexicons)
    assert product_size(found, lexicons, frozenset(["grp"])) == 2
    out = expand("{who} is {a:grp}.", found, lexicons, np.array([0, 1]), {"grp": 1})
    assert out.texts.tolist() == ["Ann is a Hindu.", "Bob is a Hindu."]
    assert out.choices["grp"].tolist() == [1, 1] and out.choices["who"].tolist() == [0, 1]


# ---------------------------------------------------------------- deduplication


def test_identical_inputs_share_one_id(tmp_path, monkeypatch):
    plan = compile_text(tmp_path, monkeypatch, """
lexicon adj = ["good", "bad"]
capability "T" {
  mft "first" {
    template "The film was {adj}." -> positive
    template "Shared sentence." -> positive
  }
  mft "second" {
    template "Shared sentence." -> negative
    template "The film was {adj}." -> negative
  }
  inv "third" {
    template "The film was {adj}."
    perturb append(["Shared sentence."])
  }
}
""")
    first, second, third = (get_test(plan, t) for t in ("first", "second", "third"))
    shared = plan.inputs.index("Shared sentence.")
    assert first.inputs[2] == second.inputs[0] == shared
    assert list(first.inputs[:2]) == list(second.inputs[1:]) == list(third.inputs)
    every = [plan.inputs[i] for t in plan.tests for i in t.input_ids()]
    assert len(plan.inputs) == len(set(every)) == len(set(plan.inputs))
    assert set(plan.inputs) == set(every)
    assert plan.inputs == ["The film was good.", "The film was bad.", "Shared sentence.",
                           "The film was good. Shared sentence.", "The film was bad. Shared sentence."]


def test_model_inputs_are_sorted_unique_ids(tmp_path, monkeypatch):
    header = """
model one {
  onnx "one.onnx"
  input text
  output probabilities labels [negative, positive]
}
model two {
  onnx "two.onnx"
  input text
  output probabilities labels [negative, positive]
}
"""
    plan = compile_text(tmp_path, monkeypatch, """
lexicon adj = ["good", "bad", "fine"]
capability "T" {
  mft "both" on one, two {
    template "It was {adj}." -> positive
  }
  mft "only two" on two {
    template "So {adj}." -> positive
    template "It was {adj}." -> positive
  }
  inv "only one" on one {
    template "Truly {adj}."
    perturb append(["It was good."])
  }
}
""", header=header)
    for model in ("one", "two"):
        ids = np.concatenate([t.input_ids() for t in plan.tests if model in t.models])
        got = plan.model_inputs(model)
        assert got.tolist() == sorted(set(ids.tolist()))
    assert [plan.inputs[i] for i in plan.model_inputs("two")] == ["It was good.", "It was bad.", "It was fine.", "So good.", "So bad.", "So fine."]
    assert len(plan.model_inputs("one")) == 3 + 3 + 3  # "It was good." is shared with the variants
    assert get_test(plan, "both").models == ("one", "two")


# ---------------------------------------------------------------- INV / DIR layout

LAYOUT_DATA = """text,label
"I can't go.",negative
Fine.,positive
It is good.,positive
No change here,negative
"It's 20 great songs, isn't it?",positive
"""


def layout_plan(tmp_path, monkeypatch) -> Plan:
    (tmp_path / "d.csv").write_text(LAYOUT_DATA, encoding="utf-8")
    return compile_text(tmp_path, monkeypatch, """
dataset d = csv "d.csv"
lexicon who = ["Ann", "Bob", "Cy"]
capability "T" {
  inv "contractions" {
    from d
    perturb contractions
  }
  inv "typos" {
    from d
    perturb typos(count: 1) variants 3
  }
  inv "numbers" {
    from d
    perturb change_numbers(n: 2)
  }
  inv "chain" {
    from d
    perturb prepend(["Well,", "So,"]) then typos variants 3
  }
  dir "append" {
    from d
    perturb append(["Great."])
    expect prob(positive) not decreasing
  }
  inv "swap names" {
    template "{who} liked it."
    perturb swap(who) variants 1
  }
}
""")


def test_inv_dir_layout_invariants(tmp_path, monkeypatch):
    plan = layout_plan(tmp_path, monkeypatch)
    for test in plan.tests:
        assert test.error is None
        case = test.variant_case
        assert len(case) == len(test.variants)
        assert np.all(np.diff(case) >= 0), test.title
        assert np.all(np.bincount(case, minlength=test.n_cases) >= 1), test.title
        assert case.max() == test.n_cases - 1
        for input_id, c in zip(test.variants, case):
            assert plan.inputs[input_id] != plan.inputs[test.inputs[c]], test.title
        for group in variants(plan, test.title):
            assert len(group) == len(set(group))


def test_inapplicable_cases_are_dropped_and_counted(tmp_path, monkeypatch):
    plan = layout_plan(tmp_path, monkeypatch)
    assert texts(plan, "contractions") == ["I can't go.", "It is good.", "It's 20 great songs, isn't it?"]
    assert variants(plan, "contractions") == [["I cannot go."], ["It's good."], ["It is 20 great songs, is not it?"]]
    assert get_test(plan, "contractions").dropped == 2
    assert expected(plan, "contractions") == ["negative", "positive", "positive"]
    assert texts(plan, "numbers") == ["It's 20 great songs, isn't it?"]
    assert get_test(plan, "numbers").dropped == 4
    assert len(variants(plan, "numbers")[0]) == 2
    assert get_test(plan, "typos").dropped == 0 and get_test(plan, "typos").n_cases == 5
    assert all(1 <= len(v) <= 3 for v in variants(plan, "typos"))
    assert variants(plan, "append")[1] == ["Fine. Great."]
    assert [len(v) for v in variants(plan, "swap names")] == [1, 1, 1]


def test_chain_applies_steps_in_order(tmp_path, monkeypatch):
    plan = layout_plan(tmp_path, monkeypatch)
    for original, group in zip(texts(plan, "chain"), variants(plan, "chain")):
        assert 1 <= len(group) <= 3
        for variant in group:
            # one adjacent swap somewhere in "Well, <original>" or "So, <original>"
            assert any(len(variant) == len(f"{p} {original}") and sorted(variant) == sorted(f"{p} {original}") for p in ("Well,", "So,"))


def test_nothing_applies_gives_no_cases(tmp_path, monkeypatch):
    (tmp_path / "d.csv").write_text("text\nNo numbers.\nNone here.\n", encoding="utf-8")
    plan = compile_text(tmp_path, monkeypatch, """
dataset d = csv "d.csv"
capability "T" {
  inv "numbers" {
    from d
    perturb change_numbers
  }
}
""")
    test = get_test(plan, "numbers")
    assert test.n_cases == 0 and test.dropped == 2 and len(test.variants) == 0 and test.error is None


# ---------------------------------------------------------------- swap statement


def test_swap_statement_one_example_per_value(tmp_path, monkeypatch):
    plan = compile_text(tmp_path, monkeypatch, """
lexicon who = ["Ann", "Bob"]
lexicon grp = ["atheist", "Christian", "Hindu", "Muslim"]
capability "T" {
  inv "swap" {
    template "{who} is {a:grp}." -> positive
    swap grp
  }
}
""")
    test = get_test(plan, "swap")
    assert texts(plan, "swap") == ["Ann is an atheist.", "Bob is an atheist."]
    assert variants(plan, "swap") == [
        ["Ann is a Christian.", "Ann is a Hindu.", "Ann is a Muslim."],
        ["Bob is a Christian.", "Bob is a Hindu.", "Bob is a Muslim."],
    ]
    assert test.variant_case.tolist() == [0, 0, 0, 1, 1, 1]
    assert expected(plan, "swap") == ["positive", "positive"]
    assert test.checks == (UnchangedCheck(tolerance=None),)


def test_swap_statement_with_sample_and_several_templates(tmp_path, monkeypatch):
    plan = compile_text(tmp_path, monkeypatch, """
lexicon degree = ["quite", "very", "extremely"]
lexicon adj = ["good", "nice", "fine", "great"]
capability "T" {
  dir "swap" {
    template "It was {degree} {adj}." -> positive
    template "It was {degree} bad." -> negative
    swap degree
    sample 3 seed 2
    expect confidence not decreasing
  }
}
""")
    originals = texts(plan, "swap")
    assert len(originals) == 3 and all(" quite " in t for t in originals)
    for original, group in zip(originals, variants(plan, "swap")):
        assert group == [original.replace("quite", "very"), original.replace("quite", "extremely")]
    assert set(originals) <= {f"It was quite {a}." for a in ("good", "nice", "fine", "great", "bad")}



def test_swap_statement_needs_two_values(tmp_path, monkeypatch):
    body = """
lexicon one = ["only"]
capability "T" {
  inv "swap" {
    template "It is {one}."
    swap one
  }
}
"""
    with pytest.raises(MlspecError, match="`swap one` needs a lexicon of at least two values"):
        compile_text(tmp_path, monkeypatch, body)



def test_swap_statement_with_perturb_is_not_ignored(tmp_path, monkeypatch):
    body = """
lexicon two = ["x", "y"]
capability "T" {
  inv "both" {
    template "It is {two}."
    swap two
    perturb append(["Really."])
  }
}
"""
    with pytest.raises(MlspecError, match="a test makes its variants with `swap` or with `perturb`, not both"):
        compile_text(tmp_path, monkeypatch, body)


# ---------------------------------------------------------------- expected labels and default checks


def test_template_labels_set_expected(tmp_path, monkeypatch):
    plan = compile_text(tmp_path, monkeypatch, """
lexicon adj = ["good", "bad"]
capability "T" {
  mft "labels" {
    template "Pos {adj}." -> positive
    template "Neg {adj}." -> "negative"
  }
  mft "explicit" {
    template "Pos {adj}." -> positive
    expect label == positive
  }
  mft "no labels" {
    template "Pos {adj}."
    expect label == positive
  }
  inv "inv default" {
    template "Pos {adj}." -> positive
    perturb punctuation
  }
}
""")
    test = get_test(plan, "labels")
    assert test.expected_labels == ("negative", "positive")
    assert test.expected.tolist() == [1, 1, 0, 0]
    assert expected(plan, "labels") == ["positive", "positive", "negative", "negative"]
    assert test.checks == (LabelCheck(op="==", expected=True),)
    assert str(test.checks[0]) == "label == expected"
    assert get_test(plan, "explicit").checks == (LabelCheck(op="==", labels=("positive",)),)
    assert get_test(plan, "explicit").expected_labels == ("positive",)
    assert get_test(plan, "no labels").expected is None and get_test(plan, "no labels").expected_labels == ()
    assert get_test(plan, "inv default").checks == (UnchangedCheck(tolerance=None),)
    assert expected(plan, "inv default") == ["positive", "positive"]
    cases = plan.to_json()["tests"][0]["case_list"]
    assert cases == [{"input": "Pos good.", "expected": "positive"}, {"input": "Pos bad.", "expected": "positive"},
                     {"input": "Neg good.", "expected": "negative"}, {"input": "Neg bad.", "expected": "negative"}]


def test_dataset_label_column_sets_expected(tmp_path, monkeypatch):
    (tmp_path / "d.csv").write_text("sentence,gold\nGreat.,positive\nAwful.,negative\nFine.,positive\n", encoding="utf-8")
    (tmp_path / "d.jsonl").write_text('{"text": "Yes.", "label": "positive"}\n\n{"text": "No.", "label": "negative"}\n', encoding="utf-8")
    plan = compile_text(tmp_path, monkeypatch, """
dataset d = csv "d.csv" { text: sentence, label: gold }
dataset j = jsonl "d.jsonl"
capability "T" {
  mft "csv" {
    from d
  }
  mft "jsonl" {
    from j
  }
  mft "sampled" {
    from d sample 2 seed 0
  }
}
""")
    assert texts(plan, "csv") == ["Great.", "Awful.", "Fine."]
    assert expected(plan, "csv") == ["positive", "negative", "positive"]
    assert get_test(plan, "csv").expected_labels == ("negative", "positive")
    assert get_test(plan, "csv").checks == (LabelCheck(op="==", expected=True),)
    assert texts(plan, "jsonl") == ["Yes.", "No."] and expected(plan, "jsonl") == ["positive", "negative"]
    rows = dict(zip(["Great.", "Awful.", "Fine."], ["positive", "negative", "positive"]))
    assert [rows[t] for t in texts(plan, "sampled")] == expected(plan, "sampled")
    assert len(texts(plan, "sampled")) == 2


def test_dataset_labels_unknown_to_the_model_are_an_error(tmp_path, monkeypatch):
    (tmp_path / "d.csv").write_text("text,label\nGreat.,positive\nMeh.,neutral\n", encoding="utf-8")
    plan = compile_text(tmp_path, monkeypatch, """
dataset d = csv "d.csv"
capability "T" {
  mft "csv" {
    from d
  }
}
""")
    assert "labels the model does not know: 'neutral'" in get_test(plan, "csv").error



def test_mft_without_expect_needs_a_label_column(tmp_path, monkeypatch):
    (tmp_path / "u.csv").write_text("sentence\nJust a movie.\nAnother one.\n", encoding="utf-8")
    body = """
dataset plain = csv "u.csv" { text: sentence }
capability "T" {
  mft "no labels" {
    from plain
  }
}
"""
    test = get_test(compile_text(tmp_path, monkeypatch, body), "no labels")
    assert test.error.startswith("t.mlspec:10:7: error: dataset `plain` has no label column `label`, so its cases have no expected label")
    assert "hint: name the label column (`{ text: ..., label: COLUMN }`) or say what to expect (`expect label == X`)" in test.error
    assert test.n_cases == 0



def test_csv_with_byte_order_mark(tmp_path, monkeypatch):
    (tmp_path / "bom.csv").write_bytes("\ufefftext,label\nGood.,positive\n".encode("utf-8"))
    plan = compile_text(tmp_path, monkeypatch, """
dataset d = csv "bom.csv"
capability "T" {
  mft "bom" {
    from d
  }
}
""")
    assert get_test(plan, "bom").error is None
    assert texts(plan, "bom") == ["Good."]


# ---------------------------------------------------------------- broken data


def test_broken_data_file_marks_only_its_tests(tmp_path, monkeypatch):
    (tmp_path / "bad.jsonl").write_text('{"text": "a", "label": "positive"}\n\n{"text": "b", "label": \n{"text": "c"}\n', encoding="utf-8")
    (tmp_path / "good.csv").write_text("text,label\nGood.,positive\n", encoding="utf-8")
    plan = compile_text(tmp_path, monkeypatch, """
dataset bad = jsonl "bad.jsonl"
dataset good = csv "good.csv"
capability "T" {
  mft "broken" {
    from bad
  }
  inv "broken too" {
    from bad
    perturb typos
  }
  mft "fine" {
    from good
  }
}
""")
    broken = get_test(plan, "broken")
    assert broken.error is not None
    assert "line 3" in broken.error and "bad.jsonl" in broken.error and "not valid JSON" in broken.error
    assert broken.error.startswith("t.mlspec:8:1: error: dataset `bad`")
    assert broken.n_cases == 0
    assert get_test(plan, "broken too").error == broken.error
    assert get_test(plan, "fine").error is None and texts(plan, "fine") == ["Good."]
    assert plan.inputs == ["Good."]
    assert plan.model_inputs("m").tolist() == [0]
    data = plan.to_json()["tests"][0]
    assert data["error"] == broken.error and "case_list" not in data
    assert "error: t.mlspec:8:1" in plan.summary()


def test_json_line_that_is_not_an_object(tmp_path, monkeypatch):
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n[1, 2]\n', encoding="utf-8")
    plan = compile_text(tmp_path, monkeypatch, """
dataset bad = jsonl "bad.jsonl"
capability "T" {
  mft "broken" {
    from bad
    expect label == positive
  }
}
""")
    assert "line 2: expected a JSON object, found list" in get_test(plan, "broken").error



def test_unsampled_huge_product_is_a_test_error(tmp_path, monkeypatch):
    body = """
capability "T" {
  mft "huge" {
    template "{city1} {city2} {city3} {city4} {city5} {city6}" -> positive
  }
  mft "small" {
    template "ok" -> positive
  }
}
"""
    plan = compile_text(tmp_path, monkeypatch, body)
    error = get_test(plan, "huge").error
    assert error.startswith("t.mlspec:9:7: error: templates expand to 626,398,049,072,265,625 cases")
    assert "hint: add `sample N` to keep N of them (at most 10,000,000 without one)" in error
    assert texts(plan, "small") == ["ok"]


# ---------------------------------------------------------------- fairness


def test_fairness_groups_follow_the_by_key(tmp_path, monkeypatch):
    plan = compile_text(tmp_path, monkeypatch, """
lexicon grp = ["Asian", "white"]
lexicon thing = ["film", "show"]
capability "T" {
  fairness "groups" {
    template "{a:grp} {thing}."
    template "The {thing} by {grp1} and {grp}."
    by grp
    metric mean prob(positive)
    expect max_gap <= 0.1
  }
}
""")
    test = get_test(plan, "groups")
    assert test.payload.group_names == ("Asian", "white")
    assert texts(plan, "groups")[:4] == ["an Asian film.", "an Asian show.", "a white film.", "a white show."]
    assert [test.payload.group_names[g] for g in test.payload.groups] == ["Asian", "Asian", "white", "white"] + ["Asian", "white"] * 4
    assert str(test.payload.metric) == "mean prob(positive)"


# ---------------------------------------------------------------- test ids and order independence

ORDER_TESTS = {
    "sampled": """
  mft "sampled" {
    template "{first_name} saw the {thing}." -> positive
    sample 6
  }""",
    "typos": """
  inv "typos" {
    template "The {thing} was {adj}."
    perturb typos variants 2
  }""",
    "seeded": """
  dir "seeded" {
    template "{first_name} liked the {thing}." -> positive
    sample 4 seed 9
    perturb typos then append(["Yes."])
    expect prob(positive) not decreasing
  }""",
    "extra": """
  inv "extra" {
    template "{thing} {adj} {first_name}"
    sample 50
    perturb typos(count: 2) variants 3
  }""",
}
ORDER_HEADER = MODEL + """
spec "order" seed 17
lexicon thing = ["film", "plot", "song", "cast", "score"]
lexicon adj = ["good", "bad", "fine"]
"""


def order_spec(directory: Path, names: list[str]) -> Path:
    body = 'capability "Order" {' + "".join(ORDER_TESTS[n] for n in names) + "\n}\n"
    return write(directory, "order", body, ORDER_HEADER)


def cases_by_id(plan: Plan) -> dict[str, tuple]:
    out = {}
    for test in plan.tests:
        originals = tuple(plan.inputs[i] for i in test.inputs)
        varied = tuple(plan.inputs[i] for i in test.variants) if test.variants is not None else None
        cases = test.variant_case.tolist() if test.variant_case is not None else None
        out[test.id] = (originals, varied, cases)
    return out


def test_ids_and_cases_do_not_depend_on_test_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, forward = plan_file(order_spec(tmp_path / "a", ["sampled", "typos", "seeded"]))
    _, backward = plan_file(order_spec(tmp_path / "b", ["seeded", "typos", "sampled"]))
    _, extended = plan_file(order_spec(tmp_path / "c", ["extra", "sampled", "typos", "seeded"]))
    assert [t.id for t in forward.tests] == ["order.Order.sampled", "order.Order.typos", "order.Order.seeded"]
    assert [t.id for t in backward.tests] == ["order.Order.seeded", "order.Order.typos", "order.Order.sampled"]
    want = cases_by_id(forward)
    assert cases_by_id(backward) == want
    got = cases_by_id(extended)
    assert {k: got[k] for k in want} == want
    # the input tables differ (ids are assigned in test order), the texts do not
    assert forward.inputs != extended.inputs and set(forward.inputs) < set(extended.inputs)


def test_a_tests_cases_depend_on_its_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, plan = plan_file(order_spec(tmp_path / "a", ["sampled"]))
    renamed = order_spec(tmp_path / "b", ["sampled"])
    renamed.write_text(renamed.read_text().replace('mft "sampled"', 'mft "sampled again"'))
    _, other = plan_file(renamed)
    assert other.tests[0].id == "order.Order.sampled again"
    assert texts(plan, "sampled") != texts(other, "sampled again")


def test_test_id_format(tmp_path, monkeypatch):
    plan = compile_text(tmp_path, monkeypatch, """
capability "Cap One" {
  mft "a title, with words" {
    template "x" -> positive
  }
}
capability "Two" {
  mft "b" {
    template "y" -> positive
  }
}
""", name="my_spec")
    assert [t.id for t in plan.tests] == ["my_spec.Cap One.a title, with words", "my_spec.Two.b"]
    assert [t.capability for t in plan.tests] == ["Cap One", "Two"]
    assert plan.spec_name == "my_spec" and plan.spec_path == "my_spec.mlspec"


def test_seed_override_changes_unseeded_choices_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = order_spec(tmp_path, ["sampled", "typos", "seeded"])
    _, base = plan_file(path)
    _, again = plan_file(path, seed=17)  # the spec's own seed
    _, other = plan_file(path, seed=18)
    assert base.seed == 17 and other.seed == 18
    assert cases_by_id(again) == cases_by_id(base)
    assert texts(other, "sampled") != texts(base, "sampled")  # unseeded sample: spec seed
    assert texts(other, "seeded") == texts(base, "seeded")  # `sample 4 seed 9` keeps its cases
    assert variants(other, "seeded") != variants(base, "seeded")  # perturbations follow the spec seed
    assert texts(other, "typos") == texts(base, "typos")
    assert variants(other, "typos") != variants(base, "typos")


# ---------------------------------------------------------------- seeds shared across tests


def test_an_explicit_sample_seed_picks_the_same_rows_in_every_test(tmp_path, monkeypatch):
    rows = "".join(f"Review number {i}.,positive\n" for i in range(50))
    (tmp_path / "r.csv").write_text("text,label\n" + rows, encoding="utf-8")
    plan = compile_text(tmp_path, monkeypatch, """
dataset r = csv "r.csv"
capability "T" {
  mft "first" {
    from r sample 10 seed 4
  }
  inv "second" {
    from r sample 10 seed 4
    perturb punctuation
  }
  mft "unseeded" {
    from r sample 10
  }
  mft "unseeded too" {
    from r sample 10
  }
}
""")
    assert texts(plan, "first") == texts(plan, "second")
    assert texts(plan, "unseeded") != texts(plan, "unseeded too")  # the test id decides


def test_capitalised_article_placeholder(tmp_path, monkeypatch):
    plan = compile_text(tmp_path, monkeypatch, """
lexicon fruit = ["apple", "pear"]
capability "T" {
  mft "articles" {
    template "{A:fruit} a day." -> positive
  }
}
""")
    assert texts(plan, "articles") == ["An apple a day.", "A pear a day."]
