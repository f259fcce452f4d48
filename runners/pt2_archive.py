"""Reading a `torch.export` archive (`.pt2`) so that no code it carries runs.

`torch.export.load` is documented as unsafe for untrusted files. In PyTorch 2.13 it runs
code from the archive in these places (torch/export/pt2_archive/_package.py,
torch/_export/serde/serialize.py, torch/export/_unlift.py):

- weights and tensor constants marked `use_pickle`: `torch.load(..., weights_only=False)`,
  a full unpickling, which calls whatever the pickle names;
- weights or constants of the legacy layout (`data/weights/<model>.pt`,
  `data/constants/<model>.pt`), the sample inputs (`data/sample_inputs/<model>.pt`) and
  everything of the older zip layout: `torch.load(weights_only=True)`, and when that
  fails, again with `weights_only=False` (serialize.py, `deserialize_torch_artifact`);
- constants `opaque_obj_*` (`pickle.loads`) and `custom_obj_*` (TorchScript's unpickler of
  torchbind objects);
- AOTInductor packages (`data/aotinductor/`): compiled shared libraries, loaded;
- the program's `guards_code`: Python source that `.module()` compiles and runs;
- symbolic-shape expressions (`expr_str`): parsed by `sympy.sympify`, which evaluates
  Python;
- call targets: looked up by attribute from the `torch`, `operator` and `math` modules.

`checked_archive(path)` reads the file once, through the reader PyTorch itself uses, and
returns its bytes (which are what PyTorch then loads: the file is not read again) after
refusing every archive that holds one of these: pickled payloads of any kind, sample
inputs that do not load as plain tensors (`weights_only=True`, checked here, so PyTorch's
fallback never runs), compiled code, guard code, a shape expression other than calls of
sympy's arithmetic on symbols and numbers, or a call target outside `torch.ops`, the
`operator` module's arithmetic and `math`. What is left for PyTorch is data: weights read
as raw bytes, and a graph of operators. It is not a sandbox: the operators themselves run,
as in any model.
"""

from __future__ import annotations

import ast
import io
import json
import re
import zipfile

from mlspec.errors import first_line

MAX_METADATA_BYTES = 256 * 1024 * 1024  # a JSON record or the sample inputs; larger ones are refused

# Why a record that is not plain data is refused, by where it is in the archive.
WEIGHT_RECORD = re.compile(r"weight_\d+")
TENSOR_RECORD = re.compile(r"tensor_\d+")
FQN = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
OP_TARGET = re.compile(r"torch\.ops\.[a-z_][a-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
SYM_TARGET = re.compile(r"torch\._?sym_[a-z_]+")
MATH_TARGET = re.compile(r"math\.[a-z][a-z0-9_]*")
OPERATOR_FUNCTIONS = frozenset(
    "abs add and_ eq floordiv ge getitem gt index inv invert le lshift lt mod mul ne neg not_ or_ pos pow rshift sub truediv truth xor".split()
)
# What a shape expression (as torch writes it: sympy's srepr) may call or name.
SYMPY_CALLS = frozenset(
    """Symbol Integer Rational Float Add Mul Pow Mod Max Min Abs floor ceiling sqrt Eq Ne Lt Le Gt Ge
    Equality Unequality StrictLessThan StrictGreaterThan LessThan GreaterThan And Or Not Xor
    Piecewise ExprCondPair BooleanTrue BooleanFalse FloorDiv ModularIndexing Where PythonMod
    CleanDiv CeilToInt FloorToInt CeilDiv LShift RShift PowByNatural FloatPow FloatTrueDiv
    IntTrueDiv IsNonOverlappingAndDenseIndicator TruncToFloat TruncToInt RoundToInt RoundDecimal
    ToFloat Identity""".split()
)
SYMPY_NAMES = frozenset("true false oo zoo nan pi E".split())
SYMBOL_NAME = re.compile(r"[a-z]+\d+")
SAFE_EXPRESSION_NODES = (
    ast.Expression, ast.Call, ast.Name, ast.Constant, ast.keyword, ast.Load, ast.Tuple,
    ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.operator, ast.unaryop, ast.boolop, ast.cmpop,
)


class NotAnArchive(ValueError):
    """The file is not a readable `torch.export` archive."""


class UnsafeArchive(ValueError):
    """The archive holds something that would run code when loaded: the message says what."""


def checked_archive(path) -> bytes:
    """The bytes of the `.pt2` file at `path`, for `torch.export.load(io.BytesIO(...))`;
    NotAnArchive or UnsafeArchive when it cannot be loaded without running its code."""
    with open(path, "rb") as file:
        data = file.read()
    check_archive(data)
    return data


def check_archive(data: bytes) -> None:
    """Refuse (UnsafeArchive) an archive whose loading would run code it carries."""
    names = _zip_names(data)
    reader = _reader(data)
    records = list(reader.get_file_names())
    if len(set(records)) != len(records) or len(set(names)) != len(names):
        raise UnsafeArchive("it holds two records of the same name (one could be checked and the other loaded)")
    models = sorted(name[len("models/") : -len(".json")] for name in records if re.fullmatch(r"models/[^/]+\.json", name))
    if not models:
        raise NotAnArchive("it holds no exported program (models/*.json)")
    for name in records:
        _check_record_name(name, models)
    for model in models:
        _check_config(reader, records, f"data/weights/{model}_weights_config.json", WEIGHT_RECORD, "weight")
        _check_config(reader, records, f"data/constants/{model}_constants_config.json", TENSOR_RECORD, "constant")
        _check_sample_inputs(reader, records, f"data/sample_inputs/{model}.pt")
        _check_program(_json(reader, f"models/{model}.json"), f"models/{model}.json")


def _zip_names(data: bytes) -> list[str]:
    """The entry names as Python's zip reader sees them: torch's own loader falls back to
    it (and to the older, pickled layout) when an archive fails to load."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise NotAnArchive(f"it is not a zip archive ({error})") from None
    roots = {name.split("/", 1)[0] for name in names}
    if len(roots) != 1 or any("/" not in name for name in names):
        raise UnsafeArchive("its records are not all in one folder, as torch.export.save writes them (the older layout holds pickled data)")
    return names


def _reader(data: bytes):
    from torch.export.pt2_archive import PT2ArchiveReader

    try:
        return PT2ArchiveReader(io.BytesIO(data))
    except Exception as error:  # torch raises RuntimeError or AssertionError for what it cannot read
        raise NotAnArchive(f"it is not a torch.export archive: {first_line(error)}") from None


def _check_record_name(name: str, models: list[str]) -> None:
    plain = {"archive_format", "archive_version", "byteorder"}
    if name in plain or name.startswith((".data/", "extra/")) or re.fullmatch(r"models/[^/]+\.json", name):
        return
    folder, _, leaf = name.rpartition("/")
    if folder == "data/weights" and (WEIGHT_RECORD.fullmatch(leaf) or leaf in {f"{m}_weights_config.json" for m in models}):
        return
    if folder == "data/constants" and (TENSOR_RECORD.fullmatch(leaf) or leaf in {f"{m}_constants_config.json" for m in models}):
        return
    if folder == "data/sample_inputs" and leaf in {f"{m}.pt" for m in models}:
        return
    if name.startswith("data/aotinductor/"):
        raise UnsafeArchive(f"it holds AOTInductor code ({name}), a compiled library that would be loaded and run")
    if folder in ("data/weights", "data/constants") and leaf.endswith(".pt"):
        raise UnsafeArchive(f"it holds pickled data ({name}, weights of the legacy layout)")
    if folder == "data/constants" and leaf.startswith(("custom_obj_", "opaque_obj_")):
        raise UnsafeArchive(f"it holds pickled data ({name}, a pickled object)")
    raise UnsafeArchive(f"it holds {name}, which is not one of the records of plain data mlspec loads")


def _check_config(reader, records: list[str], path: str, record: re.Pattern, what: str) -> None:
    """Every weight (constant) a raw tensor: not pickled, its record a plain one that exists."""
    if path not in records:
        raise NotAnArchive(f"it has no {path}")
    document = _json(reader, path)
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise NotAnArchive(f"{path} has no `config` object")
    folder = path.rpartition("/")[0]
    for fqn, entry in config.items():
        if not isinstance(entry, dict):
            raise NotAnArchive(f"{path}: the entry of {fqn!r} is not an object")
        record_name = entry.get("path_name")
        if entry.get("use_pickle"):
            raise UnsafeArchive(f"it holds pickled data ({folder}/{record_name}, the {what} {fqn!r}, marked use_pickle)")
        if not isinstance(record_name, str) or not record.fullmatch(record_name) or f"{folder}/{record_name}" not in records:
            raise UnsafeArchive(f"{path}: the {what} {fqn!r} is stored as {record_name!r}, not as a raw tensor of the archive")
        if not isinstance(entry.get("tensor_meta"), dict):
            raise NotAnArchive(f"{path}: the {what} {fqn!r} has no tensor_meta")
        if not FQN.fullmatch(str(fqn)):
            raise UnsafeArchive(f"{path}: the {what} name {fqn!r} is not a dotted Python name")


def _check_sample_inputs(reader, records: list[str], path: str) -> None:
    """PyTorch unpickles the sample inputs with weights_only=True and, when that fails, with
    weights_only=False: they are loaded here the safe way first, and refused when that fails."""
    if path not in records:
        return
    data = _bytes(reader, path)
    if not data:
        return
    import torch

    try:
        torch.load(io.BytesIO(data), weights_only=True)
    except Exception as error:  # the safe unpickler refuses what is not tensors and containers
        named = re.search(r"GLOBAL ([\w.]+)", str(error))
        what = f"pickled objects ({named.group(1)})" if named else "objects plain tensors are not"
        raise UnsafeArchive(f"it holds pickled data ({path}, sample inputs holding {what})") from None


def _check_program(program, path: str) -> None:
    """The exported program: no guard code; shape expressions, call targets and the names
    that become attributes all of the forms torch writes."""
    if not isinstance(program, dict):
        raise NotAnArchive(f"{path} is not a JSON object")
    if program.get("guards_code"):
        raise UnsafeArchive(f"{path} holds guard code (`guards_code`: Python source torch would compile and run)")
    stack = [program]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            if key == "expr_str" and isinstance(value, str):
                _check_expression(value, path)
            elif key in ("parameter_name", "buffer_name", "tensor_constant_name", "custom_obj_name") and isinstance(value, str):
                if not FQN.fullmatch(value):
                    raise UnsafeArchive(f"{path}: the name {value!r} is not a dotted Python name")
            elif key == "as_graph" and isinstance(value, dict) and not IDENTIFIER.fullmatch(str(value.get("name", ""))):
                raise UnsafeArchive(f"{path}: the subgraph name {value.get('name')!r} is not a Python name")
            elif isinstance(value, (dict, list)):
                stack.append(value)
        target = node.get("target")
        if isinstance(target, str) and "inputs" in node and "outputs" in node:
            _check_target(target, path)


def _check_target(target: str, path: str) -> None:
    module, _, name = target.partition(".")
    if module == "torch" and (OP_TARGET.fullmatch(target) or SYM_TARGET.fullmatch(target)):
        if "__" not in target:
            return
    if module == "_operator" and name in OPERATOR_FUNCTIONS:
        return
    if module == "math" and MATH_TARGET.fullmatch(target):
        return
    raise UnsafeArchive(f"{path} calls {target[:80]!r}, which is not an operator of torch.ops, operator or math")


def _check_expression(text: str, path: str) -> None:
    """A symbolic-shape expression: sympy's repr of arithmetic on symbols and numbers only
    (sympify evaluates it as Python)."""
    shown = text if len(text) <= 80 else text[:77] + "..."
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise UnsafeArchive(f"{path} holds a shape expression that is not an expression: {shown!r}") from None
    for part in ast.walk(tree):
        if not isinstance(part, SAFE_EXPRESSION_NODES):
            raise UnsafeArchive(f"{path} holds a shape expression with {type(part).__name__}: {shown!r}")
        if isinstance(part, ast.Call) and not (isinstance(part.func, ast.Name) and part.func.id in SYMPY_CALLS):
            raise UnsafeArchive(f"{path} holds a shape expression calling something other than sympy's arithmetic: {shown!r}")
        if isinstance(part, ast.keyword) and part.arg is None:
            raise UnsafeArchive(f"{path} holds a shape expression with ** arguments: {shown!r}")
        if isinstance(part, ast.Name) and not (part.id in SYMPY_CALLS or part.id in SYMPY_NAMES or SYMBOL_NAME.fullmatch(part.id)):
            raise UnsafeArchive(f"{path} holds a shape expression naming {part.id!r}: {shown!r}")
        if isinstance(part, ast.Constant) and not isinstance(part.value, (str, int, float, bool, type(None))):
            raise UnsafeArchive(f"{path} holds a shape expression with a {type(part.value).__name__} constant: {shown!r}")


def _bytes(reader, path: str) -> bytes:
    try:
        size = reader.archive_file.get_record_size(path)
        data = reader.read_bytes(path) if size <= MAX_METADATA_BYTES else None
    except Exception as error:  # torch's reader raises RuntimeError for a broken record
        raise NotAnArchive(f"{path} cannot be read: {first_line(error)}") from None
    if data is None:
        raise NotAnArchive(f"{path} is larger than {MAX_METADATA_BYTES // 2**20} MiB")
    return data


def _json(reader, path: str):
    data = _bytes(reader, path)
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise NotAnArchive(f"{path} is not JSON: {first_line(error)}") from None
