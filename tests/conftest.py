"""Shared test set-up: the prediction cache of every `mlspec run` in the tests lives in a
temporary folder, never in the repository."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def prediction_cache_in_a_temporary_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlspec-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLSPEC_CACHE_DIR", str(folder))
        yield folder
