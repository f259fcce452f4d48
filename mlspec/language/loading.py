"""The loading step of the front end (before the check): every file the check needs, read
through one `Sources` object.

`load_spec` merges the spec's imports (mlspec/language/imports.py), and reads the
lexicon files (`lexicon x = file "..."`) and tokenizer vocabularies its models name,
and the model cards of `--model NAME=card.mlspec` (with their vocabularies). What it
reads, or the error reading gave, is kept in a `LoadedSpec`; the check takes its files
from there and reports their problems at the spec lines that name them, so it reads
nothing itself. Data files are not loaded here: the compiler reads them through the same
`Sources` (it rides on the checked spec), so a broken one fails only the tests using it.

Loading confines the `Sources` to the spec's project (`Sources.confine`): a file outside
it (and outside the paths `--allow-path` allows) is not read, and the check reports it at
the line that names it; a model card named on the command line brings its own project
(the nearest folder above it with `.git`, else its folder).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlspec.errors import UsageError, display_path
from mlspec.language import ast
from mlspec.language.imports import resolve_imports
from mlspec.language.sources import DIRECTORY, FILE, Sources, describe


@dataclass(frozen=True)
class LoadedFile:
    """A file the check needs: whether it is there, and its text or the error reading it gave."""

    path: Path
    kind: str | None  # FILE, DIRECTORY, or None when nothing is there (or looking failed: `error`)
    text: str | None = None
    error: Exception | None = None  # looking at or reading the file failed (not UTF-8, not readable, outside the project)

    def problem(self) -> str | None:
        """What keeps this from being a readable text file, in a few words after its name, or None."""
        if self.error is not None:
            return describe(self.error)
        if self.kind != FILE:
            return "is a directory" if self.kind == DIRECTORY else "not found"
        return None


class LoadedFiles:
    """Files read by the loading step, by path (as its `Sources` names them)."""

    def __init__(self, sources: Sources):
        self.sources = sources
        self._files: dict[Path, LoadedFile] = {}

    def load(self, path: str | Path) -> None:
        path = self.sources.absolute(path)
        if path in self._files:
            return
        kind = text = error = None
        try:
            kind = FILE if self.sources.is_file(path) else DIRECTORY if self.sources.is_dir(path) else None
            if kind == FILE:
                text = self.sources.read_text(path)
        except (OSError, ValueError) as problem:  # not UTF-8, unreadable, outside the project
            error = problem
        self._files[path] = LoadedFile(path, kind, text, error)

    def __getitem__(self, path: str | Path) -> LoadedFile:
        return self._files[self.sources.absolute(path)]


@dataclass(frozen=True)
class LoadedCard:
    """A model card (`--model NAME=card.mlspec`): parsed, or the error reading or parsing it gave."""

    path: str
    card: ast.SpecFile | None
    error: Exception | None = None

    def spec(self) -> ast.SpecFile:
        """The parsed card; raises what reading or parsing it raised."""
        if self.error is not None:
            raise self.error
        return self.card


@dataclass(frozen=True)
class LoadedSpec:
    """A spec with its imports merged, and every file its check reads."""

    spec: ast.SpecFile
    sources: Sources
    files: LoadedFiles
    cards: dict[str, LoadedCard] = field(default_factory=dict)  # by the path `--model` gives


def load_spec(spec: ast.SpecFile, sources: Sources, model_paths: dict[str, str] | None = None) -> LoadedSpec:
    """Read everything checking `spec` needs; an import problem raises (as it always did, before the check).
    From here on `sources` reads only inside the spec's project and the allowed paths."""
    sources.confine(spec.path)
    sources.allow_model_cards(model_paths)
    merged = resolve_imports(spec, sources)
    files = LoadedFiles(sources)
    for lexicon in merged.lexicons:
        if lexicon.file is not None:
            files.load(sources.resolve(lexicon.file, merged.path))
    base = Path(merged.path).parent
    _load_vocabularies(merged.models, base, files)
    declared = {model.name.value for model in merged.models}
    cards = {}
    for name, path in (model_paths or {}).items():
        if name in declared and Path(path).suffix == ".mlspec" and path not in cards:
            cards[path] = _load_card(path, sources, files)
    return LoadedSpec(merged, sources, files, cards)


def _load_vocabularies(models: list[ast.ModelDecl], base: Path, files: LoadedFiles) -> None:
    for model in models:
        if model.tokenizer is not None and model.tokenizer.vocabulary is not None:
            files.load(base / model.tokenizer.vocabulary)
        if model.hf_tokenizer is not None:
            files.load(base / model.hf_tokenizer.path)
        elif model.format == "huggingface" and model.path is not None:  # the folder's own tokenizer
            files.load(base / model.path / "tokenizer.json")


def _load_card(path: str, sources: Sources, files: LoadedFiles) -> LoadedCard:
    from mlspec.language.parser import parse  # a model card is parsed like any spec

    try:
        card = parse(sources.read_text(path), display_path(path))
    except (OSError, UnicodeDecodeError) as error:  # raised where the check uses the card
        shown = str(path).replace("\0", "\\0")
        return LoadedCard(path, None, UsageError(f"--model: model card {shown} {describe(error)}"))
    except Exception as error:  # raised where the check uses the card, as reading it there did
        return LoadedCard(path, None, error)
    if len(card.models) == 1:
        _load_vocabularies(card.models, sources.absolute(path).parent, files)
    return LoadedCard(path, card)
