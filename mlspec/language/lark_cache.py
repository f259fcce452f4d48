"""The analysed grammar, kept in a private cache folder for a fast start (`cached_lark`).

Analysing mlspec's grammar takes about 0.4 s; loading the analysed parser takes 0.03 s.
Lark's own `cache=True` keeps it as a pickle in the shared temporary folder
(`$TMPDIR/.lark_cache_<user>_...tmp`) and unpickles whatever file it finds there: a local
user who plants that file runs code in every mlspec command. So mlspec never uses it.

This cache lives in `$XDG_CACHE_HOME/mlspec` (else `~/.cache/mlspec`), made with mode 0700.
It is used only when that folder (not a symbolic link) and the cache file (a regular file,
not a link) are owned by the current user and writable by no one else: both are checked
on open file descriptors, so nothing can be swapped in between the check and the read.
Otherwise the grammar is analysed afresh, and nothing is written. The file name holds a
digest of the grammar, the options and the versions of Lark and Python.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import sys
from pathlib import Path

from lark import Lark
from lark import __version__ as lark_version

FOLDER_NAME = "mlspec"


def cached_lark(grammar: str, **options) -> Lark:
    """`Lark(grammar, **options)` (an LALR parser), from the private cache when it is there."""
    name = cache_name(grammar, options)
    folder = _open_private_folder()
    if folder is None:
        return Lark(grammar, **options)
    try:
        parser = _load(folder, name)
        if parser is None:
            parser = Lark(grammar, **options)
            _save(folder, name, parser)
        return parser
    finally:
        os.close(folder)


def cache_name(grammar: str, options: dict) -> str:
    """The cache file's name for a grammar and its options."""
    key = "\0".join([grammar, repr(sorted(options.items())), lark_version, repr(sys.version_info[:2])])
    return f"grammar-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}.pickle"


def cache_folder() -> Path | None:
    """Where the cache lives: `$XDG_CACHE_HOME/mlspec`, else `~/.cache/mlspec`; None when neither is known."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # unset, empty or relative: ignored, as the XDG spec says
        home = os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / FOLDER_NAME


def _private(status: os.stat_result) -> bool:
    """Owned by the current user and writable by neither group nor others."""
    return status.st_uid == os.getuid() and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _open_private_folder() -> int | None:
    """A descriptor of the cache folder (made 0700 if missing), or None when it is not private."""
    if not hasattr(os, "getuid") or os.open not in os.supports_dir_fd or not hasattr(os, "O_NOFOLLOW"):
        return None  # no way to check ownership or to read without following links
    folder = cache_folder()
    if folder is None:
        return None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        status = os.fstat(descriptor)
    except OSError:
        status = None
    if status is None or not stat.S_ISDIR(status.st_mode) or not _private(status):
        os.close(descriptor)
        return None
    return descriptor


def _load(folder: int, name: str) -> Lark | None:
    """The cached parser, or None when there is none, it is not private, or it does not load."""
    try:
        descriptor = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
    except OSError:
        return None
    with open(descriptor, "rb") as handle:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode) or not _private(status):
            return None
        data = handle.read()
    try:
        return Lark.load(io.BytesIO(data))
    except Exception:  # written by an older Lark, cut short: analyse the grammar afresh
        return None


def _save(folder: int, name: str, parser: Lark) -> None:
    """Write the parser to the cache: to a new file of mode 0600, then renamed into place."""
    buffer = io.BytesIO()
    try:
        parser.save(buffer)
    except Exception:
        return
    temporary = f".{name}.{os.getpid()}.tmp"
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=folder)
    except OSError:
        return
    try:
        with open(descriptor, "wb") as handle:
            handle.write(buffer.getvalue())
        os.rename(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
    except OSError:
        try:
            os.unlink(temporary, dir_fd=folder)
        except OSError:
            pass
