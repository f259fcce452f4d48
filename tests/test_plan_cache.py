"""The compiled-plan cache (`mlspec.run.plan_cache`): a plan read back equals the one compiled
afresh, for every spec shipped; a change to any file a plan was built from, or to an option,
compiles afresh; a broken entry is never an error; nothing in an entry can run code."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from mlspec.cli import main
from mlspec.run import plan_cache
from mlspec.run.pipeline import cached_plan, plan_file

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted(spec for spec in (ROOT / "specs").glob("*/*.mlspec") if spec.name != "demo_model.mlspec")  # that one is a model card
SUITE = ROOT / "specs/checklist/sentiment_suite.json.gz"
DEMO_CARD = ROOT / "specs/checklist/demo_model.mlspec"


def as_data(plan) -> tuple[object, dict[str, np.ndarray]]:
    arrays: dict[str, np.ndarray] = {}
    return plan_cache.encode(plan, arrays), arrays


def assert_same_plan(fresh, cached) -> None:
    assert cached is not fresh
    assert cached.to_json() == fresh.to_json()
    assert cached.summary() == fresh.summary()
    fresh_data, fresh_arrays = as_data(fresh)
    cached_data, cached_arrays = as_data(cached)
    assert cached_data == fresh_data
    assert fresh_arrays.keys() == cached_arrays.keys()
    for name, array in fresh_arrays.items():
        assert cached_arrays[name].dtype == array.dtype and cached_arrays[name].shape == array.shape, name
        assert np.array_equal(cached_arrays[name], array, equal_nan=array.dtype.kind in "fc"), name


def cached_twice(spec: Path, cache: Path, models=None, allowed=(), seed=None):
    """The plan compiled afresh, and the plan the cache gives on the next run (None: it compiled afresh)."""
    _, fresh = plan_file(spec, models, seed, allowed=allowed, cache_dir=cache)
    return fresh, lookup(spec, cache, models, allowed, seed)


def lookup(spec: Path, cache: Path, models=None, allowed=(), seed=None):
    """The plan the cache holds for `spec` now (None: it would compile afresh)."""
    key = plan_cache.plan_key(spec, models, seed, allowed)
    return plan_cache.load_plan(cache, key, plan_cache.confined_sources(spec, allowed, models))


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_spec_reads_back_as_compiled(spec, tmp_path):
    fresh, cached = cached_twice(spec, tmp_path)
    assert cached is not None
    assert_same_plan(fresh, cached)
    _, again = plan_file(spec, cache_dir=tmp_path)
    assert_same_plan(fresh, again)


def small_suite(path: Path, cases: int = 20) -> Path:
    tests = []
    for test in json.loads(gzip.decompress(SUITE.read_bytes())):
        labels = test.get("labels")
        tests.append({**test, "data": test["data"][:cases], "labels": labels[:cases] if isinstance(labels, list) else labels})
    path.write_bytes(gzip.compress(json.dumps(tests).encode()))
    return path


def test_an_imported_checklist_suite_reads_back_as_compiled(tmp_path):
    assert main(["import", "checklist", str(small_suite(tmp_path / "small.json.gz")), "-o", str(tmp_path / "suite")]) == 0
    spec = tmp_path / "suite" / "small.mlspec"
    fresh, cached = cached_twice(spec, tmp_path / "cache", {"sentiment": str(DEMO_CARD)}, allowed=[ROOT / "specs"])
    assert cached is not None and len(cached.tests) == len(fresh.tests) > 30
    assert_same_plan(fresh, cached)


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the sentiment project: a spec importing another, a lexicon file, data files and model cards."""
    shutil.copytree(ROOT / "specs" / "sentiment", tmp_path / "sentiment", ignore=shutil.ignore_patterns("train", "*.pt", "transformer*"))
    (tmp_path / "sentiment" / ".git").mkdir()  # the project's root
    return tmp_path / "sentiment"


def read_entry(cache: Path) -> tuple[Path, dict, bytes, bytes]:
    """The one entry in `cache`: its path, meta section (decoded), plan section and data section."""
    (entry,) = (cache / plan_cache.FOLDER).glob(f"*{plan_cache.SUFFIX}")
    with open(entry, "rb") as file:
        meta, plan_size, data_size = plan_cache._read_head(file)
        return entry, json.loads(meta), file.read(plan_size), file.read(data_size)


def recorded_files(cache: Path) -> list[str]:
    return [path for path, content, _, _ in read_entry(cache)[1]["inputs"] if content]


def test_a_change_to_any_file_read_compiles_afresh(project, tmp_path):
    spec, cache = project / "service.mlspec", tmp_path / "cache"
    fresh, cached = cached_twice(spec, cache)
    assert cached is not None
    files = recorded_files(cache)
    names = {Path(f).name for f in files}
    assert {"service.mlspec", "sentiment.mlspec", "neutral_words.txt", "reviews_test.csv"} <= names, names  # an import, a lexicon, data
    for file in files:
        original = Path(file).read_bytes()
        Path(file).write_bytes(original + b"\n")  # the same meaning, other bytes: still a change
        assert lookup(spec, cache) is None, f"a change to {file} kept the cached plan"
        Path(file).write_bytes(original)
        assert lookup(spec, cache) is not None


def test_an_unchanged_file_is_known_by_its_signature_and_a_same_size_write_is_still_seen(project, tmp_path, monkeypatch):
    """A file last changed well before its entry was written is not hashed again while its
    signature (size, times, inode) holds; a write that keeps its size and puts its
    modification time back still changes its change time, and compiles afresh."""
    monkeypatch.setattr(plan_cache, "RACY_NS", 0)  # the copied files count as old
    spec, cache = project / "sentiment.mlspec", tmp_path / "cache"
    plan_file(spec, cache_dir=cache)
    assert all(signature for _, content, _, signature in read_entry(cache)[1]["inputs"] if content)
    hashed = []
    original_state = plan_cache.DiskSources.state
    monkeypatch.setattr(plan_cache.DiskSources, "state", lambda self, path, content=True: hashed.append(path) or original_state(self, path, content))
    assert lookup(spec, cache) is not None
    assert all(not content for path, content, _, _ in read_entry(cache)[1]["inputs"] if path in map(str, hashed))  # only paths looked at
    data = project / "data" / "reviews_test.jsonl"
    before = data.stat()
    text = data.read_bytes()
    data.write_bytes(text.replace(b"e", b"E", 1))
    os.utime(data, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert data.stat().st_size == before.st_size and data.stat().st_mtime_ns == before.st_mtime_ns
    assert lookup(spec, cache) is None


def test_a_file_changed_just_before_its_entry_is_hashed_until_its_signature_can_vouch(project, tmp_path, monkeypatch):
    spec, cache = project / "sentiment.mlspec", tmp_path / "cache"
    plan_file(spec, cache_dir=cache)  # the files were copied a moment ago: too recent to trust a signature
    assert not any(signature for _, _, _, signature in read_entry(cache)[1]["inputs"])
    assert lookup(spec, cache) is not None
    assert not any(signature for _, _, _, signature in read_entry(cache)[1]["inputs"])
    monkeypatch.setattr(plan_cache, "RACY_NS", 0)  # later: the entry is written again with the signatures
    assert lookup(spec, cache) is not None
    assert all(signature for _, content, _, signature in read_entry(cache)[1]["inputs"] if content)
    assert lookup(spec, cache) is not None


def test_a_changed_model_card_compiles_afresh(project, tmp_path):
    card = project / "model" / "lstm.mlspec"
    spec = project / "sentiment.mlspec"
    models, cache = {"sentiment": str(card)}, tmp_path / "cache"
    fresh, cached = cached_twice(spec, cache, models)
    assert cached is not None and str(card) in recorded_files(cache)
    card.write_text(card.read_text() + "\n# changed\n")
    assert lookup(spec, cache, models) is None


def test_a_model_card_outside_the_project_reads_back(project, tmp_path):
    """`--model NAME=CARD` allows the card's own project, when compiling and when reading the
    entry back: a card kept apart from the suite (a new model version's) is no perpetual miss."""
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(project / "model", elsewhere, ignore=shutil.ignore_patterns("transformer*", "*.pt"))
    card, spec, cache = elsewhere / "lstm.mlspec", project / "sentiment.mlspec", tmp_path / "cache"
    models = {"sentiment": str(card)}
    fresh, reused = cached_plan(spec, models, None, (), cache)
    assert not reused and str(card) in recorded_files(cache)
    cached, reused = cached_plan(spec, models, None, (), cache)
    assert reused
    assert_same_plan(fresh, cached)


def test_a_changed_data_file_gives_the_new_plan(project, tmp_path):
    spec, cache = project / "sentiment.mlspec", tmp_path / "cache"
    plan_file(spec, cache_dir=cache)
    data = project / "data" / "reviews_test.jsonl"
    lines = data.read_text().splitlines(keepends=True)
    data.write_text("".join(lines[: len(lines) // 2]))
    _, fresh = plan_file(spec)
    _, through_cache = plan_file(spec, cache_dir=cache)
    assert_same_plan(fresh, through_cache)


@pytest.mark.parametrize("option", ["seed", "models", "allowed"])
def test_a_changed_option_is_another_entry(project, tmp_path, option):
    spec = project / "sentiment.mlspec"
    base = plan_cache.plan_key(spec, None, None, ())
    changed = {
        "seed": lambda: plan_cache.plan_key(spec, None, 7, ()),
        "models": lambda: plan_cache.plan_key(spec, {"sentiment": str(project / "model" / "lstm.mlspec")}, None, ()),
        "allowed": lambda: plan_cache.plan_key(spec, None, None, (tmp_path,)),
    }[option]()
    assert changed != base
    assert plan_cache.plan_key(spec, None, None, ()) == base


def test_a_path_only_looked_at_is_recorded_by_its_kind(tmp_path):
    """A path asked about but not read is recorded by its kind: a file appearing there is a change."""
    from mlspec.language.sources import DiskSources

    sources = DiskSources(None)
    assert not sources.is_file(tmp_path / "later.txt")
    ((path, content, state),) = sources.record()
    assert (content, state) == (False, "missing")
    (tmp_path / "later.txt").write_text("now")
    assert DiskSources(None).state(path, content) == "file" != state


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "json", "class", "object array"])
def test_a_broken_entry_compiles_afresh(project, tmp_path, damage):
    spec, cache = project / "sentiment.mlspec", tmp_path / "cache"
    _, fresh = plan_file(spec, cache_dir=cache)
    entry, meta, plan_bytes, arrays = read_entry(cache)
    data = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        entry.write_bytes(plan_cache.MAGIC + bytes(range(256)) * 10)
    elif damage == "empty":
        entry.write_bytes(b"")
    elif damage == "object array":
        meta["arrays"] = {name: ["|O", shape, offset] for name, (_, shape, offset) in meta["arrays"].items()}
        plan_cache._write(entry, plan_cache._entry(meta, plan_bytes, arrays))
    else:
        text = plan_bytes.decode()
        text = text[:-100] if damage == "json" else text.replace("mlspec.compile.plan:TestPlan", "os:system")
        plan_cache._write(entry, plan_cache._entry(meta, text.encode(), arrays))
    key = plan_cache.plan_key(spec, None, None, ())
    assert plan_cache.load_plan(cache, key, plan_cache.confined_sources(spec, ())) is None
    _, again = plan_file(spec, cache_dir=cache)
    assert_same_plan(fresh, again)


def test_only_mlspec_record_classes_are_rebuilt():
    with pytest.raises(ValueError):
        plan_cache.decode({plan_cache.OBJECT: ["subprocess:Popen", {}]}, {})
    with pytest.raises(ValueError):
        plan_cache.decode({plan_cache.OBJECT: ["mlspec.run.plan_cache:encode", {}]}, {})
    with pytest.raises(plan_cache.Unsupported):
        plan_cache.encode(object(), {})
    with pytest.raises(plan_cache.Unsupported):
        plan_cache.encode(np.array([b"x", 1], dtype=object), {})


def test_warnings_are_kept(tmp_path):
    (tmp_path / "w.mlspec").write_text(
        'spec "w"\nmodel m {\n  python "m:f"\n  input text\n  output probabilities labels [a, b]\n}\n'
        'lexicon x = ["p", "q"]\n'
        'capability "C" {\n  mft "sampled" {\n    template "{x}"\n    expect label == a\n    sample 5\n  }\n}\n'
    )
    _, fresh = plan_file(tmp_path / "w.mlspec", cache_dir=tmp_path / "cache")
    assert fresh.warnings
    _, cached = cached_twice(tmp_path / "w.mlspec", tmp_path / "cache")
    assert cached is not None and cached.warnings == fresh.warnings


def test_run_keeps_plans_beside_predictions_and_no_cache_keeps_none(tmp_path, capsys):
    spec = ROOT / "specs" / "sentiment" / "sentiment.mlspec"
    assert main(["run", str(spec), "--no-cache", "--cache-dir", str(tmp_path / "off"), "-q"]) in (0, 1)
    assert not (tmp_path / "off" / plan_cache.FOLDER).exists()
    for _ in range(2):
        assert main(["run", str(spec), "--cache-dir", str(tmp_path / "on"), "-q"]) in (0, 1)
    assert len(list((tmp_path / "on" / plan_cache.FOLDER).glob(f"*{plan_cache.SUFFIX}"))) == 1


def test_no_prediction_cache_scores_afresh_with_the_cached_plan_and_the_notes_say_where_the_plan_came_from(project, tmp_path):
    spec, cache, out = project / "sentiment.mlspec", tmp_path / "cache", tmp_path / "r.json"

    def plan_note(*options: str) -> str:
        assert main(["run", str(spec), "--cache-dir", str(cache), "-q", "--json", str(out), *options]) in (0, 1)
        (note,) = [note for note in json.loads(out.read_text())["specs"][0]["notes"] if note.startswith("plan: ")]
        return note

    assert re.fullmatch(r"plan: compiled in [0-9.]+ s \(stored in the plan cache\)", plan_note())
    scores = {path: path.stat().st_mtime_ns for path in cache.glob("*.sqlite")}
    assert scores  # the first run kept its scores
    assert re.fullmatch(r"plan: read from the plan cache in [0-9.]+ s", plan_note("--no-prediction-cache"))
    assert {path: path.stat().st_mtime_ns for path in cache.glob("*.sqlite")} == scores  # scored afresh, nothing kept
    assert re.fullmatch(r"plan: compiled in [0-9.]+ s", plan_note("--no-cache"))


def test_only_the_newest_entries_are_kept(tmp_path):
    folder = tmp_path / "plans"
    folder.mkdir()
    for age in range(plan_cache.KEPT_ENTRIES + 3):
        entry = folder / f"{age:02d}{plan_cache.SUFFIX}"
        entry.write_bytes(b"")
        os.utime(entry, (1_000_000 - age, 1_000_000 - age))  # 00 is the newest
    (folder / "old-format.npz").write_bytes(b"")
    plan_cache._prune(folder)
    kept = sorted(entry.name for entry in folder.iterdir())
    assert kept == [f"{age:02d}{plan_cache.SUFFIX}" for age in range(plan_cache.KEPT_ENTRIES)]
