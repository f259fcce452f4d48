"""Where the files a spec names come from: `Sources`.

Every file the front end and the compiler read — the spec, its imports, model cards,
lexicon and vocabulary files, data files — is read through one `Sources` object:

- `DiskSources`: the files as they are now (the default);
- `GitSources(rev, repo_root)`: the files as they were at a git revision (`git show
  REV:path`), for `mlspec plan --against REV`; a file absent at REV is missing; a path
  outside the repository is read from disk;
- `MemorySources({path: text_or_bytes})`: files held in memory, for tests.

Reads fail as reading from disk does: FileNotFoundError for a missing file,
IsADirectoryError for a directory, UnicodeDecodeError for text that is not UTF-8 (with
the same byte offsets, and `\\r\\n` read as `\\n`). Each object records the files it was
asked about (`read_paths`) and can digest what they held (`digest`), for cache keys.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import subprocess
from collections.abc import Hashable, Mapping
from pathlib import Path

from mlspec.errors import UsageError

FILE, DIRECTORY = "file", "directory"


class Sources:
    """Reads files by path; subclasses say where from (`_kind`, `_read`, `absolute`)."""

    def __init__(self) -> None:
        self._seen: dict[Path, str | None] = {}  # path -> sha256 of what was read, or None

    # ------------------------------------------------------------ what subclasses provide

    def _kind(self, path: Path) -> str | None:
        """FILE, DIRECTORY, or None when nothing is there."""
        raise NotImplementedError

    def _read(self, path: Path) -> bytes:
        """A file's bytes; raise as reading from disk does."""
        raise NotImplementedError

    def absolute(self, path: str | Path) -> Path:
        """`path` as this object names files: absolute and normalised."""
        return Path(path).resolve()

    # ------------------------------------------------------------ reading

    def resolve(self, relative: str | Path, spec: str | Path) -> Path:
        """A path written in the spec file `spec`, which is relative to that file's folder."""
        return self.absolute(Path(spec).parent / relative)

    def read_bytes(self, path: str | Path) -> bytes:
        path = self.absolute(path)
        self._seen.setdefault(path, None)
        data = self._read(path)
        self._seen[path] = hashlib.sha256(data).hexdigest()
        return data

    def open_text(self, path: str | Path, encoding: str = "utf-8", newline: str | None = None) -> io.TextIOWrapper:
        """A file as a text stream, decoded as `open(path, encoding=..., newline=...)` decodes it."""
        return io.TextIOWrapper(io.BytesIO(self.read_bytes(path)), encoding=encoding, newline=newline)

    def read_text(self, path: str | Path, encoding: str = "utf-8") -> str:
        """A file's text, as `Path.read_text` gives it (universal newlines)."""
        with self.open_text(path, encoding) as handle:
            return handle.read()

    def is_file(self, path: str | Path) -> bool:
        return self._looked_at(path) == FILE

    def is_dir(self, path: str | Path) -> bool:
        return self._looked_at(path) == DIRECTORY

    def version(self, path: str | Path) -> Hashable:
        """A value that changes when the file's content does (cache keys); FileNotFoundError
        when there is no file or directory at `path`."""
        kind = self._looked_at(path)
        if kind is None:
            raise _missing_error(path)
        if kind == DIRECTORY:
            return (DIRECTORY,)
        absolute = self.absolute(path)
        if self._seen.get(absolute) is None:  # not read yet (the content of these sources does not change)
            self.read_bytes(absolute)
        return ("sha256", self._seen[absolute])

    def _looked_at(self, path: str | Path) -> str | None:
        path = self.absolute(path)
        self._seen.setdefault(path, None)
        return self._kind(path)

    # ------------------------------------------------------------ what was read

    @property
    def read_paths(self) -> tuple[Path, ...]:
        """Every path this object was asked about, in the order first asked."""
        return tuple(self._seen)

    def digest(self) -> str:
        """A sha256 over every path asked about and what it held (a file's content, a
        directory, nothing): equal digests mean the same inputs."""
        whole = hashlib.sha256()
        for path in sorted(self._seen):
            content = self._seen[path] or self._held(path)
            whole.update(f"{path}\0{content}\n".encode("utf-8", "surrogateescape"))
        return whole.hexdigest()

    def _held(self, path: Path) -> str:
        """What a path asked about but not read holds: a digest of its content, or its kind."""
        kind = self._kind(path)
        if kind != FILE:
            return kind or "missing"
        try:
            return hashlib.sha256(self._read(path)).hexdigest()
        except OSError as error:
            return f"unreadable ({type(error).__name__})"


def _directory_error(path: Path) -> IsADirectoryError:
    return IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))


def _missing_error(path: Path) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))


class DiskSources(Sources):
    """The files on disk, as they are now."""

    def _kind(self, path: Path) -> str | None:
        return FILE if path.is_file() else DIRECTORY if path.is_dir() else None

    def _read(self, path: Path) -> bytes:
        with open(os.fspath(path), "rb") as handle:
            return handle.read()

    def version(self, path: str | Path) -> Hashable:
        """The file's modification time and size (read again when either changes)."""
        absolute = self.absolute(path)
        self._seen.setdefault(absolute, None)
        status = os.stat(absolute)
        return ("mtime", status.st_mtime_ns, status.st_size)


class MemorySources(Sources):
    """Files held in memory: {path: text or bytes}; relative paths are taken from the
    current directory. A folder is any path that holds one of the files."""

    def __init__(self, files: Mapping[str | Path, str | bytes]):
        super().__init__()
        self.files = {self.absolute(p): c.encode("utf-8") if isinstance(c, str) else bytes(c) for p, c in files.items()}
        self.folders = {parent for path in self.files for parent in path.parents}

    def absolute(self, path: str | Path) -> Path:
        return Path(os.path.normpath(os.path.abspath(path)))

    def _kind(self, path: Path) -> str | None:
        return FILE if path in self.files else DIRECTORY if path in self.folders else None

    def _read(self, path: Path) -> bytes:
        if path in self.files:
            return self.files[path]
        raise _directory_error(path) if path in self.folders else _missing_error(path)


class GitSources(Sources):
    """The files of a git repository as they were at revision `rev`; a path outside
    `repo_root` is read from disk."""

    def __init__(self, rev: str, repo_root: str | Path):
        super().__init__()
        self.rev = rev
        self.root = Path(repo_root).resolve()
        self.disk = DiskSources()
        self._kinds: dict[Path, str | None] = {}
        self._blobs: dict[Path, bytes] = {}

    def _inside(self, path: Path) -> str | None:
        """`path` relative to the repository root, or None when it lies outside."""
        try:
            relative = path.relative_to(self.root).as_posix()
        except ValueError:
            return None
        return "" if relative == "." else relative  # `REV:` is the root folder

    def _git(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=self.root, capture_output=True)

    def _kind(self, path: Path) -> str | None:
        relative = self._inside(path)
        if relative is None:
            return self.disk._kind(path)
        if path not in self._kinds:
            found = self._git("cat-file", "-t", f"{self.rev}:{relative}")
            kind = found.stdout.decode().strip() if found.returncode == 0 else None
            self._kinds[path] = FILE if kind == "blob" else DIRECTORY if kind in ("tree", "commit") else None
        return self._kinds[path]

    def _read(self, path: Path) -> bytes:
        relative = self._inside(path)
        if relative is None:
            return self.disk._read(path)
        kind = self._kind(path)
        if kind != FILE:
            raise _directory_error(path) if kind == DIRECTORY else _missing_error(path)
        if path not in self._blobs:
            shown = self._git("show", f"{self.rev}:{relative}")
            if shown.returncode != 0:
                raise OSError(f"git show {self.rev}:{relative}: {shown.stderr.decode(errors='replace').strip()}")
            self._blobs[path] = shown.stdout
        return self._blobs[path]

    def version(self, path: str | Path) -> Hashable:
        absolute = self.absolute(path)
        if self._inside(absolute) is None:
            self._seen.setdefault(absolute, None)
            return self.disk.version(absolute)
        return super().version(absolute)


def read_spec(path: str | Path, sources: Sources | None = None) -> str:
    """The text of a spec file named on the command line; a usage error when it cannot be read."""
    try:
        return (sources if sources is not None else DiskSources()).read_text(path)
    except FileNotFoundError:
        raise UsageError(f"no such spec file: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory; name .mlspec files") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"{path} is not UTF-8 text (byte {error.start})") from None
