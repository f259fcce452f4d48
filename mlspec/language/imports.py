"""`import "file.mlspec"`: sharing models, datasets and lexicons between spec files.

An import brings the imported file's declarations (and, transitively, those of the
files it imports) into the importing spec, by name; its tests and its `spec` line stay
behind. Paths inside an imported declaration stay relative to the file that wrote them
(they are rewritten relative to the importing spec). A file imported twice along
different paths is read once. A cycle, a missing file, or a name that the importing
spec or another import already declares is reported at the `import` line. Imported
files are read through a `Sources` object (mlspec/language/sources.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from mlspec.errors import Diagnostic, MlspecError, display_path
from mlspec.language import ast
from mlspec.language.sources import DiskSources, Sources

KINDS = ("models", "datasets", "lexicons")


def resolve_imports(spec: ast.SpecFile, sources: Sources | None = None) -> ast.SpecFile:
    """`spec` with the declarations of everything it imports (read through `sources`) merged in."""
    if not spec.imports:
        return spec
    sources = sources if sources is not None else DiskSources()
    problems: list[Diagnostic] = []
    merged = _Merger(spec, problems, sources).merge(spec, [sources.absolute(spec.path)])
    if problems:
        raise MlspecError.collected(problems)
    return merged


class _Merger:
    def __init__(self, root: ast.SpecFile, problems: list[Diagnostic], sources: Sources):
        self.sources = sources
        self.root_dir = sources.absolute(root.path).parent
        self.problems = problems
        self.seen: set[Path] = set()

    def merge(self, spec: ast.SpecFile, chain: list[Path]) -> ast.SpecFile:
        declared = {kind: {d.name.value: d for d in getattr(spec, kind)} for kind in KINDS}
        additions: dict[str, list] = {kind: [] for kind in KINDS}
        for statement in spec.imports:
            imported = self.load(statement, chain)
            if imported is None:
                continue
            for kind in KINDS:
                for decl in getattr(imported, kind):
                    self.add(kind, decl, statement, declared, additions)
        return spec.model_copy(update={kind: [*getattr(spec, kind), *additions[kind]] for kind in KINDS})

    def load(self, statement: ast.Import, chain: list[Path]) -> ast.SpecFile | None:
        """The imported file with its own imports merged, its paths made relative to the root spec."""
        from mlspec.language.parser import parse

        path = self.sources.resolve(statement.path, chain[-1])
        if path in chain:
            cycle = " -> ".join(display_path(p) for p in [*chain[chain.index(path):], path])
            self.problems.append(Diagnostic(f"import cycle: {cycle}", statement.path_span, "move the shared declarations to a file both import"))
            return None
        if path in self.seen:
            return None  # already merged through another import
        try:
            text = self.sources.read_text(path)
        except (OSError, UnicodeDecodeError) as error:
            problem = "not found" if isinstance(error, FileNotFoundError) else f"unreadable ({type(error).__name__})"
            self.problems.append(Diagnostic(f"imported file {problem}: {statement.path}", statement.path_span, "paths are relative to the importing file"))
            return None
        self.seen.add(path)
        imported = self.merge(parse(text, display_path(path)), [*chain, path])
        return _relocated(imported, path.parent, self.root_dir)

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


def _relocated(spec: ast.SpecFile, source_dir: Path, target_dir: Path) -> ast.SpecFile:
    """Declarations whose file paths are rewritten from `source_dir`-relative to `target_dir`-relative."""
    def moved(path: str | None) -> str | None:
        if path is None or Path(path).is_absolute():
            return path
        return os.path.relpath(source_dir / path, target_dir)

    models = [
        m.model_copy(
            update={
                "path": m.path if m.format == "python" else moved(m.path),
                "tokenizer": m.tokenizer and m.tokenizer.model_copy(update={"vocabulary": moved(m.tokenizer.vocabulary)}),
            }
        )
        for m in spec.models
    ]
    datasets = [d.model_copy(update={"path": moved(d.path)}) for d in spec.datasets]
    lexicons = [lex.model_copy(update={"file": moved(lex.file)}) for lex in spec.lexicons]
    return spec.model_copy(update={"models": models, "datasets": datasets, "lexicons": lexicons})
