"""Shared test set-up: the prediction cache of every `mlspec run` in the tests lives in a
temporary folder, never in the repository; specs written to temporary folders may name
the repository's demo models and data (`MLSPEC_ALLOW_PATH`; the confinement tests clear it)."""

import importlib
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


def require(module: str):
    """`module` imported, for a reference comparison (torchattacks, CheckList): skipped where
    it is not installed, but a failure when the environment variable CI is set, so that a CI
    run cannot turn green by leaving the reference out (`make setup` installs both)."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is a test dependency and CI is set: install it (`make setup`): {error}", pytrace=False)
        pytest.skip(f"{module} is not installed (`make setup` installs it; with CI set this fails)")
