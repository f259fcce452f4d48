"""Splitting a run's tests across parallel CI jobs (`mlspec run --shard I/N`).

Every test of the run's spec files goes to exactly one of N shards, the same one in
every job: tests are taken by their estimated cost, largest first, ties by spec path and
test id (never by position), and each goes to the shard with the least cost so far
(ties to the lowest shard). A test's cost is the number of inputs it scores (its cases
and variants) on each of its models; attack and load tests count their model calls.
A shard runs only its tests, so its models score only their inputs; `mlspec merge`
puts the shards' JSON results back together.
"""

from __future__ import annotations

import dataclasses
import re

from mlspec.compile.plan import Plan, TestPlan
from mlspec.errors import UsageError
from mlspec.language.kinds import kind


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` -> (I, N), with 1 <= I <= N; anything else is a usage error."""
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not match:
        raise UsageError(f"--shard takes I/N, the I-th of N parts (e.g. 2/4), not {text!r}")
    index, count = int(match[1]), int(match[2])
    if count < 1 or not 1 <= index <= count:
        raise UsageError(f"--shard {text}: I must be between 1 and N (N at least 1)")
    return index, count


def assign(plans: list[Plan], count: int) -> dict[tuple[str, str], int]:
    """(spec path, test id) -> its shard, 1-based, for every test of `plans`."""
    tests = sorted((-cost(test), plan.spec_path, test.id) for plan in plans for test in plan.tests)
    loads = [0] * count
    shards = {}
    for negative_cost, path, test_id in tests:
        shard = min(range(count), key=lambda s: (loads[s], s))
        loads[shard] -= negative_cost
        shards[(path, test_id)] = shard + 1
    return shards


def select(plans: list[Plan], index: int, count: int) -> list[Plan]:
    """The plans with only the tests of shard `index` of `count` (a plan may keep none)."""
    shards = assign(plans, count)
    return [dataclasses.replace(plan, tests=[t for t in plan.tests if shards[(plan.spec_path, t.id)] == index]) for plan in plans]


def cost(test: TestPlan) -> int:
    """A rough measure of a test's run time, in inputs scored (its kind's estimate)."""
    if test.error:
        return 1
    return max(1, kind(test.kind).shard_cost(test)) * max(1, len(test.models))
