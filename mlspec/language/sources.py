"""Where the files a spec names come from: `Sources`.

Every file the front end and the compiler read — the spec, its imports, model cards,
lexicon and vocabulary files, data files — is read through one `Sources` object:

- `DiskSources`: the files as they are now (the default);
- `GitSources(rev, repo_root)`: the files as they were at a git revision (`git show
  REV:path`), for `mlspec plan --against REV`; a file absent at REV is missing; a path
  outside the repository is read from disk;
- `MemorySources({path: text_or_bytes})`: files held in memory, for tests.

Reads fail as reading from disk does: FileNotFoundError for a missing file,
IsADirectoryError for a directory, NotADirectoryError for a path below a file, other
OSErrors for what the disk refuses (a loop of symbolic links, a name too long, a FIFO or
device, a path holding a NUL character: `BadPathError`), UnicodeDecodeError for text that
is not UTF-8 (with the same byte offsets, and `\\r\\n` read as `\\n`); `describe` says
which in a few words. Each object records the files it was asked about (`read_paths`) and
can digest what they held (`digest`), for cache keys; `record` lists what each held (a file
whose content was read or versioned: its sha256; one only looked at: its kind), and
`state` says what a path holds now, to compare with a record.

Confinement: a spec reads only inside its project. `confine(spec)` (the loading step
calls it for the spec it loads) limits every later read to the spec's project — the
nearest folder above it holding `.git`, else its own folder — and to the paths the
command line allows (`allowed`, `--allow-path DIR`; `allow`) or the environment variable
`MLSPEC_ALLOW_PATH` (folders separated by `os.pathsep`; for the pytest plugin and CI),
symbolic links resolved: a read elsewhere raises `OutsideProjectError`, and `path_problem`
is the located check error for such a path. `allowed=None` reads anywhere (for trusted
callers).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import subprocess
from collections.abc import Hashable, Iterable, Mapping
from pathlib import Path

from mlspec.errors import Diagnostic, Span, UsageError

FILE, DIRECTORY = "file", "directory"
ALLOW_FLAG = "--allow-path DIR"
ALLOW_ENV_VAR = "MLSPEC_ALLOW_PATH"


class OutsideProjectError(PermissionError):
    """A read outside the folders a spec may read (its project and the allowed paths)."""

    def __init__(self, path: str | Path):
        super().__init__(errno.EACCES, "outside the project", str(path))


class BadPathError(OSError):
    """A path no file can have (it holds a NUL character)."""

    def __init__(self, path: str | Path):
        super().__init__(errno.EINVAL, "the path holds a NUL character", str(path).replace("\0", "\\0"))


class Sources:
    """Reads files by path; subclasses say where from (`_kind`, `_read`, `absolute`, `real`).
    `allowed`: paths the command line allows besides the spec's project (None: anywhere)."""

    def __init__(self, allowed: Iterable[str | Path] | None = ()) -> None:
        self._seen: dict[Path, str | None] = {}  # path -> sha256 of what was read, or None
        self._versioned: set[Path] = set()  # paths asked for a `version`: what was made of them depends on their content
        self.allowed: tuple[Path, ...] | None = None if allowed is None else tuple(self.real(p) for p in allowed)
        self.project: Path | None = None  # set by `confine`
        self.roots: tuple[Path, ...] | None = None  # where reads may go; None: anywhere (before `confine`)

    # ------------------------------------------------------------ confinement

    def confine(self, spec: str | Path) -> None:
        """Limit every later read to the project of spec file `spec` and the allowed paths."""
        if self.allowed is None:
            return
        self.project = self.project_root(spec)
        from_environment = tuple(self.real(p) for p in os.environ.get(ALLOW_ENV_VAR, "").split(os.pathsep) if p)
        self.roots = (self.project, *self.allowed, *from_environment)

    def allow(self, *paths: str | Path) -> None:
        """Allow reading these files or folders (and what is below them) too."""
        if self.allowed is None:
            return
        added = tuple(self.real(p) for p in paths)
        self.allowed = (*self.allowed, *added)
        if self.roots is not None:
            self.roots = (*self.roots, *added)

    def allow_model_cards(self, model_paths: dict[str, str] | None) -> None:
        """Allow the projects of the model cards `--model` names, as a spec's own project:
        a card reads its model file beside it."""
        for path in (model_paths or {}).values():
            if Path(path).suffix == ".mlspec":
                self.allow(self.project_root(path))

    def project_root(self, spec: str | Path) -> Path:
        """The nearest folder above `spec` (symbolic links resolved) holding `.git`, else the spec's folder."""
        folder = self.real(self.absolute(spec).parent)
        for candidate in (folder, *folder.parents):
            if self._has_git(candidate):
                return candidate
        return folder

    def _has_git(self, folder: Path) -> bool:
        return os.path.lexists(folder / ".git")

    def real(self, path: str | Path) -> Path:
        """`path` absolute, with symbolic links resolved (what confinement compares)."""
        try:
            return Path(os.path.realpath(os.path.abspath(path)))
        except (OSError, ValueError):  # a NUL character: no file can be there
            return Path(os.path.normpath(os.path.abspath(path)))

    def permits(self, path: str | Path) -> bool:
        """Whether a read of `path` stays inside the project and the allowed paths."""
        if self.roots is None:
            return True
        real = self.real(path)
        return any(real == root or real.is_relative_to(root) for root in self.roots)

    def _check(self, path: Path) -> None:
        if "\0" in str(path):
            raise BadPathError(path)
        if not self.permits(path):
            raise OutsideProjectError(path)

    # ------------------------------------------------------------ what subclasses provide

    def _kind(self, path: Path) -> str | None:
        """FILE, DIRECTORY, or None when nothing is there."""
        raise NotImplementedError

    def _read(self, path: Path) -> bytes:
        """A file's bytes; raise as reading from disk does."""
        raise NotImplementedError

    def absolute(self, path: str | Path) -> Path:
        """`path` as this object names files: absolute and normalised (never raises)."""
        return resolved(path)

    # ------------------------------------------------------------ reading

    def resolve(self, relative: str | Path, spec: str | Path) -> Path:
        """A path written in the spec file `spec`, which is relative to that file's folder."""
        return self.absolute(Path(spec).parent / relative)

    def read_bytes(self, path: str | Path) -> bytes:
        path = self.absolute(path)
        self._seen.setdefault(path, None)
        self._check(path)
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
        self._versioned.add(absolute)
        if self._seen.get(absolute) is None:  # not read yet (the content of these sources does not change)
            self.read_bytes(absolute)
        return ("sha256", self._seen[absolute])

    def _looked_at(self, path: str | Path) -> str | None:
        path = self.absolute(path)
        self._seen.setdefault(path, None)
        self._check(path)
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
            content = self._seen[path] or self.state(path)
            whole.update(f"{path}\0{content}\n".encode("utf-8", "surrogateescape"))
        return whole.hexdigest()

    def record(self) -> list[tuple[str, bool, str]]:
        """(path, content, state) for every path asked about, in the order first asked: `content`
        when its content was read or versioned (the state is then its sha256), else its kind."""
        rows = []
        for path, digest in self._seen.items():
            content = digest is not None or path in self._versioned
            rows.append((str(path), content, digest or self.state(path, content)))
        return rows

    def state(self, path: str | Path, content: bool = True) -> str:
        """What a path holds now: a file's sha256 (with `content`, else `file`), `directory`,
        `missing`, or why it cannot be read."""
        path = self.absolute(path)
        try:
            self._check(path)
            kind = self._kind(path)
            if kind != FILE or not content:
                return kind or "missing"
            return hashlib.sha256(self._read(path)).hexdigest()
        except (OSError, ValueError) as error:
            return f"unreadable ({type(error).__name__})"


def resolved(path: str | Path) -> Path:
    """`Path(path).resolve()`, or, where that fails (a loop of links, a NUL character), the
    absolute path as written, normalised: reading it then raises what is wrong."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError, ValueError):
        return Path(os.path.normpath(os.path.abspath(path)))


def _directory_error(path: Path) -> IsADirectoryError:
    return IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))


def _missing_error(path: Path) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))


def _special_error(path: Path) -> OSError:
    return OSError(errno.EINVAL, "not a regular file (a FIFO, socket or device)", str(path))


class DiskSources(Sources):
    """The files on disk, as they are now. Only regular files and folders are read: a
    FIFO, socket or device raises OSError (reading one could block or never end)."""

    def _kind(self, path: Path) -> str | None:
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            return None
        if stat.S_ISREG(mode):
            return FILE
        if stat.S_ISDIR(mode):
            return DIRECTORY
        raise _special_error(path)

    def _read(self, path: Path) -> bytes:
        # O_NONBLOCK: opening a FIFO does not wait for a writer; it is refused below
        descriptor = os.open(os.fspath(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with open(descriptor, "rb") as handle:
            mode = os.fstat(descriptor).st_mode
            if stat.S_ISDIR(mode):
                raise _directory_error(path)
            if not stat.S_ISREG(mode):
                raise _special_error(path)
            if hasattr(os, "set_blocking"):
                os.set_blocking(descriptor, True)
            return handle.read()

    def version(self, path: str | Path) -> Hashable:
        """The file's modification time and size (read again when either changes)."""
        absolute = self.absolute(path)
        self._seen.setdefault(absolute, None)
        self._versioned.add(absolute)
        self._check(absolute)
        status = os.stat(absolute)
        return ("mtime", status.st_mtime_ns, status.st_size)


class MemorySources(Sources):
    """Files held in memory: {path: text or bytes}; relative paths are taken from the
    current directory. A folder is any path that holds one of the files."""

    def __init__(self, files: Mapping[str | Path, str | bytes], allowed: Iterable[str | Path] | None = ()):
        self.files = {self.absolute(p): c.encode("utf-8") if isinstance(c, str) else bytes(c) for p, c in files.items()}
        self.folders = {parent for path in self.files for parent in path.parents}
        super().__init__(allowed)

    def absolute(self, path: str | Path) -> Path:
        return Path(os.path.normpath(os.path.abspath(path)))

    def real(self, path: str | Path) -> Path:
        return self.absolute(path)  # no links in memory

    def _has_git(self, folder: Path) -> bool:
        return self._kind(folder / ".git") is not None

    def _kind(self, path: Path) -> str | None:
        if any(parent in self.files for parent in path.parents):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
        return FILE if path in self.files else DIRECTORY if path in self.folders else None

    def _read(self, path: Path) -> bytes:
        if path in self.files:
            return self.files[path]
        raise _directory_error(path) if path in self.folders else _missing_error(path)


class GitSources(Sources):
    """The files of a git repository as they were at revision `rev`; a path outside
    `repo_root` is read from disk."""

    def __init__(self, rev: str, repo_root: str | Path, allowed: Iterable[str | Path] | None = ()):
        super().__init__(allowed)
        self.rev = rev
        self.root = Path(repo_root).resolve()
        self.disk = DiskSources(None)  # confinement is this object's
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
            self._versioned.add(absolute)
            self._check(absolute)
            return self.disk.version(absolute)
        return super().version(absolute)


def describe(error: BaseException) -> str:
    """What went wrong reading a file, in a few words after its name: `not found`,
    `is a directory`, `is outside the project`, `cannot be read: ...`."""
    if isinstance(error, OutsideProjectError):
        return "is outside the project"
    if isinstance(error, UnicodeDecodeError):
        return f"is not UTF-8 text (byte {error.start})"
    if isinstance(error, FileNotFoundError):
        return "not found"
    if isinstance(error, IsADirectoryError):
        return "is a directory"
    if isinstance(error, ValueError):  # a NUL character, where a check did not catch it first
        return "cannot be read: the path holds a NUL character"
    reasons = {
        errno.ENOTDIR: "a part of its path is a file, not a folder",
        errno.ELOOP: "too many levels of symbolic links (a loop?)",
        errno.ENAMETOOLONG: "its name is too long",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
    }
    reason = reasons.get(getattr(error, "errno", None)) or getattr(error, "strerror", None) or str(error) or type(error).__name__
    return f"cannot be read: {reason}"


def path_problem(sources: Sources, written: str, path: Path, what: str, span: Span | None) -> Diagnostic | None:
    """The check error for a file a spec names (`written`, at `path`) that it may not read:
    a path holding a NUL character, or one outside the project and the allowed paths."""
    if "\0" in written:
        return Diagnostic(f"{what} file path holds a NUL character", span, "no file name holds one; remove it")
    if sources.permits(path):
        return None
    project = str(sources.project) if sources.project is not None else "its folder"
    real = sources.real(path)
    leads = "" if str(real) == written else f" ({written} is {real})"
    hint = f"a spec reads files inside its project, {project}{leads}; to allow more, run with {ALLOW_FLAG} (or set {ALLOW_ENV_VAR})"
    return Diagnostic(f"{what} file is outside the project: {written}", span, hint)


def read_spec(path: str | Path, sources: Sources | None = None) -> str:
    """The text of a spec file named on the command line; a usage error when it cannot be read."""
    shown = str(path).replace("\0", "\\0")
    try:
        return (sources if sources is not None else DiskSources()).read_text(path)
    except FileNotFoundError:
        raise UsageError(f"no such spec file: {shown}") from None
    except IsADirectoryError:
        raise UsageError(f"{shown} is a directory; name .mlspec files") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"{shown} is not UTF-8 text (byte {error.start})") from None
    except (OSError, ValueError) as error:
        raise UsageError(f"spec file {shown} {describe(error)}") from None
