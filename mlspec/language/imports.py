"""`import "file.mlspec"`: sharing models, datasets and lexicons between spec files.

An import brings the imported file's declarations (and, transitively, those of the
files it imports) into the importing spec, by name; its tests and its `spec` line stay
behind. Paths inside an imported declaration stay relative to the file that wrote them
(they are rewritten relative to the importing spec). A file imported twice along
different paths is read once. A cycle, a missing file, or a name that the importing
spec or another import already declares is reported at the `import` line. Imported
files are read through a `Sources` object (mlspec/language/sources.py), so an imported file
outside the spec's project is refused there too (reported at the `import` line). Imports
are followed without recursion (a long chain cannot overflow the stack), at most
`MAX_DEPTH` files deep.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mlspec.errors import Diagnostic, MlspecError, display_path
from mlspec.language import ast
from mlspec.language.sources import DiskSources, Sources, describe, path_problem

KINDS = ("models", "datasets", "lexicons")
MAX_DEPTH = 64  # files in one chain of imports, the importing spec included


def resolve_imports(spec: ast.SpecFile, sources: Sources | None = None) -> ast.SpecFile:
    """`spec` with the declarations of everything it imports (read through `sources`) merged in."""
    if not spec.imports:
        return spec
    sources = sources if sources is not None else DiskSources()
    problems: list[Diagnostic] = []
    merged = _Merger(spec, problems, sources).merge(spec)
    if problems:
        raise MlspecError.collected(problems)
    return merged


@dataclass
class _Frame:
    """A file whose imports are being merged: where it is, and what it has gathered so far."""

    spec: ast.SpecFile  # its own declarations already relative to the root spec's folder
    path: Path
    statement: ast.Import | None  # the import that brought it (None for the root spec)
    declared: dict = field(default_factory=dict)  # kind -> {name: declaration}
    additions: dict = field(default_factory=dict)  # kind -> declarations its imports bring
    next: int = 0  # the index of its next import statement

    def __post_init__(self) -> None:
        self.declared = {kind: {d.name.value: d for d in getattr(self.spec, kind)} for kind in KINDS}
        self.additions = {kind: [] for kind in KINDS}

    def merged(self) -> ast.SpecFile:
        return self.spec.model_copy(update={kind: [*getattr(self.spec, kind), *self.additions[kind]] for kind in KINDS})


class _Merger:
    def __init__(self, root: ast.SpecFile, problems: list[Diagnostic], sources: Sources):
        self.sources = sources
        self.root_dir = sources.absolute(root.path).parent
        self.problems = problems
        self.seen: set[Path] = set()

    def merge(self, root: ast.SpecFile) -> ast.SpecFile:
        """The root spec with every import merged in, depth first in the order written
        (an explicit stack: the chain of files being merged)."""
        stack = [_Frame(root, self.sources.absolute(root.path), None)]
        while True:
            frame = stack[-1]
            if frame.next < len(frame.spec.imports):
                statement = frame.spec.imports[frame.next]
                frame.next += 1
                imported = self.load(statement, stack)
                if imported is not None:
                    stack.append(imported)
                continue
            stack.pop()
            if not stack:
                return frame.merged()
            parent, merged = stack[-1], frame.merged()
            for kind in KINDS:
                for decl in getattr(merged, kind):
                    self.add(kind, decl, frame.statement, parent.declared, parent.additions)

    def load(self, statement: ast.Import, stack: list[_Frame]) -> _Frame | None:
        """The imported file, parsed, its own paths made relative to the root spec; None when
        it is not merged (already merged through another import, or reported)."""
        from mlspec.language.parser import parse

        path = self.sources.resolve(statement.path, stack[-1].path)
        chain = [frame.path for frame in stack]
        if path in chain:
            cycle = " -> ".join(display_path(p) for p in [*chain[chain.index(path):], path])
            self.problems.append(Diagnostic(f"import cycle: {cycle}", statement.path_span, "move the shared declarations to a file both import"))
            return None
        if path in self.seen:
            return None  # already merged through another import
        refused = path_problem(self.sources, statement.path, path, "imported", statement.path_span)
        if refused is not None:
            self.problems.append(refused)
            return None
        if len(stack) >= MAX_DEPTH:
            self.problems.append(
                Diagnostic(f"imports nest more than {MAX_DEPTH} files deep", statement.path_span, "import shared files from the spec itself, not through a long chain")
            )
            return None
        try:
            text = self.sources.read_text(path)
        except (OSError, ValueError) as error:  # ValueError: not UTF-8
            self.problems.append(Diagnostic(_unreadable(error, statement.path), statement.path_span, "paths are relative to the importing file"))
            return None
        self.seen.add(path)
        return _Frame(_relocated(parse(text, display_path(path)), path.parent, self.root_dir), path, statement)

    def add(self, kind: str, decl, statement: ast.Import, declared: dict, additions: dict) -> None:
        name = decl.name.value
        existing = declared[kind].get(name)
        if existing is not None:
            where = f"{existing.span.file}:{existing.span.line}"
            self.problems.append(
                Diagnostic(f"`import \"{statement.path}\"` brings {kind[:-1]} `{name}`, already declared at {where}", statement.span, "rename one of them")
            )
            return
        declared[kind][name] = decl
        additions[kind].append(decl)


def _unreadable(error: BaseException, written: str) -> str:
    """The message for an imported file that could not be read."""
    if isinstance(error, FileNotFoundError):
        return f"imported file not found: {written}"
    if isinstance(error, (IsADirectoryError, UnicodeDecodeError)):
        return f"imported file unreadable ({type(error).__name__}): {written}"
    return f"imported file {written} {describe(error)}"


def _relocated(spec: ast.SpecFile, source_dir: Path, target_dir: Path) -> ast.SpecFile:
    """Declarations whose file paths are rewritten from `source_dir`-relative to `target_dir`-relative."""
    def moved(path: str | None) -> str | None:
        if path is None or Path(path).is_absolute():
            return path
        return os.path.relpath(source_dir / path, target_dir)

    models = [
        m.model_copy(
            update={
                "path": m.path if m.format in ("python", "http") else moved(m.path),  # a module or a URL: not a file
                "tokenizer": m.tokenizer and m.tokenizer.model_copy(update={"vocabulary": moved(m.tokenizer.vocabulary)}),
            }
        )
        for m in spec.models
    ]
    datasets = [d.model_copy(update={"path": moved(d.path)}) for d in spec.datasets]
    lexicons = [lex.model_copy(update={"file": moved(lex.file)}) for lex in spec.lexicons]
    return spec.model_copy(update={"models": models, "datasets": datasets, "lexicons": lexicons})
