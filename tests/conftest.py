"""Shared test set-up: the prediction cache of every `mlspec run` in the tests lives in a
temporary folder, never in the repository; specs written to temporary folders may name
the repository's demo models and data (`MLSPEC_ALLOW_PATH`; the confinement tests clear it)."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def prediction_cache_in_a_temporary_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlspec-cache")
    allowed = os.pathsep.join([str(tmp_path_factory.getbasetemp()), str(ROOT)])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLSPEC_CACHE_DIR", str(folder))
        patch.setenv("MLSPEC_ALLOW_PATH", allowed)
        yield folder
