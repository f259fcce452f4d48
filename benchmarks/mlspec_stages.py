"""Where `mlspec run`'s time goes, stage by stage, in one fresh interpreter (used by
checklist_suite.py): imports, parse + check + compile, scoring (the model calls), evaluating
the expectations, writing the reports. Prints one JSON object of seconds.

Run: .venv/bin/python benchmarks/mlspec_stages.py SPEC MODEL_CARD OUT_DIR
"""

import json
import sys
import time

started = time.perf_counter()
from mlspec.report import write_json, write_junit  # noqa: E402
from mlspec.results import RunResult  # noqa: E402
from mlspec.run import executor  # noqa: E402
from mlspec.run.pipeline import plan_file  # noqa: E402
from runners import load_runner  # noqa: E402

clock = {"imports": time.perf_counter() - started}


def timed(stage, function, *args):
    begun = time.perf_counter()
    value = function(*args)
    clock[stage] = clock.get(stage, 0.0) + time.perf_counter() - begun
    return value


def main() -> None:
    spec, card, out = sys.argv[1:4]
    _, plan = timed("parse, check, compile", plan_file, spec, {"sentiment": card})
    score_model = executor._score_model
    executor._score_model = lambda *args: timed("scoring (model calls)", score_model, *args)
    result = RunResult(specs=[timed("run", executor.run_plan, plan, lambda m: load_runner(m, "auto", False))])
    clock["evaluating expectations"] = clock.pop("run") - clock["scoring (model calls)"]
    timed("reports (JUnit, JSON)", lambda: (write_junit(result, f"{out}/r.xml"), write_json(result, f"{out}/r.json")))
    clock["total"] = time.perf_counter() - started
    print(json.dumps({"seconds": clock, "notes": result.specs[0].notes}))


main()
