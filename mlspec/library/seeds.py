"""Seeded random generators: every random choice of mlspec draws from one of these.

A generator depends only on the spec's seed, the test's id and what it is for, so a
test's cases and attacks do not depend on the order of tests or on other tests.
"""

from __future__ import annotations

import hashlib

import numpy as np


def seeded_rng(seed: int, test_id: str, purpose: str) -> np.random.Generator:
    """A generator that depends only on the seed, the test and what it is for."""
    digest = hashlib.sha256(f"{seed}\0{test_id}\0{purpose}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))
