"""Fuzzing `mlspec check` and `mlspec fmt` with broken specs; the engine of tests/test_fuzz.py.

    python tests/fuzz/nightly.py --count 100000 --seed 7 [--keep DIR]

Feeds `count` specs, made from a seeded generator, to `check --no-models` and `fmt --check`
(in this process, through `mlspec.cli.main`), and prints how many ended in a traceback
(or broke the other rules below), with the first few of them. Exit status: 0 when none did.

The specs: the demo specs (specs/) and the golden edge-case specs (tests/golden/specs),
mutated (numbers: huge, tiny, negative, NaN-like text, a hundred thousand digits; lists
nested deep; NUL, U+2028, surrogates, right-to-left marks; CRLF, tabs; odd paths;
truncations, byte flips, spliced and shuffled lines), and specs generated from a small
grammar of the language with odd values. Each is written to a file of its own in a
temporary folder, where the demo files it names mostly are not (some mutated demo specs
are written beside their data instead, through a linked copy of the demo folders).

What each run must do:
- no exception leaves `main` (a traceback), and none takes longer than `--limit` seconds;
- exit 0 or 2 (`fmt --check`: 1 too, "would reformat");
- on exit 2, stderr says what is wrong and where: every error line is located
  (`path:line:col: error: ...`) or is about the file itself (`error: PATH is not UTF-8 ...`)
  or a usage line (`mlspec: ...`).

Models are never loaded (`check --no-models`): a mutated spec may name any module as a
`python` model, and loading one runs its code.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import re
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMOS = ("sentiment", "digits", "income", "checklist", "diabetes")

# ------------------------------------------------------------------ values

WEIRD_NUMBERS = [
    "0", "-0", "1", "-1", "2", "0.5", "1.0", "1.5", "-1.5", "100", "101", "1000", "1001", "10000000", "10000001",
    "1e999", "-1e999", "1e308", "1e309", "-1e308", "1e-999", "1e-400", "4.9e-324", "1e18", "1e19", "1e20",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "18446744073709551616",
    "00000000000000000000001", "0.0000000000000000000001", "1e+5", "1E5", "1e-5", "123456789012345678901234567890",
    "1e9999999999999999999", "1e-9999999999999999999", "0e99999999999", "2147483648", "4294967296",
    "5%", "0%", "100%", "101%", "-5%", "1e2%", "999999999999999999999%", "2s", "0s", "0ms", "50ms",
    "600s", "601s", "3600s", "3601s", "99999999999999999999s", "1.5ms",
    # not numbers of the language: they must be parse errors
    "NaN", "nan", "inf", "-inf", "Infinity", "1_000", "0x10", "1e", "1e+", ".5", "5.", "--1", "+1", "1/0",
    "\u0663", "\uff11", "1\u00a0000", "\u00b2", "\u2167", "1,000",
]

WEIRD_CHARS = [
    "\x00", "\u2028", "\u2029", "\u202e", "\u200f", "\u200b", "\ufeff", "\u0085", "\x0b", "\x0c", "\x1b",
    "\r", "\t", "\ud800", "\udfff", "\U0001f600", "\u0301", "\uffff", "\\", '"', "'", "#", "{", "}", "[", "]",
    "(", ")", ",", ":", ".", "/", "%", "-", ">", "=", "\u05d0", "\u0627", "\u00e9", "\u0130", "\u212a",
]

WEIRD_PATHS = [
    "", ".", "..", "/", "//", "/dev/null", "/dev/zero", "/dev/stdin", "/proc/self/mem", "/etc/passwd", "~", "~/x",
    "../" * 40 + "etc/passwd", "a\x00b", "\\0", "x" * 300, "/" + "x" * 5000, "C:\\\\x", "file:///etc/passwd",
    "http://localhost:1/x", "data", "data/", "lexicons/", "*", "?", "nul", "CON", "\u202etxt.exe", "\u2028",
    "model/sentiment.onnx", "data/reviews_test.csv", "data/reviews_test.jsonl", "lexicons/neutral_words.txt",
    "sentiment.mlspec", "../sentiment/sentiment.mlspec", "self.mlspec",
]

PERTURBATIONS = ["typos", "contractions", "punctuation", "swap", "change_numbers", "append", "prepend",
                 "gaussian_noise", "uniform_noise", "salt_pepper", "brightness", "contrast", "blur", "rotate",
                 "translate", "occlude", "invert", "nonexistent"]
PARAMS = ["count", "n", "lexicon", "phrases", "std", "eps", "amount", "delta", "factor", "sigma", "degrees", "dx",
          "dy", "size", "step", "steps", "restarts", "queries", "p_init", "norm", "random_start", "x"]
METRICS = ["robust_accuracy", "attack_success_rate", "clean_accuracy", "demographic_parity_difference",
           "demographic_parity_ratio", "disparate_impact", "equalized_odds_difference", "accuracy_difference",
           "max_gap", "min_ratio", "p50_latency", "p95_latency", "p99_latency", "mean_latency", "max_latency",
           "throughput", "error_rate", "nonsense"]
NAMES = ["m", "n", "w", "x", "reviews", "positive", "negative", "neutral", "pos", "neg", "label", "text",
         "eps", "expected", "a", "_", "A1", "thing", "first_name", "sentiment", "income", "digits"]


def load_seeds() -> list[tuple[str, bytes]]:
    """The specs mutations start from: the demos' and the golden edge cases'."""
    paths = sorted(ROOT.glob("specs/*/*.mlspec")) + sorted(ROOT.glob("specs/*/model/*.mlspec"))
    paths += sorted(ROOT.glob("tests/golden/specs/*.mlspec"))
    return [(str(p.relative_to(ROOT)), p.read_bytes()) for p in paths]


# ------------------------------------------------------------------ mutations


def _number(rng: random.Random) -> str:
    if rng.random() < 0.03:
        return rng.choice(["9", "1", "0"]) * rng.choice([400, 5000, 100_000])  # past int()'s digit limit
    return rng.choice(WEIRD_NUMBERS)


_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?(%|ms|s)?")
_STRING = re.compile(r'"([^"\\\n]|\\.)*"')


def mutate_numbers(rng: random.Random, text: str) -> str:
    matches = list(_NUMBER.finditer(text))
    if not matches:
        return text + " " + _number(rng)
    for match in sorted(rng.sample(matches, min(len(matches), rng.choice([1, 1, 2, 5]))), key=lambda m: -m.start()):
        text = text[: match.start()] + _number(rng) + text[match.end() :]
    return text


def _nested(rng: random.Random, depth: int) -> str:
    inner = rng.choice(['"a"', "1", "x", "", '"a", "b"', "0.1, 0.2"])
    return "[" * depth + inner + "]" * depth


def mutate_nesting(rng: random.Random, text: str) -> str:
    depth = rng.choice([1, 2, 3, 4, 5, 6, 50, 1000, 10_000])
    call = f"{rng.choice(['append', 'prepend', 'typos', 'swap', 'gaussian_noise'])}({rng.choice(['', 'phrases: ', 'eps: '])}{_nested(rng, depth)})"
    if rng.random() < 0.2:  # unbalanced
        call = call[: rng.randrange(1, len(call))]
    statement = rng.choice([f"perturb {call}", f"method {call.replace('append', 'pgd')}", f"perturb typos then {call}"])
    return _insert_statement(rng, text, statement)


def _insert_statement(rng: random.Random, text: str, statement: str) -> str:
    """`statement` on a line of its own after a random `{` line (or anywhere)."""
    lines = text.split("\n")
    openers = [i for i, line in enumerate(lines) if line.rstrip().endswith("{")]
    at = rng.choice(openers) + 1 if openers and rng.random() < 0.9 else rng.randrange(len(lines) + 1)
    lines.insert(at, "    " + statement)
    return "\n".join(lines)


NUMBER_STATEMENTS = [
    "sample {n}", "sample {n} seed {n}", "max_fail_rate {n}", "perturb typos(count: {n}) variants {n}",
    "perturb change_numbers(n: {n})", "perturb typos variants {n}", "expect prob(positive) >= {n}",
    "expect unchanged tolerance {n}", "expect confidence not decreasing tolerance {n}", "min_group_size {n}",
    "requests {n}", "duration {n}", "concurrency {n}", "batch {n}", "timeout {n}", "retries {n}",
    "expect robust_accuracy >= {n} at eps {n}", "expect p95_latency <= {n}", "expect throughput >= {n}",
    "expect demographic_parity_ratio >= {n}", "expect max_gap <= {n}", "method pgd(eps: {n}, steps: {n}, restarts: {n})",
    "method square(eps: [{n}, {n}], queries: {n}, p_init: {n})", "method fgsm(eps: {n})",
    "perturb gaussian_noise(std: {n}) variants {n}", "perturb occlude(size: {n})", "perturb translate(dx: {n}, dy: {n})",
    "perturb rotate(degrees: {n})", "neutral between {n} and {n}", "neutral between {n}/{n} and {n}/{n}",
    "input image shape [{n}, {n}, {n}] range [{n}, {n}]", "input tokens vocabulary \"v.txt\" max_length {n}",
    "where original.prob(positive) > {n}", "where original.label == positive",
]


def mutate_number_statement(rng: random.Random, text: str) -> str:
    statement = rng.choice(NUMBER_STATEMENTS)
    while "{n}" in statement:
        statement = statement.replace("{n}", _number(rng), 1)
    return _insert_statement(rng, text, statement)


def mutate_chars(rng: random.Random, text: str) -> str:
    for _ in range(rng.choice([1, 1, 2, 3, 8])):
        at = rng.randrange(len(text) + 1)
        text = text[:at] + rng.choice(WEIRD_CHARS) * rng.choice([1, 1, 1, 3, 1000]) + text[at:]
    return text


def mutate_whitespace(rng: random.Random, text: str) -> str:
    choice = rng.randrange(7)
    if choice == 0:
        return text.replace("\n", "\r\n")
    if choice == 1:
        return text.replace("\n", "\r")
    if choice == 2:
        return re.sub(r"(?m)^ +", lambda m: "\t" * rng.randrange(4), text)
    if choice == 3:
        return re.sub(r" ", lambda m: rng.choice([" ", "\t", "\x0c", "  ", "\n", "\r\n"]), text)
    if choice == 4:
        return "\ufeff" + text
    if choice == 5:
        return text.replace("\n", " ")  # one long line
    return text.rstrip("\n")


def mutate_paths(rng: random.Random, text: str) -> str:
    strings = [m for m in _STRING.finditer(text) if re.search(r"(file|onnx|torch|csv|jsonl|npz|import|vocabulary|python|http)\s*$", text[: m.start()])]
    if not strings:
        return _insert_statement(rng, text, f'lexicon zz = file "{rng.choice(WEIRD_PATHS)}"')
    match = rng.choice(strings)
    return text[: match.start()] + '"' + rng.choice(WEIRD_PATHS) + '"' + text[match.end() :]


def mutate_lines(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    for _ in range(rng.choice([1, 2, 5])):
        if not lines:
            break
        i = rng.randrange(len(lines))
        action = rng.randrange(4)
        if action == 0:
            del lines[i]
        elif action == 1:
            lines.insert(rng.randrange(len(lines) + 1), lines[i])
        elif action == 2:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines[i] = lines[i] * rng.choice([2, 3])
    return "\n".join(lines)


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def flip_bytes(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 4, 16])):
        if data:
            i = rng.randrange(len(data))
            data[i] = rng.randrange(256) if rng.random() < 0.5 else data[i] ^ (1 << rng.randrange(8))
    return bytes(data)


def splice(rng: random.Random, a: bytes, b: bytes) -> bytes:
    return a[: rng.randrange(len(a) + 1)] + b[rng.randrange(len(b) + 1) :]


# ------------------------------------------------------------------ generated specs


def _value(rng: random.Random, depth: int = 0) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return _number(rng)
    if kind == 1:
        return '"' + rng.choice(["a", "", "I loved it.", "\\n", "\\\"", "x" * 50]) + '"'
    if kind == 2:
        return rng.choice(NAMES)
    if depth < 3:
        return "[" + ", ".join(_value(rng, depth + 1) for _ in range(rng.randrange(4))) + "]"
    return "1"


def _call(rng: random.Random) -> str:
    args = []
    for _ in range(rng.randrange(4)):
        value = _value(rng)
        args.append(f"{rng.choice(PARAMS)}: {value}" if rng.random() < 0.6 else value)
    return rng.choice(PERTURBATIONS + ["fgsm", "pgd", "square"]) + (f"({', '.join(args)})" if args or rng.random() < 0.5 else "")


def _test_statement(rng: random.Random) -> str:
    n = lambda: _number(rng)  # noqa: E731
    label = lambda: rng.choice(NAMES + ['"<=50K"', '">50K"'])  # noqa: E731
    subject = lambda: rng.choice([f"prob({label()})", "confidence", f"margin({label()}, {label()})"])  # noqa: E731
    cmp = lambda: rng.choice(["==", "!=", ">=", "<=", ">", "<"])  # noqa: E731
    return rng.choice([
        lambda: f'template "The {{{rng.choice(NAMES)}}} was {{{rng.choice(["a:", "A:", ""])}{rng.choice(NAMES)}}}."' + (f" -> {label()}" if rng.random() < 0.5 else ""),
        lambda: f"from {rng.choice(NAMES)}" + (f" sample {n()}" if rng.random() < 0.3 else ""),
        lambda: f"sample {n()}" + (f" seed {n()}" if rng.random() < 0.5 else ""),
        lambda: "perturb " + " then ".join(_call(rng) for _ in range(rng.choice([1, 1, 2, 5]))) + (f" variants {n()}" if rng.random() < 0.5 else ""),
        lambda: f"swap {rng.choice(NAMES)}",
        lambda: f"where original.label {rng.choice(['==', '!=', 'in'])} {label() if rng.random() < 0.7 else '[' + label() + ']'}",
        lambda: f"where original.{subject()} {cmp()} {n()}",
        lambda: f"expect label {cmp()} {rng.choice([label(), 'expected'])}",
        lambda: f"expect label {rng.choice(['in', 'not in'])} [{', '.join(label() for _ in range(rng.randrange(3)))}]",
        lambda: f"expect {subject()} {cmp()} {n()}",
        lambda: "expect unchanged" + (f" tolerance {n()}" if rng.random() < 0.5 else ""),
        lambda: f"expect {subject()} {rng.choice(['', 'not '])}{rng.choice(['increasing', 'decreasing'])}" + (f" tolerance {n()}" if rng.random() < 0.5 else ""),
        lambda: f"expect {rng.choice(METRICS)} {cmp()} {n()}" + (f" at {rng.choice(['eps', 'x'])} {n()}" if rng.random() < 0.3 else ""),
        lambda: f"max_fail_rate {n()}",
        lambda: "by " + ", ".join(rng.choice(NAMES) for _ in range(rng.randrange(1, 3))),
        lambda: rng.choice(["metric positive_rate", f"metric mean {subject()}"]),
        lambda: f"positive {label()}",
        lambda: f"method {_call(rng)}",
        lambda: f"privileged {rng.choice(NAMES)} {cmp()} {label()}",
        lambda: f"min_group_size {n()}",
        lambda: f"requests {n()}",
        lambda: f"duration {n()}",
        lambda: f"concurrency {n()}",
    ])()


def _model(rng: random.Random, name: str) -> str:
    n = lambda: _number(rng)  # noqa: E731
    source = rng.choice(['onnx "m.onnx"', 'torch "m.pt"', 'python "mlspec_fuzz_absent:predict"', 'http "http://localhost:1/v2/models/m/infer"', ""])
    inputs = rng.choice([
        "input text", f'input tokens vocabulary "v.txt" lowercase max_length {n()}', f"input image shape [{n()}, {n()}] range [{n()}, {n()}]",
        "input table columns [a, b, sex]", "input text input text", "",
    ])
    labels = rng.choice(["[]", "[one]", "[negative, positive]", "[negative, neutral, positive]", '["<=50K", ">50K"]', "[a, a]",
                         "[" + ", ".join(f"l{i}" for i in range(rng.choice([3, 300]))) + "]"])
    extras = [rng.choice([f"batch {n()}", f"concurrency {n()}", f"timeout {n()}", f"retries {n()}", f"neutral between {n()} and {n()}",
                          f"neutral between {n()}/{n()} and {n()}/{n()}", 'header "X" "y"', 'request "instances"', 'response "a.b"'])
              for _ in range(rng.randrange(3))]
    body = "\n  ".join(s for s in [source, inputs, f"output {rng.choice(['probabilities', 'logits'])} labels {labels}", *extras] if s)
    return f"model {name} {{\n  {body}\n}}\n"


def generate(rng: random.Random) -> str:
    """A spec from a small grammar of the language, with odd values: mostly parses, often wrong."""
    parts = []
    if rng.random() < 0.8:
        parts.append('spec "fuzz"' + (f" seed {_number(rng)}" if rng.random() < 0.5 else "") + "\n")
    models = rng.choice([["m"], ["m"], ["m", "n"], []])
    parts += [_model(rng, name) for name in models]
    for _ in range(rng.randrange(3)):
        parts.append(rng.choice([
            f"lexicon {rng.choice(NAMES)} = [" + ", ".join(f'"{rng.choice(["a", "b", "an apple", "", "x"])}"' for _ in range(rng.randrange(4))) + "]\n",
            f'lexicon {rng.choice(NAMES)} = file "{rng.choice(WEIRD_PATHS)}"\n',
            f'dataset {rng.choice(NAMES)} = {rng.choice(["csv", "jsonl", "npz"])} "{rng.choice(WEIRD_PATHS)}" {{ text: {rng.choice(NAMES)}, label: {rng.choice(NAMES + [_number(rng)])} }}\n',
            f'import "{rng.choice(WEIRD_PATHS)}"\n',
        ]))
    for c in range(rng.randrange(1, 3)):
        tests = []
        for t in range(rng.randrange(1, 4)):
            kind = rng.choice(["mft", "inv", "dir", "fairness", "attack", "load"])
            on = f" on {', '.join(models)}" if len(models) > 1 and rng.random() < 0.8 else ""
            statements = "\n".join("    " + _test_statement(rng) for _ in range(rng.randrange(1, 7)))
            tests.append(f'  {kind} "t{c}.{t}"{on} {{\n{statements}\n  }}\n')
        parts.append(f'capability "c{c}" {{\n' + "\n".join(tests) + "}\n")
    return "\n".join(parts)


# ------------------------------------------------------------------ cases


@dataclass
class Case:
    label: str  # how it was made
    data: bytes
    beside_data: bool = False  # written into the linked copy of the demo folders, beside their files


def cases(seed: int, count: int, seeds: list[tuple[str, bytes]] | None = None):
    """`count` cases, the same ones for the same seed."""
    rng = random.Random(seed)
    seeds = seeds if seeds is not None else load_seeds()
    text_mutations = [mutate_numbers, mutate_number_statement, mutate_nesting, mutate_chars, mutate_whitespace, mutate_paths, mutate_lines]
    for index in range(count):
        name, original = rng.choice(seeds)
        roll = rng.random()
        if roll < 0.12:
            yield Case(f"{index}: generated", generate(rng).encode("utf-8", "surrogatepass"))
            continue
        if roll < 0.22:
            yield Case(f"{index}: truncated {name}", truncate(rng, original))
            continue
        if roll < 0.30:
            yield Case(f"{index}: flipped bytes of {name}", flip_bytes(rng, original))
            continue
        if roll < 0.33:
            other = rng.choice(seeds)
            yield Case(f"{index}: spliced {name} and {other[0]}", splice(rng, original, other[1]))
            continue
        text = original.decode("utf-8")
        applied = rng.sample(text_mutations, rng.choice([1, 1, 1, 2, 3]))
        for mutation in applied:
            text = mutation(rng, text)
        beside = name.startswith("specs/") and rng.random() < 0.05
        yield Case(f"{index}: {'+'.join(m.__name__ for m in applied)} of {name}", text.encode("utf-8", "surrogatepass"), beside)


# ------------------------------------------------------------------ running


class Hang(Exception):
    """A run took longer than the limit."""


@dataclass
class Outcome:
    argv: list[str]
    rc: object  # the exit status, or the exception that left main
    stdout: str
    stderr: str
    seconds: float
    problem: str | None = None


_LOCATED = re.compile(r"^.+:\d+:\d+: (error|warning): ")


def run(argv: list[str], limit: float) -> Outcome:
    """`mlspec ARGV` in this process, its output captured; a run past `limit` seconds is stopped."""
    from mlspec.cli import main

    out, err = io.StringIO(), io.StringIO()

    def stop(signum, frame):
        raise Hang(f"took more than {limit:g}s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, limit)
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
    except BaseException as error:  # noqa: BLE001 - a traceback is what this looks for
        import traceback

        rc = error
        err.write("".join(traceback.format_exception(error)))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    outcome = Outcome(argv, rc, out.getvalue(), err.getvalue(), time.perf_counter() - started)
    outcome.problem = judge(outcome)
    return outcome


def judge(outcome: Outcome) -> str | None:
    """What is wrong with how a run ended, or None."""
    rc, stderr = outcome.rc, outcome.stderr
    if isinstance(rc, BaseException):
        return f"{type(rc).__name__}: {str(rc)[:200]}"
    if "Traceback (most recent call last)" in stderr:
        return "a traceback on stderr"
    allowed = {0, 1, 2} if outcome.argv[:2] == ["fmt", "--check"] else {0, 2}
    if rc not in allowed:
        return f"exit status {rc}"
    if rc == 2:
        heads = [line for line in stderr.splitlines() if line.startswith("error: ") or re.match(r"^\S.*: error: ", line)]
        if not heads and not stderr.startswith("mlspec: "):
            return "exit 2 without an error message"
        for line in heads:
            if not (_LOCATED.match(line) or _about_the_file(line, outcome.argv[-1])):
                return f"an error without a place: {line[:200]}"
    return None


def _about_the_file(line: str, path: str) -> bool:
    """`error: PATH is not UTF-8 text (byte 3)` and the like: the problem is the file named."""
    return line.startswith("error: ") and (path in line or Path(path).name in line)


@dataclass
class Report:
    runs: int = 0
    seconds: float = 0.0
    slowest: tuple[float, str] = (0.0, "")
    problems: list[tuple[str, Outcome, bytes]] = field(default_factory=list)
    statuses: dict = field(default_factory=dict)


def fuzz(seed: int, count: int, folder: Path, limit: float = 20.0, log=None, budget: float | None = None) -> Report:
    """Run `count` cases; each is checked and its format checked. Stops early past `budget` seconds."""
    report = Report()
    demos = _linked_demos(folder / "demos")
    started = time.perf_counter()
    for number, case in enumerate(cases(seed, count)):
        if case.beside_data:
            name = case.label.rsplit(" of ", 1)[1].split("/")[1]
            path = demos / name / f"fuzz_{number}.mlspec"
        else:
            path = folder / f"case_{number}.mlspec"
        path.write_bytes(case.data)
        for argv in (["check", "--no-models", str(path)], ["fmt", "--check", str(path)]):
            outcome = run(argv, limit)
            report.runs += 1
            report.statuses[(argv[0], outcome.rc if isinstance(outcome.rc, int) else "exception")] = (
                report.statuses.get((argv[0], outcome.rc if isinstance(outcome.rc, int) else "exception"), 0) + 1
            )
            if outcome.seconds > report.slowest[0]:
                report.slowest = (outcome.seconds, f"{case.label} ({argv[0]})")
            if outcome.problem:
                report.problems.append((case.label, outcome, case.data))
                if log:
                    log(f"{case.label}: {' '.join(argv[:-1])}: {outcome.problem}")
        path.unlink()
        if log and number and number % 1000 == 0:
            log(f"{number} cases, {len(report.problems)} problems, {time.perf_counter() - started:.0f}s")
        if budget is not None and time.perf_counter() - started > budget:
            break
    report.seconds = time.perf_counter() - started
    return report


def _linked_demos(folder: Path) -> Path:
    """A copy of specs/ whose files are links to the real ones: mutated specs beside real data."""
    for demo in DEMOS:
        source = ROOT / "specs" / demo
        target = folder / demo
        target.mkdir(parents=True, exist_ok=True)
        for entry in source.iterdir():
            if not (target / entry.name).exists():
                (target / entry.name).symlink_to(entry)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=float, default=20.0, help="seconds one run may take")
    parser.add_argument("--show", type=int, default=5, help="offending inputs to print")
    parser.add_argument("--keep", metavar="DIR", help="write the offending inputs here")
    args = parser.parse_args(argv)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    with tempfile.TemporaryDirectory(prefix="mlspec-fuzz-") as temporary:
        folder = Path(temporary)
        # the specs here may name the demo files (as the tests' conftest allows)
        os.environ["MLSPEC_ALLOW_PATH"] = os.pathsep.join([str(folder), str(ROOT)])
        os.environ.setdefault("MLSPEC_CACHE_DIR", str(folder / "cache"))
        report = fuzz(args.seed, args.count, folder, args.limit, log=lambda line: print(line, file=sys.stderr, flush=True))
    tracebacks = sum(1 for _, outcome, _ in report.problems if isinstance(outcome.rc, BaseException) or "Traceback" in outcome.stderr)
    print(f"{args.count} cases (seed {args.seed}), {report.runs} runs in {report.seconds:.0f}s; slowest {report.slowest[0]:.2f}s: {report.slowest[1]}")
    print(f"exit statuses: {dict(sorted(report.statuses.items(), key=str))}")
    print(f"tracebacks: {tracebacks}; other problems: {len(report.problems) - tracebacks}")
    for label, outcome, data in report.problems[: args.show]:
        print(f"\n--- {label}: mlspec {' '.join(outcome.argv[:-1])}: {outcome.problem}")
        print(f"input ({len(data)} bytes): {data[:600]!r}{' ...' if len(data) > 600 else ''}")
        print(outcome.stderr[-1500:])
    if args.keep and report.problems:
        keep = Path(args.keep)
        keep.mkdir(parents=True, exist_ok=True)
        for number, (label, _, data) in enumerate(report.problems):
            (keep / f"problem_{number}.mlspec").write_bytes(data)
        print(f"offending inputs written to {keep}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
