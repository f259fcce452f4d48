"""Reading the data files a spec names (CSV and JSON Lines) into columns.

Only the fields a spec maps (`text`, `label`) are read. Problems with a file (missing,
not UTF-8, malformed, missing column, empty) raise a CompileError located at the
dataset's declaration and naming the file, line and column at fault.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mlspec.checker import DatasetInfo
from mlspec.errors import CompileError, display_path

csv.field_size_limit(1 << 24)


@dataclass(frozen=True)
class Rows:
    """A dataset's texts and, when it has a label column, their labels."""

    texts: tuple[str, ...]
    labels: tuple[str, ...] | None


def load_dataset(dataset: DatasetInfo) -> Rows:
    """Read a dataset's mapped columns (cached per file version and mapping)."""
    try:
        mtime = dataset.path.stat().st_mtime_ns
        rows = _load(dataset.path, mtime, dataset.format, dataset.columns["text"], dataset.columns["label"], dataset.label_mapped)
    except IsADirectoryError:
        raise CompileError(f"dataset `{dataset.name}`: {display_path(dataset.path)} is a directory, not a data file", dataset.span) from None
    except FileNotFoundError:
        hint = "paths are relative to the spec file"
        raise CompileError(f"dataset `{dataset.name}`: file not found: {display_path(dataset.path)}", dataset.span, hint) from None
    except UnicodeDecodeError as error:
        message = f"{dataset.path.name} is not UTF-8 text ({error.reason} at byte {error.start})"
        raise CompileError(f"dataset `{dataset.name}`: {message}", dataset.span) from None
    except _DataProblem as problem:
        raise CompileError(f"dataset `{dataset.name}`: {dataset.path.name}: {problem}", dataset.span, problem.hint) from None
    return rows


@lru_cache(maxsize=32)
def _load(path: Path, mtime: int, data_format: str, text_column: str, label_column: str, label_required: bool) -> Rows:
    records = _read_csv(path) if data_format == "csv" else _read_jsonl(path)
    if not records:
        raise _DataProblem("has no rows")
    if label_required and label_column not in records[0][1]:
        raise _DataProblem(f"no column `{label_column}`", "columns are " + ", ".join(sorted(map(str, records[0][1]))))
    return _columns(records, text_column, label_column)


class _DataProblem(Exception):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def _read_csv(path: Path) -> list[tuple[int, dict]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise _DataProblem("no header row")
        try:
            return [(reader.line_num, row) for row in reader]
        except csv.Error as error:
            raise _DataProblem(f"line {reader.line_num}: malformed CSV ({error})") from None


def _read_jsonl(path: Path) -> list[tuple[int, dict]]:
    records = []
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise _DataProblem(f"line {number}: not valid JSON ({error.msg}, column {error.colno})") from None
            if not isinstance(record, dict):
                raise _DataProblem(f"line {number}: expected a JSON object, found {type(record).__name__}")
            records.append((number, record))
    return records


def _columns(records: list[tuple[int, dict]], text_column: str, label_column: str) -> Rows:
    available = set(records[0][1])
    if text_column not in available:
        raise _DataProblem(f"no column `{text_column}`", "columns are " + ", ".join(sorted(map(str, available))))
    has_labels = label_column in available
    texts, labels = [], []
    for line, record in records:
        texts.append(_cell(record, text_column, line))
        if has_labels:
            labels.append(_cell(record, label_column, line))
    return Rows(tuple(texts), tuple(labels) if has_labels else None)


def _cell(record: dict, column: str, line: int) -> str:
    value = record.get(column)
    if value is None:
        raise _DataProblem(f"line {line}: `{column}` is missing")
    if isinstance(value, (dict, list)):
        raise _DataProblem(f"line {line}: `{column}` holds {type(value).__name__}, expected text")
    return str(value)
