"""The `mlspec` command: check, plan and run spec files.

Exit codes (DESIGN.md): 0 every test passed, 1 a test failed, 2 the spec or the command
line is wrong, 3 the run could not complete (a model or data file failed, interrupted).
Spec errors are printed as `path:line:col: error: message` with the source line and a
caret, never as a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mlspec import __version__

if TYPE_CHECKING:
    from mlspec.errors import Diagnostic, MlspecError
    from mlspec.results import RunResult

# Every other module (errors, the stages, back ends, importers) is imported by the
# functions that use it, so `mlspec --version` imports nothing but the standard library
# and `mlspec fmt` only the language; neither imports a machine-learning library
# (tests/test_cli_imports.py). So the defaults --help shows are copies of their modules'
# (mlspec.checklist_import.DEFAULT_LABELS, mlspec.run.cache.ENV_VAR and DEFAULT_DIR),
# which the same tests check.
DEFAULT_LABELS = ("negative", "neutral", "positive")
ENV_VAR = "MLSPEC_CACHE_DIR"
DEFAULT_DIR = ".mlspec-cache"

EXIT_SPEC_ERROR = 2
EXIT_RUN_ERROR = 3
EXIT_CODES = """exit codes:
  0  every test passed
  1  a test failed, or regressed against --baseline with --fail-on-regression
  2  a spec or the command line is wrong (file:line:col, source line, caret, hint)
  3  a test could not run (a broken model, data file or endpoint; interrupted): its
     reports are still written"""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    from mlspec.errors import MlspecError, RunError

    try:
        return args.command(args)
    except MlspecError as error:
        _print_diagnostics(error)
        return EXIT_SPEC_ERROR
    except RunError as error:  # a cluster that cannot be reached: the run cannot start
        print(f"mlspec: {error}", file=sys.stderr)
        return EXIT_RUN_ERROR
    except KeyboardInterrupt:
        print("mlspec: interrupted", file=sys.stderr)
        return EXIT_RUN_ERROR
    except BrokenPipeError:  # the reader of our output went away (`| head`): nothing more to say
        sys.stderr.close()
        return 0


def command_line() -> int:
    """The `mlspec` command (and `python -m mlspec`): `main` on the command line's arguments,
    then `_exit_at_once`."""
    code = main()
    _exit_at_once(code)
    return code


def _exit_at_once(code: int) -> None:
    """End the process without tearing the interpreter down, once its work is done: the
    exit handlers run and the standard streams are flushed, but the last garbage collection
    and the freeing of every object and extension (ONNX Runtime's among them) are skipped;
    on CheckList's suite of 165,000 inputs that is some 70 ms of an 0.4 s run. A thread still
    working (not a daemon) is waited for as usual: then this returns."""
    import atexit
    import threading

    if any(thread.is_alive() and not thread.daemon for thread in threading.enumerate() if thread is not threading.main_thread()):
        return
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # the reader went away, or a stream was closed: nothing left to say
        pass
    os._exit(code)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlspec", description="Behavioural tests for ML models, written as specs.", epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"mlspec {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    check = _command(commands, "check", "report every error in spec files, without running a model")
    check.add_argument("files", nargs="+", metavar="FILE", type=_path_argument)
    check.add_argument(
        "--format",
        choices=["text", "json", "github"],
        default="text",
        help="json: diagnostics as data, for editors; github: workflow commands that annotate the spec lines in a pull request",
    )
    _add_model_options(check)
    check.add_argument("--no-models", action="store_true", help="load no model file: a model file is code (see README, Trust and safety)")
    _add_verbosity(check)
    check.set_defaults(command=cmd_check)

    fmt = _command(commands, "fmt", "rewrite spec files in the canonical layout")
    fmt.add_argument("files", nargs="+", metavar="FILE")
    fmt.add_argument("--check", action="store_true", help="change nothing; exit 1 when a file would change")
    fmt.add_argument("--diff", action="store_true", help="change nothing; show what would change")
    fmt.set_defaults(command=cmd_fmt)

    plan = _command(commands, "plan", "show each test's cases and the model calls, without running a model")
    plan.add_argument("files", nargs="+", metavar="FILE", type=_path_argument)
    plan.add_argument("--format", choices=["text", "json", "markdown"], default="text", help="json: the plan with every case; markdown: text in a fenced block, for a PR comment")
    plan.add_argument("--json", action="store_const", const="json", dest="format", help=argparse.SUPPRESS)  # before --format existed
    plan.add_argument("--against", metavar="REV_OR_FILE", help="show what changed since a git revision (or another version of the file)")
    _add_model_options(plan)
    plan.set_defaults(command=cmd_plan)

    predict = _command(commands, "predict", "print a model's label and probabilities (or values) for texts you type")
    predict.add_argument("spec", metavar="SPEC", type=_path_argument)
    predict.add_argument("texts", nargs="+", metavar="TEXT")
    _add_model_choice(predict)
    predict.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    predict.add_argument("--allow-python", action="store_true", help="allow `python` models, which import and run code")
    _add_allow_path(predict)
    predict.set_defaults(command=cmd_predict)

    serve = _command(commands, "serve", "serve a spec's model over the Open Inference Protocol v2 (KServe)")
    serve.add_argument("spec", metavar="SPEC", type=_path_argument)
    _add_model_choice(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    serve.add_argument("--allow-python", action="store_true", help="allow `python` models, which import and run code")
    _add_allow_path(serve)
    serve.set_defaults(command=cmd_serve)

    run = _command(commands, "run", "run spec files and report")
    run.add_argument("files", nargs="+", metavar="FILE", type=_path_argument)
    _add_report_options(run)
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where models run (default: auto)")
    run.add_argument("--allow-python", action="store_true", help="allow `python` models, which import and run code")
    run.add_argument("--against", metavar="REV_OR_FILE", help="with --markdown: add what the specs changed since a git revision (`mlspec plan --against`)")
    run.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="score on a Ray cluster: no value starts a local one, `auto` joins the running one, HOST:PORT a remote one (pip install '.[ray]'; docs/ray.md)",
    )
    run.add_argument("--ray-actors", type=_positive_int, metavar="N", help="with --ray: model actors (default: the cluster's CPUs, or its GPUs on CUDA)")
    run.add_argument("--ray-gpus-per-actor", type=float, metavar="F", help="with --ray: GPUs each actor takes (default: 1 on CUDA, else 0)")
    run.add_argument("--shard", metavar="I/N", help="run only the I-th of N parts of the tests (parallel CI jobs; see `mlspec merge`)")
    run.add_argument("--cache-dir", metavar="PATH", help=f"where predictions are cached (default: ${ENV_VAR}, else {DEFAULT_DIR})")
    run.add_argument("--no-cache", action="store_true", help="compile every spec and score every input afresh, and cache nothing")
    run.add_argument(
        "--no-prediction-cache",
        action="store_true",
        help="score every input afresh and keep no scores; an unchanged spec's compiled plan still comes from the plan cache",
    )
    _add_model_options(run)
    run.set_defaults(command=cmd_run)

    importer = _command(commands, "import", "turn another tool's test suite into a spec and data files")
    importer.add_argument("format", choices=["checklist"], help="checklist: an exported CheckList suite (JSON, optionally gzipped)")
    importer.add_argument("suite", metavar="SUITE")
    importer.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the spec and its data/ files")
    importer.add_argument("--labels", default=",".join(DEFAULT_LABELS), metavar="A,B,C", help="names of the suite's labels 0, 1, 2, ... (default: %(default)s)")
    importer.add_argument("--model", dest="model_file", metavar="PATH", help="the ONNX model the spec declares (relative to DIR; default: a placeholder)")
    importer.add_argument("--max-fail-rate", metavar="RATE", help="a `max_fail_rate` for every test, e.g. 5%% (default: none, so any failure fails a test)")
    importer.set_defaults(command=cmd_import)

    for name, help_text in (
        ("report", "write reports (HTML, Markdown, JUnit, JSON) from the saved results of one or several runs or shards"),
        ("merge", "combine the JSON results of several runs (shards) into one report (the same as `report`)"),
    ):
        merge = _command(commands, name, help_text)
        merge.add_argument("files", nargs="+", metavar="RESULT.json")
        _add_report_options(merge)
        merge.set_defaults(command=cmd_merge)
    return parser


def _command(commands, name: str, help_text: str) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with the exit codes."""
    return commands.add_parser(name, help=help_text, description=help_text, epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)


def _add_report_options(parser: argparse.ArgumentParser) -> None:
    """The reports a run (or saved results) can be written as, and what the terminal shows."""
    parser.add_argument("--junit", metavar="PATH", help="write a JUnit XML report")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON (for --baseline, `mlspec report` and `mlspec merge`)")
    parser.add_argument("--html", metavar="PATH", help="write a self-contained HTML report with plots")
    parser.add_argument("--markdown", metavar="PATH", help="write a Markdown summary (e.g. $GITHUB_STEP_SUMMARY, a PR comment)")
    parser.add_argument("--baseline", metavar="PATH", help="compare with a saved run (a --json results file)")
    parser.add_argument(
        "--fail-on-regression",
        nargs="?",
        const="0",
        metavar="TOLERANCE",
        help="with --baseline: a test that went from PASS to FAIL, or whose figure got worse by more than TOLERANCE "
        "(0.02: in the figure's units; 10%%: of the baseline's figure; default 0), is REGRESSED and fails the run",
    )
    parser.add_argument("--color", choices=["auto", "always", "never"], default="auto", help="auto: on a terminal, unless NO_COLOR or TERM=dumb (FORCE_COLOR forces it)")
    parser.add_argument("--examples", type=int, default=3, metavar="N", help="failing examples shown per test (default 3)")
    _add_verbosity(parser)


def _add_verbosity(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1, default=0, help="show only what did not pass, and no progress")
    parser.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1, help="show every test's details, and how the models were run")


def _add_model_choice(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", metavar="NAME", help="which model of the spec (needed when it declares several)")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="use another model file or model card for NAME, as in `run` (a bare NAME, as before, picks the model like --name)",
    )


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="use another model for NAME: a model file (.onnx, .pt, .pt2) or a model card (.mlspec with one `model` block)",
    )
    parser.add_argument("--seed", type=int, help="seed for random choices the spec leaves unseeded")
    _add_allow_path(parser)


def _add_allow_path(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-path",
        action="append",
        default=[],
        type=_path_argument,
        metavar="DIR",
        help="let specs read files in DIR too (repeatable); a spec reads only inside its project: its git repository, else its folder",
    )


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _path_argument(text: str) -> str:
    """A path given on the command line: no file name holds a NUL character, and its
    symbolic links lead somewhere (messages show paths resolved)."""
    if "\0" in text:
        raise argparse.ArgumentTypeError(f"{text!r}: a path holds no NUL character")
    try:
        Path(text).resolve()
    except (OSError, RuntimeError):  # RuntimeError: a loop of symbolic links
        raise argparse.ArgumentTypeError(f"{text}: too many levels of symbolic links (a loop?)") from None
    return text


def _model_paths(pairs: list[str]) -> dict[str, str]:
    from mlspec.errors import UsageError

    paths = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--model takes NAME=PATH, not {pair!r}")
        if not Path(path).exists() and not path.startswith(("http://", "https://")):
            raise UsageError(f"--model {name}: no such file: {path}")
        paths[name] = path
    return paths


def _print_diagnostics(error: MlspecError) -> None:
    from mlspec.errors import render

    for diagnostic in error.diagnostics:
        print(render(diagnostic), file=sys.stderr)
    _print_error_count(len(error.diagnostics))


def _print_error_count(count: int) -> None:
    """`3 errors` under several diagnostics (one needs no count)."""
    if count > 1:
        print(f"{count} errors", file=sys.stderr)


# ------------------------------------------------------------------ commands


def cmd_check(args) -> int:
    from mlspec.errors import display_path, render, render_github

    model_paths = _model_paths(args.model)
    files, diagnostics = [], []
    for path in args.files:
        found, figures = _check_file(path, model_paths, args.seed, load_models=not args.no_models, allowed=args.allow_path)
        files.append({"path": display_path(path), "ok": not any(d.severity == "error" for d in found), **figures})
        diagnostics.extend(found)
    failed = any(d.severity == "error" for d in diagnostics)
    if args.format == "json":
        print(json.dumps({"files": files, "diagnostics": [d.as_dict() for d in diagnostics]}, indent=1, ensure_ascii=False))
    elif args.format == "github":
        print("\n".join(render_github(d) for d in diagnostics), end="\n" if diagnostics else "")
    else:
        for diagnostic in diagnostics:
            print(render(diagnostic), file=sys.stderr)
        _print_error_count(sum(d.severity == "error" for d in diagnostics))
        for entry in files:
            if entry["ok"] and args.verbosity >= 0:
                print(f"ok: {entry['path']} ({entry['tests']} tests, {entry['cases']} cases)")
    return EXIT_SPEC_ERROR if failed else 0


def cmd_fmt(args) -> int:
    """Format each file in place, or with --check/--diff only say what would change."""
    from mlspec.errors import display_path
    from mlspec.language.formatter import format_spec
    from mlspec.language.sources import read_spec

    changed = []
    for path in args.files:
        original = read_spec(path)
        formatted = format_spec(original, display_path(path))
        if formatted == original:
            continue
        changed.append(path)
        if args.diff:
            shown = display_path(path)
            sys.stdout.writelines(difflib.unified_diff(original.splitlines(True), formatted.splitlines(True), shown, f"{shown} (formatted)"))
        elif not args.check:
            Path(path).write_text(formatted, encoding="utf-8")
    verb = "would reformat" if args.check or args.diff else "reformatted"
    for path in changed:
        print(f"{verb} {display_path(path)}", file=sys.stderr)
    return 1 if changed and (args.check or args.diff) else 0


def _check_file(path: str, model_paths: dict[str, str], seed: int | None, load_models: bool = True, allowed: list[str] = ()) -> tuple[list[Diagnostic], dict]:
    """Every error and warning of one spec file (syntax, names, data files, models), and its
    size. Each model is loaded and scores a probe input unless `load_models` is off; a model
    of `model_paths` the spec does not declare is ignored, as in `run`."""
    from mlspec.compile.compiler import compile_errors
    from mlspec.errors import MlspecError
    from mlspec.run.pipeline import plan_file

    try:
        _, plan = plan_file(path, model_paths, seed, allowed=allowed)
        compile_errors(plan)
        if load_models:
            _check_models(plan)
    except MlspecError as error:
        return list(error.diagnostics), {}
    return plan.warnings, {"tests": len(plan.tests), "cases": sum(t.n_cases for t in plan.tests)}


def _check_models(plan) -> None:
    """Open each model file (`local` back ends: not Python callables, not endpoints) and score
    one probe input, so a missing or unfitting model is reported now."""
    from mlspec.errors import Diagnostic, MlspecError
    from runners import load_runner

    problems = []
    for model in plan.models.values():
        if not model.local:  # a Python callable is imported code, an endpoint takes requests: check does neither
            continue
        try:
            runner = load_runner(model, "cpu", allow_python=False)
            probe = _probe_input(model)
            if probe is not None:
                runner.predict(probe)
        except MlspecError as error:
            problems.append(error.diagnostic)
        except Exception as error:  # the back end's own failure on the probe
            message = str(error) if str(error).startswith(f"model `{model.name}`") else f"model `{model.name}` fails on a probe input: {error}"
            problems.append(Diagnostic(message, model.span))
    if problems:
        raise MlspecError.collected(problems)


def _probe_input(model):
    """One input of the kind the model takes."""
    import numpy as np

    if model.image:
        return np.full((1, *model.image.shape), model.image.low, dtype=np.float32)
    if model.columns:
        return None  # no row of a table is valid without knowing its columns' types; loading checks them
    return ["mlspec check"]


def cmd_plan(args) -> int:
    from mlspec.run.pipeline import plan_file

    if args.against:
        return _plan_against(args)
    plans = [plan_file(path, _model_paths(args.model), args.seed, allowed=args.allow_path)[1] for path in args.files]
    if args.format == "json":
        document = [p.to_json() for p in plans]
        print(json.dumps(document[0] if len(document) == 1 else document, indent=1, ensure_ascii=False))
    else:
        _print_text("\n\n".join(p.summary() for p in plans), args.format)
    return 0


def _print_text(text: str, form: str) -> None:
    """Plain text, or for `markdown` the same text in a fenced block (a PR comment)."""
    if form == "markdown":
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall("`+", text)), default=0))
        text = f"{fence}text\n{text}\n{fence}"
    print(text)


def _model_choice(args) -> tuple[str | None, dict[str, str]]:
    """The model `predict` or `serve` uses: its name (`--name`, or a bare `--model NAME`) and
    the model files that replace a spec's (`--model NAME=PATH`, as in `run`)."""
    from mlspec.errors import UsageError

    model_paths = _model_paths([value for value in args.model if "=" in value])
    names = {value for value in args.model if "=" not in value} | ({args.name} if args.name else set())
    if not names and len(model_paths) == 1:
        names = set(model_paths)  # the model replaced is the one used
    if len(names) > 1:
        raise UsageError("name one model: " + ", ".join(sorted(names)), hint="--name NAME picks the model; --model NAME=PATH replaces its file")
    return next(iter(names), None), model_paths


def _spec_model(spec: str, name: str | None, allowed: list[str] = (), model_paths: dict[str, str] | None = None):
    """The model `name` of a spec (or its only model)."""
    from mlspec.errors import UsageError, display_path
    from mlspec.run.pipeline import check_file

    checked = check_file(spec, model_paths, allowed=allowed)
    if name is None and len(checked.models) == 1:
        return next(iter(checked.models.values()))
    if name not in checked.models:
        declared = ", ".join(f"`{m}`" for m in checked.models) or "none"
        raise UsageError(f"{display_path(spec)} declares models {declared}; name one with --name NAME")
    return checked.models[name]


def cmd_predict(args) -> int:
    """Each text's predicted label and probabilities, for trying inputs before writing them into a spec."""
    from mlspec.errors import UsageError
    from runners import load_runner

    name, model_paths = _model_choice(args)
    model = _spec_model(args.spec, name, args.allow_path, model_paths)
    if model.table not in ("text",):
        raise UsageError(f"model `{model.name}` takes {model.input_kind} inputs; predict takes texts")
    runner = load_runner(model, args.device, args.allow_python)
    probs = runner.predict(args.texts)
    width = max(len(label) for label in model.labels)
    for text, row in zip(args.texts, probs):
        if model.regression:  # a regression model's outputs
            print("  ".join(f"{name}={value:.6g}" for name, value in zip(model.labels, row)) + f"  {text!r}")
            continue
        label = model.labels[int(row.argmax())]
        shown = "  ".join(f"{name:>{width}}={p:.3f}" for name, p in zip(model.labels, row))
        print(f"{label:<{width}}  {shown}  {text!r}")
    return 0


def cmd_serve(args) -> int:
    from mlspec.serve import check_port, serve

    check_port(args.port)  # before the model is loaded
    name, model_paths = _model_choice(args)
    model = _spec_model(args.spec, name, args.allow_path, model_paths)
    serve(args.spec, model.name, host=args.host, port=args.port, model_paths=model_paths, allow_python=args.allow_python, device=args.device, allowed=args.allow_path)
    return 0


def _plan_against(args) -> int:
    """Tests and cases added, removed and changed, per spec file, against another version."""
    from mlspec.compile import plan_diff
    from mlspec.run.pipeline import plan_file

    reports = []
    for path in args.files:
        before = plan_diff.old_plan(path, args.against)
        after = plan_file(path, allowed=args.allow_path)[1]
        changes = plan_diff.diff_plans(before, after)
        reports.append(plan_diff.render_json(changes, path, args.against) if args.format == "json" else plan_diff.render_text(changes, path, args.against))
    if args.format == "json":
        document = json.dumps(reports[0] if len(reports) == 1 else reports, indent=1, ensure_ascii=False)
        if len(document) > plan_diff.MAX_CHARS:  # keep it a PR comment: drop the example cases
            for report in reports:
                for test in report["tests"]:
                    test["examples_added"], test["examples_removed"] = [], []
            document = json.dumps(reports[0] if len(reports) == 1 else reports, indent=1, ensure_ascii=False)
        print(document)
    else:
        _print_text("\n\n".join(reports), args.format)
    return 0


def cmd_run(args) -> int:
    from mlspec.errors import MlspecError
    from mlspec.results import RunResult
    from mlspec.run import shard
    from mlspec.run.cache import PredictionCache, cache_directory
    from mlspec.run.pipeline import cached_plan, plan_file
    from mlspec.terminal import progress_display
    from runners import load_runner

    started = time.perf_counter()
    part = shard.parse_shard(args.shard) if args.shard is not None else None
    model_paths = _model_paths(args.model)
    judge = _baseline_judge(args)
    cluster = _cluster(args)  # joined before compiling: an unreachable cluster is said at once
    plans, plan_notes, problems = [], [], []
    plans_cache = None if args.no_cache else cache_directory(args.cache_dir)  # compiled plans are kept beside the predictions
    for path in args.files:
        compile_started = time.perf_counter()
        try:
            plan, reused = cached_plan(path, model_paths, args.seed, args.allow_path, plans_cache) if plans_cache else (plan_file(path, model_paths, args.seed, allowed=args.allow_path)[1], False)
        except MlspecError as error:
            problems.extend(error.diagnostics)
            continue
        seconds = time.perf_counter() - compile_started
        plans.append((plan, seconds))
        plan_notes.append(f"plan: read from the plan cache in {seconds:.3f} s" if reused else f"plan: compiled in {seconds:.3f} s" + (" (stored in the plan cache)" if plans_cache else ""))
    if problems:
        raise MlspecError.collected(problems)
    plan_diff = _plan_diff_text(args) if args.markdown and args.against else None
    if part is not None:
        total = sum(len(plan.tests) for plan, _ in plans)
        plans = list(zip(shard.select([plan for plan, _ in plans], *part), [seconds for _, seconds in plans]))
        print(f"shard {part[0]}/{part[1]}: {sum(len(plan.tests) for plan, _ in plans)} of {total} tests", file=sys.stderr)
    _check_report_paths(args)
    load = cluster or (lambda model: load_runner(model, args.device, args.allow_python))
    cache = None if args.no_cache or args.no_prediction_cache else PredictionCache(cache_directory(args.cache_dir), cluster.cache_device if cluster else args.device)
    try:
        specs = _run_plans([plan for plan, _ in plans], load, cache, progress_display(args.verbosity))
    finally:
        if cluster:
            cluster.close()
    # A spec's time counts its compile too; its tests' times share out its scoring.
    result = RunResult(
        specs=[spec.model_copy(update={"seconds": spec.seconds + seconds, "notes": [note, *spec.notes]}) for spec, (_, seconds), note in zip(specs, plans, plan_notes)]
    )
    if args.verbosity >= 0:
        _print_notes(result, cache)
    result = judge(result.model_copy(update={"seconds": time.perf_counter() - started}))
    return _report(result, args, plan_diff)


def _cluster(args):
    """With --ray: the loader of model actors on the cluster (or None without --ray)."""
    from mlspec.errors import UsageError

    if args.ray is None:
        if args.ray_actors or args.ray_gpus_per_actor is not None:
            raise UsageError("--ray-actors and --ray-gpus-per-actor go with --ray")
        return None
    from runners.ray_runner import connect, ray_loader

    address = args.ray or None
    connect(address)
    return ray_loader(address, actors=args.ray_actors, gpus_per_actor=args.ray_gpus_per_actor, device=args.device, allow_python=args.allow_python)


def _print_notes(result, cache) -> None:
    """How the models were run: the cache's hits, the batch sizes chosen by measurement."""
    if cache is not None and cache.summary():
        print(cache.summary(), file=sys.stderr)
    for note in (note for spec in result.specs for note in spec.notes):
        print(note, file=sys.stderr)


def _baseline_judge(args):
    """What `--baseline` and `--fail-on-regression` do to a result (read and checked before a run)."""
    from mlspec.errors import UsageError
    from mlspec.run.baseline import judge_regressions, load_baseline, parse_tolerance, with_baseline

    if args.fail_on_regression is not None and not args.baseline:
        raise UsageError("--fail-on-regression compares with a saved run", hint="add --baseline RESULTS.json (written by `mlspec run --json`)")
    if not args.baseline:
        return lambda result: result
    baseline = load_baseline(args.baseline)
    tolerance = parse_tolerance(args.fail_on_regression) if args.fail_on_regression is not None else None

    def judged(result):
        result = with_baseline(result, baseline)
        return judge_regressions(result, tolerance) if tolerance is not None else result

    return judged


def _plan_diff_text(args) -> str:
    """What the specs changed since `--against`, as `mlspec plan --against` prints it."""
    from mlspec.compile import plan_diff
    from mlspec.run.pipeline import plan_file

    texts = []
    for path in args.files:
        changes = plan_diff.diff_plans(plan_diff.old_plan(path, args.against), plan_file(path, allowed=args.allow_path)[1])
        texts.append(plan_diff.render_text(changes, path, args.against))
    return "\n\n".join(texts)


def cmd_import(args) -> int:
    """Write a spec and data files from a CheckList export, then check that the spec compiles."""
    from mlspec.checklist_import import import_checklist
    from mlspec.errors import UsageError, display_path
    from mlspec.run.pipeline import check_file

    labels = tuple(label.strip() for label in args.labels.split(",") if label.strip())
    if args.max_fail_rate and not re.fullmatch(r"\d+(\.\d+)?%", args.max_fail_rate):
        raise UsageError(f"--max-fail-rate {args.max_fail_rate!r} is not a percentage", hint="write it like 5% or 2.5%")
    spec_path, warnings = import_checklist(args.suite, args.output, labels, args.model_file, args.max_fail_rate)
    for warning in warnings:
        print(f"mlspec import: warning: {warning}", file=sys.stderr)
    check_file(str(spec_path))
    print(f"wrote {display_path(spec_path)} and its data files in {display_path(Path(args.output) / 'data')}")
    return 0


def cmd_merge(args) -> int:
    """One report from the JSON results of several runs: console, JUnit, JSON; run's exit code."""
    from mlspec.run.merge import load_result, merge_results

    judge = _baseline_judge(args)
    result = merge_results([load_result(path) for path in args.files], args.files)
    _check_report_paths(args)
    return _report(judge(result), args)


def _run_plans(plans: list, load, cache, progress) -> list:
    """Run each plan. On Ctrl-C or SIGTERM, stop: the tests that finished keep their
    results, every other test is an ERROR ("interrupted"), and the reports are still written."""
    from mlspec.run.executor import run_plan, unfinished

    specs = []
    finished: list = []
    with _terminate_as_interrupt():
        try:
            for plan in plans:
                finished = []
                specs.append(run_plan(plan, load, cache, finished, progress))
        except KeyboardInterrupt:
            print("mlspec: interrupted; tests that had not finished are reported as errors", file=sys.stderr)
            reason = "interrupted before this test finished"
            if len(specs) < len(plans):
                specs.append(unfinished(plans[len(specs)], finished, reason))
                specs.extend(unfinished(plan, [], reason) for plan in plans[len(specs) :])
    return specs


class _terminate_as_interrupt:
    """Within it, SIGTERM stops the run the way Ctrl-C does (a KeyboardInterrupt)."""

    def __enter__(self):
        import signal

        self.previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _raise_interrupt)

    def __exit__(self, *exc):
        import signal

        signal.signal(signal.SIGTERM, self.previous)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _check_report_paths(args) -> None:
    """Before a run: each report path names a file mlspec can write (its folder is made)."""
    from mlspec.errors import UsageError

    for option, path in (("--junit", args.junit), ("--json", args.json), ("--html", args.html), ("--markdown", args.markdown)):
        if not path:
            continue
        try:
            target = Path(path)
            if target.is_dir():
                raise UsageError(f"{option} {path} is a directory; name a file")
            target.parent.mkdir(parents=True, exist_ok=True)
            writable = os.access(target.parent, os.W_OK) and (not target.exists() or os.access(target, os.W_OK))
        except (OSError, ValueError) as error:
            raise UsageError(f"{option} {path!r} cannot be written: {_reason(error)}") from None
        if not writable:
            raise UsageError(f"{option} {path}: permission denied")


def _reason(error: Exception) -> str:
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)


def _report(result: RunResult, args, plan_diff: str | None = None) -> int:
    """Write the report files first, whatever then happens to standard output; then the summary."""
    from mlspec import report
    from mlspec.terminal import use_color

    reports = (  # each writer's module is imported only when its report is asked for
        ("JUnit report", args.junit, lambda result, path: report.write_junit(result, path)),
        ("JSON results", args.json, lambda result, path: report.write_json(result, path)),
        ("HTML report", args.html, lambda result, path: report.write_html(result, path)),
        ("Markdown summary", args.markdown, lambda result, path: report.write_markdown(result, path, plan_diff)),
    )
    written, failed = [], []
    for label, path, write in reports:
        if not path:
            continue
        try:
            write(result, path)
            written.append(f"{label}: {path}")
        except (OSError, ValueError) as error:
            failed.append(f"mlspec: could not write the {label} to {path}: {_reason(error)}")
    color = use_color(args.color, sys.stdout)
    try:
        print(report.console_summary(result, color=color, max_examples=args.examples, verbosity=args.verbosity))
        if args.verbosity >= 0:
            print("\n".join(written), end="\n" if written else "")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (`| head`): the reports are written, the verdict stands
        _silence_stdout()
    for message in failed:
        print(message, file=sys.stderr)
    return EXIT_RUN_ERROR if failed else result.exit_code()


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
