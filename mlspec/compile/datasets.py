"""Reading the data files a spec names: texts from CSV and JSON Lines, images from NPZ
archives and from CSV files of pixel columns.

Only the fields a spec maps are read (`text`/`label`; `input`/`label` for NPZ arrays; a
pixel CSV is its label column plus every other column, in order). Images are checked
against the model's declared shape (reshaped when the sizes agree) and value range.
Problems with a file (missing, unreadable, not UTF-8, malformed, nested too deeply,
missing column, an array of Python objects, wrong shape or range, NaN or infinite pixels,
empty) raise a CompileError located at the dataset's declaration and naming the file, line
and column at fault. An NPZ archive is read without unpickling anything. Files are read
through the `Sources` object the dataset carries (the disk, a git revision for `plan
--against`, or memory); what is read is cached per file version.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Hashable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from mlspec.errors import CompileError, display_path
from mlspec.language.checker import DatasetInfo
from mlspec.language.sources import Sources, describe
from mlspec.library.tables import CellCodes, Column, Table, coded_column, text_column
from mlspec.model import ImageInfo

csv.field_size_limit(1 << 24)
PLAIN_CHUNK_ROWS = 1 << 16  # lines of a plain CSV file split at a time


@dataclass(frozen=True)
class Rows:
    """A dataset's texts and, when it has them, their labels (a JSON list of labels becomes
    `a|b`: either one is right) and their given variants (a JSON list of texts per row)."""

    texts: tuple[str, ...]
    labels: tuple[str, ...] | None
    variants: tuple[tuple[str, ...], ...] | None = None


@dataclass(frozen=True)
class Images:
    """A dataset's images, float32 [n, *shape], and their labels (names, or indices as text)."""

    images: np.ndarray
    labels: tuple[str, ...] | None


@dataclass(frozen=True)
class _File:
    """A data file at one version, read through `sources`; cached results are keyed by its
    path and version only (a version is the file's mtime and size on disk, or a digest of
    its content), so another `Sources` with the same file shares them."""

    path: Path
    version: Hashable
    sources: Sources = field(compare=False, repr=False)


def load_dataset(dataset: DatasetInfo) -> Rows:
    """Read a dataset's texts and labels (cached per file version and mapping)."""
    columns = dataset.columns
    return _reporting(dataset, lambda file: _load(file, dataset.format, columns["text"], columns["label"], dataset.label_mapped, columns.get("variants")))


def load_images(dataset: DatasetInfo, image: ImageInfo) -> Images:
    """Read a dataset's images for a model taking `image` (shape and range)."""
    def read(file: _File) -> Images:
        loaded = _load_images(file, dataset.format, dataset.columns.get("input"), dataset.columns["label"])
        pixel_max = float(dataset.columns["pixel_max"]) if "pixel_max" in dataset.columns else None
        return Images(_fit(loaded.images, image, pixel_max), loaded.labels)

    return _reporting(dataset, read)


def _reporting(dataset: DatasetInfo, read):
    """Run `read(file)`, turning every problem with the file into a located CompileError."""
    try:
        return read(_File(dataset.path, dataset.sources.version(dataset.path), dataset.sources))
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
    except OSError as error:  # a loop of links, a path below a file, a FIFO, a NUL, outside the project, ...
        shown = str(dataset.path).replace("\0", "\\0")
        raise CompileError(f"dataset `{dataset.name}`: {shown} {describe(error)}", dataset.span) from None


@lru_cache(maxsize=8)
def _load_images(file: _File, data_format: str, input_key: str | None, label_key: str) -> Images:
    if data_format == "npz":
        return _read_npz(file, input_key or "input", label_key)
    if data_format == "csv":
        return _read_pixel_csv(file, label_key)
    raise _DataProblem("images come from .npz archives or CSV files of pixel columns", "use `npz` or `csv`")


def _read_npz(file: _File, input_key: str, label_key: str) -> Images:
    try:
        archive = np.load(io.BytesIO(file.sources.read_bytes(file.path)), allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        raise _DataProblem(f"not a readable .npz archive ({error})") from None
    with archive:
        if input_key not in archive.files:
            raise _DataProblem(f"no array `{input_key}`", "arrays are " + ", ".join(archive.files))
        images = _array(archive, input_key)
        labels = _array(archive, label_key) if label_key in archive.files else None
    if images.dtype.kind not in "fiub" or images.ndim < 2:
        raise _DataProblem(f"array `{input_key}` holds {images.dtype} of shape {list(images.shape)}, not images")
    if labels is not None and len(labels) != len(images):
        raise _DataProblem(f"{len(images)} images but {len(labels)} labels")
    with np.errstate(over="ignore"):  # values beyond float32 become infinite, and are reported
        pixels = images.astype(np.float32)
    _finite(pixels, lambda row: f"image {row} of array `{input_key}` (counting from 0)")
    return Images(pixels, None if labels is None else tuple(str(v) for v in labels.tolist()))


def _array(archive, key: str) -> np.ndarray:
    """One array of an archive, never unpickled: an array of Python objects is refused."""
    try:
        return archive[key]
    except ValueError as error:
        if "allow_pickle" in str(error) or "Object arrays" in str(error):
            hint = "save numbers or strings, e.g. np.savez(path, x=images.astype(np.float32), y=labels.astype(str)); mlspec never unpickles"
            raise _DataProblem(f"array `{key}` holds Python objects (a pickle), which mlspec does not load", hint) from None
        raise _DataProblem(f"array `{key}` cannot be read ({error})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise _DataProblem(f"array `{key}` cannot be read ({error})") from None


def _finite(pixels: np.ndarray, where) -> None:
    """Refuse NaN and infinite pixel values, naming the first image holding one (`where(index)`)."""
    bad = ~np.isfinite(pixels.reshape(len(pixels), -1)).all(axis=1) if len(pixels) else np.zeros(0, dtype=bool)
    if bad.any():
        row = int(np.argmax(bad))
        raise _DataProblem(f"{where(row)} holds NaN or infinite pixel values", "every pixel value must be a finite number")


def _read_pixel_csv(file: _File, label_key: str) -> Images:
    records = _read_csv(file)
    if not records:
        raise _DataProblem("has no rows")
    columns = [c for c in records[0][1] if c != label_key]
    pixels = np.empty((len(records), len(columns)), dtype=np.float32)
    for row, (line, record) in enumerate(records):
        try:
            with np.errstate(over="ignore"):
                pixels[row] = [float(record[c]) for c in columns]
        except (TypeError, ValueError):
            raise _DataProblem(f"line {line}: pixel values must be numbers") from None
    _finite(pixels, lambda row: f"line {records[row][0]}")
    labels = tuple(record[label_key] for _, record in records) if label_key in records[0][1] else None
    return Images(pixels, labels)


def _fit(images: np.ndarray, image: ImageInfo, pixel_max: float | None) -> np.ndarray:
    """Images in the model's shape (reshaped when the sizes agree) and range (mapped from
    [0, pixel_max] when given), checked against that range."""
    per_image = int(np.prod(image.shape))
    if int(np.prod(images.shape[1:])) != per_image:
        raise _DataProblem(f"images have shape {list(images.shape[1:])}, the model takes {list(image.shape)}")
    images = images.reshape((len(images), *image.shape))
    if pixel_max is not None:
        images = (image.low + images * np.float32((image.high - image.low) / pixel_max)).astype(np.float32)
    _finite(images, lambda row: f"image {row} (counting from 0)" + ("" if pixel_max is None else f", mapped from [0, {pixel_max:g}],"))
    low, high = float(images.min()), float(images.max())
    if low < image.low or high > image.high:
        hint = f"say what the file's values run to: `pixel_max: {high:g}`" if high > image.high > 0 else None
        raise _DataProblem(f"pixel values span [{low:g}, {high:g}], outside the model's range [{image.low:g}, {image.high:g}]", hint)
    return images


def load_columns(dataset: DatasetInfo, names: list[str], optional: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    """Named columns of a CSV or JSON Lines dataset, as text (for table models and groups);
    an `optional` column the file lacks is left out."""
    def read(file: _File) -> dict[str, tuple[str, ...]]:
        if dataset.format == "npz":
            raise _DataProblem("table columns come from CSV or JSON Lines files")
        records = _records(file, dataset.format)
        if not records:
            raise _DataProblem("has no rows")
        available = records[0][1]
        wanted = [name for name in names if name in available or name not in optional]
        missing = [name for name in wanted if name not in available]
        if missing:
            shown = ", ".join(f"`{m}`" for m in missing)
            raise _DataProblem(f"no column {shown}", "columns are " + ", ".join(sorted(map(str, available))))
        return {name: tuple(_cell(record, name, line) for line, record in records) for name in wanted}

    return _reporting(dataset, read)


def load_table(dataset: DatasetInfo) -> Table:
    """A CSV or JSON Lines dataset as typed columns (`mlspec.library.tables`), every column
    of the file; cells equal to the dataset's `missing` marker count as missing. Read once
    per file version."""
    markers = (dataset.columns["missing"],) if "missing" in dataset.columns else ()
    return _reporting(dataset, lambda file: _load_table(file, dataset.format, markers))


@lru_cache(maxsize=8)
def _load_table(file: _File, data_format: str, markers: tuple[str, ...]) -> Table:
    if data_format == "npz":
        raise _DataProblem("table columns come from CSV or JSON Lines files")
    if data_format == "csv":
        text = file.sources.read_text(file.path, encoding="utf-8-sig")
        plain = _plain_csv_columns(text, markers)
        if plain is not None:
            columns, lines = plain
            if len(lines) == 0:
                raise _DataProblem("has no rows")
            return Table(columns, len(lines), lines, markers[0] if markers else "")
    names, cells, lines = _csv_cells(text) if data_format == "csv" else _jsonl_cells(file)
    if len(lines) == 0:
        raise _DataProblem("has no rows")
    columns = {name: text_column(name, column, markers, all_text=data_format == "csv") for name, column in zip(names, cells)}
    return Table(columns, len(lines), lines, markers[0] if markers else "")


def _csv_cells(text: str) -> tuple[list[str], list[tuple], np.ndarray]:
    """The header, each column's cells and each row's line of a CSV file's text: the csv
    module's reader, in C; columns by transposing the rows."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header:
            raise _DataProblem("no header row")
        rows = list(reader)
    except csv.Error as error:
        raise _DataProblem(f"line {reader.line_num}: malformed CSV ({error})") from None
    rows = [row for row in rows if row] if any(not row for row in rows) else rows  # blank lines
    widths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    lines = _csv_lines(text, rows)
    if len(rows) and (widths != len(header)).any():
        bad = int(np.argmax(widths != len(header)))
        raise _DataProblem(f"line {lines[bad]}: {widths[bad]} cells, but the header names {len(header)} columns")
    cells = list(zip(*rows)) if rows else [() for _ in header]
    return header, cells, lines


def _plain_csv_columns(text: str, markers: tuple[str, ...]) -> tuple[dict[str, Column], np.ndarray] | None:
    """The columns of a CSV file without quotes, blank lines or lone carriage returns (each
    row a line, each cell between commas: what the csv module reads from it), split a chunk
    of lines at a time, so a large file never holds all its cells as text at once; None for
    any other file, which the csv module reads."""
    if '"' in text:
        return None
    text = text.replace("\r\n", "\n").removesuffix("\n")
    if "\r" in text or "\n\n" in text or not text:
        return None
    rows = text.split("\n")
    header = rows[0].split(",")
    width = len(header)
    encoders = [CellCodes() for _ in header]
    chunks: list[list[np.ndarray]] = [[] for _ in header]
    for start in range(1, len(rows), PLAIN_CHUNK_ROWS):
        lines = rows[start : start + PLAIN_CHUNK_ROWS]
        cells = ",".join(lines).split(",")
        if len(cells) != len(lines) * width:  # a row of another width: the csv module names it
            return None
        for column, encoder in enumerate(encoders):
            chunks[column].append(encoder.codes(cells[column::width]))
    columns = {
        name: coded_column(name, np.concatenate(parts) if parts else np.zeros(0, np.int32), encoder.uniques(), markers)
        for name, parts, encoder in zip(header, chunks, encoders)
    }
    return columns, np.arange(2, len(rows) + 1, dtype=np.int64)


def _csv_lines(text: str, rows: list) -> np.ndarray:
    """The line of each row: one a line when no cell holds a line break (the usual case),
    else counted by reading the file again."""
    breaks = text.count("\n") + (0 if text.endswith("\n") else 1)
    if breaks == len(rows) + 1:
        return np.arange(2, len(rows) + 2, dtype=np.int64)
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    starts, previous = [], reader.line_num
    for row in reader:
        if row:
            starts.append(previous + 1)
        previous = reader.line_num
    return np.asarray(starts, dtype=np.int64)


def _jsonl_cells(file: _File) -> tuple[list[str], list[list], np.ndarray]:
    records = _records(file, "jsonl")
    names = list(dict.fromkeys(key for _, record in records[:1] for key in record))
    for line, record in records:
        if len(record) != len(names) or any(key not in record for key in names):
            break
    else:
        line = None
    if line is not None:  # rows with other keys: every key any row has, missing where absent
        names = list(dict.fromkeys(key for _, record in records for key in record))
    cells = [[record.get(name) for _, record in records] for name in names]
    for name, column in zip(names, cells):
        nested = next((i for i, cell in enumerate(column) if isinstance(cell, (dict, list))), None)
        if nested is not None:
            raise _DataProblem(f"line {records[nested][0]}: `{name}` holds {type(column[nested]).__name__}, expected a value")
    return names, cells, np.fromiter((line for line, _ in records), dtype=np.int64, count=len(records))


def column_names(dataset: DatasetInfo) -> list[str]:
    """The columns of a CSV or JSON Lines dataset (those of its first row)."""
    def read(file: _File) -> list[str]:
        records = _records(file, dataset.format)
        return list(records[0][1]) if records else []

    return _reporting(dataset, read)


@lru_cache(maxsize=16)
def _records(file: _File, data_format: str) -> list[tuple[int, dict]]:
    """(line, record) for each row of a CSV or JSON Lines file, read once per file version."""
    return _read_csv(file) if data_format == "csv" else _read_jsonl(file)


@lru_cache(maxsize=32)
def _load(file: _File, data_format: str, text_column: str, label_column: str, label_required: bool, variants_column: str | None) -> Rows:
    records = _records(file, data_format)
    if not records:
        raise _DataProblem("has no rows")
    if label_required and label_column not in records[0][1]:
        raise _DataProblem(f"no column `{label_column}`", "columns are " + ", ".join(sorted(map(str, records[0][1]))))
    return _columns(records, text_column, label_column, variants_column)


class _DataProblem(Exception):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def _read_csv(file: _File) -> list[tuple[int, dict]]:
    with file.sources.open_text(file.path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            if not reader.fieldnames:
                raise _DataProblem("no header row")
            return [(reader.line_num, row) for row in reader]
        except csv.Error as error:
            raise _DataProblem(f"line {reader.line_num}: malformed CSV ({error})") from None


def _read_jsonl(file: _File) -> list[tuple[int, dict]]:
    text = file.sources.read_text(file.path, encoding="utf-8-sig")
    records = _jsonl_without_blank_lines(text)
    if records is not None:
        return records
    numbered = [(number, line) for number, line in enumerate(text.split("\n"), start=1) if line.strip()]
    try:  # the whole file as one JSON array: parsed in C, many times faster than line by line
        values = json.loads("[" + ",".join(line for _, line in numbered) + "]")
    except (json.JSONDecodeError, RecursionError):
        values = None
    if values is None or len(values) != len(numbered):  # find and name the line at fault
        values = [_json_line(number, line) for number, line in numbered]
    for (number, _), record in zip(numbered, values):
        if not isinstance(record, dict):
            raise _DataProblem(f"line {number}: expected a JSON object, found {type(record).__name__}")
    return [(number, record) for (number, _), record in zip(numbered, values)]


def _jsonl_without_blank_lines(text: str) -> list[tuple[int, dict]] | None:
    """The records of a file with no blank line, every line one JSON object, parsed as one array
    (the lines joined by commas: a blank line makes it invalid); None for any other file."""
    body = text[:-1] if text.endswith("\n") else text
    try:
        values = json.loads("[" + body.replace("\n", ",") + "]")
    except (json.JSONDecodeError, RecursionError):
        return None
    if len(values) != body.count("\n") + 1 or set(map(type, values)) != {dict}:
        return None
    return list(enumerate(values, start=1))


def _json_line(number: int, line: str):
    try:
        return json.loads(line)
    except json.JSONDecodeError as error:
        raise _DataProblem(f"line {number}: not valid JSON ({error.msg}, column {error.colno})") from None
    except RecursionError:
        raise _DataProblem(f"line {number}: JSON nested too deeply", "a record is an object of texts, labels and lists of texts") from None


def _columns(records: list[tuple[int, dict]], text_column: str, label_column: str, variants_column: str | None = None) -> Rows:
    available = set(records[0][1])
    for column in (text_column, variants_column):
        if column is not None and column not in available:
            raise _DataProblem(f"no column `{column}`", "columns are " + ", ".join(sorted(map(str, available))))
    has_labels = label_column in available
    texts = _column(records, text_column, str, _cell)
    labels = _column(records, label_column, str, _label_cell) if has_labels else None
    variants = _variants_column(records, variants_column) if variants_column is not None else None
    return Rows(texts, labels, variants)


def _column(records: list[tuple[int, dict]], column: str, kind: type, cell) -> tuple:
    """A column's values: taken as they are when every one is a `kind` (the usual case, at C
    speed), else cell by cell, which converts them or names the line at fault."""
    values = [record.get(column) for _, record in records]
    if all(type(value) is kind for value in values):
        return tuple(values)
    return tuple(cell(record, column, line) for line, record in records)


def _variants_column(records: list[tuple[int, dict]], column: str) -> tuple[tuple[str, ...], ...]:
    """Each row's list of texts: taken whole when every one is a list of strings, else cell by
    cell, which names the line at fault."""
    values = [record.get(column) for _, record in records]
    if all(type(value) is list for value in values) and all(type(text) is str for value in values for text in value):
        return tuple(map(tuple, values))
    return tuple(_texts_cell(record, column, line) for line, record in records)


def _label_cell(record: dict, column: str, line: int) -> str:
    """A label, or a JSON list of labels any of which is right (kept as `a|b`)."""
    value = record.get(column)
    if isinstance(value, list) and value and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        return "|".join(str(v) for v in value)
    return _cell(record, column, line)


def _texts_cell(record: dict, column: str, line: int) -> tuple[str, ...]:
    value = record.get(column)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _DataProblem(f"line {line}: `{column}` must be a JSON list of texts")
    return tuple(value)


def _cell(record: dict, column: str, line: int) -> str:
    value = record.get(column)
    if value is None:
        raise _DataProblem(f"line {line}: `{column}` is missing")
    if isinstance(value, (dict, list)):
        raise _DataProblem(f"line {line}: `{column}` holds {type(value).__name__}, expected text")
    return str(value)
