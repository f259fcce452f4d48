"""A model file is code: `check` runs it once on a probe input, `check --no-models` never
loads it. (README, "Trust and safety".)"""

import warnings

import pytest
import torch

from mlspec.cli import main

SPEC = """\
model digits {
  torch "noisy.pt"
  input image shape [1, 4, 4] range [0, 1]
  output logits labels [zero, one]
}
dataset images = npz "images.npz"
capability "C" { mft "t" { from images } }
"""


class Noisy(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        print("MODEL CODE RAN")  # a side effect of the model's own code
        return x.flatten(1)[:, :2]


@pytest.fixture
def spec(tmp_path):
    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.* is deprecated upstream
        torch.jit.save(torch.jit.script(Noisy()), str(tmp_path / "noisy.pt"))
    np.savez(tmp_path / "images.npz", input=np.zeros((2, 1, 4, 4), np.float32), label=np.array([0, 1]))
    path = tmp_path / "trust.mlspec"
    path.write_text(SPEC, encoding="utf-8")
    return path


def test_check_runs_the_model_code_once_on_a_probe(spec, capfd):
    assert main(["check", str(spec)]) == 0
    assert "MODEL CODE RAN" in capfd.readouterr().out


def test_check_no_models_loads_no_model(spec, capfd):
    assert main(["check", "--no-models", str(spec)]) == 0
    out = capfd.readouterr().out
    assert "MODEL CODE RAN" not in out and "ok:" in out


def test_check_no_models_still_reports_spec_errors(spec, capfd):
    spec.write_text(SPEC.replace("labels [zero, one]", "labels [zero, one]\n  batch -1"), encoding="utf-8")
    assert main(["check", "--no-models", str(spec)]) == 2
    assert "batch" in capfd.readouterr().err
