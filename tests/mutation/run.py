"""Mutation testing of the modules that compute figures, with mutmut 3 (docs/mutation.md).

mutmut copies the source into `mutants/`, rewrites every function into a trampoline that
runs one mutant at a time, records which tests call which function, and runs for each
mutant only those tests. This driver runs it in a scratch copy of the repository
(build/mutation/<name>/, git-ignored) with a generated `[mutmut]` section in setup.cfg, so
that the checkout stays clean and each module is tested only by its own fast test files
(MODULES below), never the whole suite.

    .venv/bin/python tests/mutation/run.py                      # every module (slow: `make mutation`)
    .venv/bin/python tests/mutation/run.py expectations _text   # some modules, by file stem
    .venv/bin/python tests/mutation/run.py --sample 40          # 40 mutants drawn with a fixed seed
    .venv/bin/python tests/mutation/run.py --tests-at HEAD      # the tests as committed (a "before")

Prints killed/total per module and lists the survivors; exit status 1 when a module
is under --fail-under percent killed (default 0: report only); in a sampled run, when the
whole sample is (a module has only a few of its mutants in it).
"""

from __future__ import annotations

import argparse
import configparser
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MUTMUT = Path(sys.executable).with_name("mutmut")
COPIED = ("mlspec", "runners", "grammar", "tests", "specs", "benchmarks", "editors", "pyproject.toml", "README.md")

# Module -> the fast test files that check its figures (mutmut runs, of these, the tests that call a mutated function).
MODULES = {
    "mlspec/run/expectations.py": ["tests/test_expectations.py", "tests/test_given_variants.py", "tests/test_reported_examples.py", "tests/test_mutation_guards.py"],
    "mlspec/report/_text.py": ["tests/test_reports.py", "tests/test_mutation_guards.py"],
    "mlspec/library/metrics.py": ["tests/test_library_metrics.py", "tests/test_mutation_guards.py", "tests/test_mutation_metrics.py"],
    "mlspec/library/drift.py": ["tests/test_library_drift.py", "tests/test_mutation_guards.py", "tests/test_mutation_drift.py"],
    "mlspec/library/fairness.py": ["tests/test_fairness.py", "tests/test_mutation_guards.py", "tests/test_mutation_fairness.py"],
    "mlspec/library/neutral_band.py": ["tests/test_neutral_band.py", "tests/test_mutation_neutral_band.py"],
    "mlspec/compile/templates.py": ["tests/test_compiler.py", "tests/test_mutation_templates.py"],
    "mlspec/library/perturbations.py": ["tests/test_perturbations.py", "tests/test_mutation_perturbations.py"],
    "mlspec/library/attacks.py": ["tests/test_attacks.py", "tests/test_mutation_attacks.py"],
    "mlspec/library/text_attacks.py": ["tests/test_text_attacks.py", "tests/test_mutation_text_attacks.py"],
    "mlspec/library/table_perturbations.py": ["tests/test_table_perturbations.py", "tests/test_mutation_table_perturbations.py"],
    "mlspec/library/image_perturbations.py": ["tests/test_image_perturbations.py", "tests/test_mutation_image_perturbations.py"],
    "mlspec/library/data_checks.py": ["tests/test_data_checks.py", "tests/test_mutation_data_checks.py"],
}
SAMPLE_SEED = 20240601
NO_SUCH_MUTANT = "mlspec.no_such_mutant"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    modules = select_modules(args.modules)
    work = ROOT / "build" / "mutation" / args.name
    prepare(work, modules, args.tests_at)
    names = sample_names(work, args.sample, args.seed) if args.sample else []
    mutmut(work, "run", "--max-children", str(args.max_children), *names)
    statuses = read_statuses(work)
    if names:
        statuses = {name: status for name, status in statuses.items() if name in names}
    return report(statuses, modules, args.fail_under, whole_sample=bool(names))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="file stems of MODULES (default: all)")
    parser.add_argument("--sample", type=int, default=0, help="run only N mutants drawn with --seed")
    parser.add_argument("--seed", type=int, default=SAMPLE_SEED)
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--tests-at", metavar="REF", help="use tests/ as committed at this git ref (read with git archive)")
    parser.add_argument("--name", default="work", help="scratch folder under build/mutation/")
    parser.add_argument("--fail-under", type=float, default=0.0, help="exit 1 if a module has fewer percent killed (with --sample: the whole sample)")
    return parser.parse_args(argv)


def select_modules(stems: list[str]) -> dict[str, list[str]]:
    if not stems:
        return dict(MODULES)
    chosen = {path: tests for path, tests in MODULES.items() if Path(path).stem in stems}
    unknown = set(stems) - {Path(path).stem for path in chosen}
    if unknown:
        raise SystemExit(f"unknown modules {sorted(unknown)}; known: {[Path(p).stem for p in MODULES]}")
    return chosen


def prepare(work: Path, modules: dict[str, list[str]], tests_at: str | None) -> None:
    """A fresh scratch copy of the repository with a [mutmut] section for `modules`."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "mutants", "node_modules")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, work / name)
    if tests_at:
        replace_tests(work, tests_at)
    tests = sorted({test for files in modules.values() for test in files if (work / test).exists()})
    write_config(work / "setup.cfg", sorted(modules), tests)


def replace_tests(work: Path, ref: str) -> None:
    """tests/ as committed at `ref`, plus this driver's test files that ref lacks."""
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "tests.tar"
        subprocess.run(["git", "archive", "--output", str(archive), ref, "tests"], cwd=ROOT, check=True)
        shutil.rmtree(work / "tests")
        with tarfile.open(archive) as tar:
            tar.extractall(work, filter="data")


def write_config(path: Path, modules: list[str], tests: list[str]) -> None:
    config = configparser.ConfigParser()
    config["mutmut"] = {
        "source_paths": "mlspec",
        "only_mutate": "\n" + "\n".join(modules),
        "also_copy": "\n" + "\n".join(name for name in COPIED if name not in ("mlspec", "tests")),
        "pytest_add_cli_args": "\n-p\nno:cacheprovider\n-q",
        "pytest_add_cli_args_test_selection": "\n" + "\n".join(tests),
        "use_git_change_detection": "false",
    }
    with path.open("w", encoding="utf-8") as out:
        config.write(out)


def mutmut(work: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("MLSPEC_CACHE_DIR", "PYTEST_ADDOPTS")}
    # One thread per forked worker: torch's thread pool hangs in a fork (the attacks' mutants
    # would each run into mutmut's time limit and count as killed).
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run([str(MUTMUT), *args], cwd=work, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"mutmut {' '.join(args[:3])} failed (exit {done.returncode})")
    return done


def sample_names(work: Path, size: int, seed: int) -> list[str]:
    """Generate the mutants and collect the test stats (mutmut keeps both for the run that
    follows) by asking for a mutant that does not exist, then draw `size` names."""
    done = mutmut(work, "run", NO_SUCH_MUTANT, check=False)
    if "nothing matches" not in done.stdout + done.stderr:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit("mutmut could not generate the mutants")
    names = sorted(read_statuses(work))
    return sorted(random.Random(seed).sample(names, min(size, len(names))))


def read_statuses(work: Path) -> dict[str, str]:
    """{mutant name: killed | survived | no tests | timeout | ...} from `mutmut results`."""
    done = mutmut(work, "results", "--all", "true")
    found = re.findall(r"^\s+(\S+): (.+)$", done.stdout, flags=re.MULTILINE)
    return {name: status.strip() for name, status in found}


def report(statuses: dict[str, str], modules: dict[str, list[str]], fail_under: float, whole_sample: bool = False) -> int:
    """Print killed/total per module and overall, and every survivor; 1 when a module (with
    `whole_sample`, a sampled run: the whole sample, a few mutants a module) scores under `fail_under`."""
    dotted = {path[:-3].replace("/", "."): path for path in modules}
    by_module: dict[str, Counter] = {path: Counter() for path in modules}
    survivors = []
    for name, status in sorted(statuses.items()):
        path = next((p for prefix, p in dotted.items() if name.startswith(prefix + ".")), None)
        if path is None:
            continue
        by_module[path][status] += 1
        if status != "killed":
            survivors.append(f"{name}: {status}")
    failing = False
    print(f"{'module':<40} {'killed':>7} {'total':>6} {'score':>7}  other")
    for path, counts in by_module.items():
        killed, total, score = _score(counts)
        failing |= not whole_sample and score < fail_under
        other = ", ".join(f"{status} {n}" for status, n in counts.items() if status not in ("killed", "timeout"))
        print(f"{path:<40} {killed:>7} {total:>6} {score:>6.1f}%  {other}")
    killed, total, score = _score(sum(by_module.values(), Counter()))
    failing |= whole_sample and score < fail_under
    print(f"{'all modules':<40} {killed:>7} {total:>6} {score:>6.1f}%")
    print("\nnot killed (`mutmut show NAME` in the scratch folder shows the change):")
    print("\n".join(f"  {line}" for line in survivors) or "  none")
    return 1 if failing else 0


def _score(counts: Counter) -> tuple[int, int, float]:
    """Killed (a timeout counts as killed), total, and the percentage killed."""
    total = sum(counts.values())
    killed = counts["killed"] + counts["timeout"]
    return killed, total, 100.0 * killed / total if total else 100.0


if __name__ == "__main__":
    sys.exit(main())
