"""Image models end to end: the digits demo spec, the attack figures checked against an
independent computation, determinism, image INV tests, and image data errors.

Small specs are written to tmp_path and point at the committed digits models and data
by absolute path; they keep to 50-100 images and few attack steps so the file stays fast.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from pathlib import Path

import junitparser
import numpy as np
import pytest
import torch
from spec_helpers import without_times

from mlspec.cli import main
from mlspec.library import attacks
from mlspec.run.pipeline import plan_file

ROOT = Path(__file__).resolve().parent.parent
DIGITS = "specs/digits/digits.mlspec"
MODELS = ROOT / "specs" / "digits" / "model"
TEST_NPZ = ROOT / "specs" / "digits" / "data" / "digits_test.npz"
LABELS = '["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]'


def model_block(name: str, source: str) -> str:
    return (
        f"model {name} {{\n  {source}\n  input image shape [1, 28, 28] range [0, 1]\n"
        f"  output logits labels {LABELS}\n}}\n"
    )


TORCH_MODEL = model_block("digits", f'torch "{(MODELS / "digits.pt").as_posix()}"')
ONNX_MODEL = model_block("digits_onnx", f'onnx "{(MODELS / "digits.onnx").as_posix()}"')


def digit_images(n: int) -> tuple[np.ndarray, np.ndarray]:
    data = np.load(TEST_NPZ)
    return data["x"][:n].astype(np.float32), data["y"][:n].astype(np.int64)


def write_npz(folder: Path, n: int = 50, name: str = "d.npz") -> Path:
    images, labels = digit_images(n)
    np.savez(folder / name, x=images, y=labels)
    return folder / name


def run(folder: Path, spec_text: str, *extra: str) -> tuple[int, dict, str, str]:
    """Write and run a spec in `folder`; (exit code, results by title, stdout, stderr)."""
    spec = folder / "t.mlspec"
    spec.write_text(spec_text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", str(spec), "--json", str(folder / "r.json"), *extra])
    assert "Traceback" not in out.getvalue() + err.getvalue()
    results = json.loads((folder / "r.json").read_text()) if (folder / "r.json").exists() else None
    tests = {t["title"]: t for t in results["specs"][0]["tests"]} if results else {}
    return code, tests, out.getvalue(), err.getvalue()


def cap(*tests: str) -> str:
    return 'capability "c" {\n' + "".join(tests) + "}\n"


# ================================================================= the demo spec, run once


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits")
    previous = os.getcwd()
    os.chdir(ROOT)
    try:
        console = io.StringIO()
        with contextlib.redirect_stdout(console):
            code = main(["run", DIGITS, "--json", str(out / "r.json"), "--junit", str(out / "j.xml")])
        _, plan = plan_file(DIGITS)
    finally:
        os.chdir(previous)
    tests = {t["title"]: t for t in json.loads((out / "r.json").read_text())["specs"][0]["tests"]}
    cases = {case.name: case for suite in junitparser.JUnitXml.fromfile(str(out / "j.xml")) for case in suite}
    return code, tests, cases, console.getvalue(), plan


ATTACKS = ("FGSM", "PGD sweep", "PGD, L2", "square, black box")


def test_demo_runs_and_every_test_has_a_verdict(demo):
    code, tests, cases, console, plan = demo
    assert code in (0, 1)
    assert len(tests) == sum(len(t.models) for t in plan.tests) == 16
    assert {t["status"] for t in tests.values()} <= {"PASS", "FAIL"}
    assert set(cases) == set(tests)
    assert all(t["kind"] == "attack" for title, t in tests.items() if title in ATTACKS)


def test_demo_clean_accuracy_is_the_same_on_the_three_back_ends(demo):
    tests = demo[1]
    for model in ("digits", "digits_exported", "digits_onnx"):
        result = tests[f"clean accuracy [{model}]"]
        assert result["status"] == "PASS"
        # 97.1% on the 1,000 test images (specs/digits/model/metrics.json)
        assert (result["metrics"]["cases"], result["metrics"]["failures"]) == (1000, 29)


def sweep_of(metrics: dict) -> dict[float, dict[str, float]]:
    """eps -> figures, for a sweep (`name@eps=E`) or a single eps."""
    if "eps" in metrics:
        return {metrics["eps"]: {k: v for k, v in metrics.items() if k not in ("cases", "clean_accuracy", "eps")}}
    points: dict[float, dict[str, float]] = {}
    for key, value in metrics.items():
        if "@eps=" in key:
            name, eps = key.split("@eps=")
            points.setdefault(float(eps), {})[name] = value
    return points


def test_demo_attack_figures(demo):
    tests = demo[1]
    expected_eps = {"FGSM": [0.1], "PGD sweep": [0.05, 0.1, 0.2], "PGD, L2": [1.5], "square, black box": [0.1]}
    for title in ATTACKS:
        metrics = tests[title]["metrics"]
        points = sweep_of(metrics)
        assert sorted(points) == expected_eps[title]
        figures = {"robust_accuracy", "attack_success_rate", "mean_perturbation", "max_perturbation"}
        if title.startswith("square"):
            figures.add("mean_queries")
        clean = metrics["clean_accuracy"]
        assert 0.9 < clean <= 1
        for eps, point in points.items():
            assert set(point) == figures, (title, eps)
            assert 0 <= point["robust_accuracy"] <= clean
            # robust = clean-correct and not fooled: robust_accuracy = clean_accuracy * (1 - success rate)
            assert point["robust_accuracy"] == pytest.approx(clean * (1 - point["attack_success_rate"]), abs=1e-9)
            assert 0 <= point["mean_perturbation"] <= point["max_perturbation"] + 1e-6
            assert point["max_perturbation"] <= eps + 1e-6  # linf and l2 alike
        if title.startswith("square"):
            assert 1 <= points[0.1]["mean_queries"] <= 500
    assert tests["FGSM"]["metrics"]["cases"] == tests["PGD sweep"]["metrics"]["cases"] == 500
    assert tests["PGD, L2"]["metrics"]["cases"] == tests["square, black box"]["metrics"]["cases"] == 200


def test_demo_mean_perturbation_is_not_above_the_max(demo):
    for title in ATTACKS:
        for eps, point in sweep_of(demo[1][title]["metrics"]).items():
            assert point["mean_perturbation"] <= point["max_perturbation"], (title, eps, point)


def test_demo_robust_accuracy_falls_as_eps_grows(demo):
    points = sweep_of(demo[1]["PGD sweep"]["metrics"])
    robust = [points[eps]["robust_accuracy"] for eps in (0.05, 0.1, 0.2)]
    assert robust[0] > robust[1] > robust[2]
    success = [points[eps]["attack_success_rate"] for eps in (0.05, 0.1, 0.2)]
    assert success[0] < success[1] < success[2]


def test_demo_pgd_is_at_least_as_strong_as_fgsm(demo):
    # same 500 images (same sample and seed), same eps
    tests = demo[1]
    assert sweep_of(tests["PGD sweep"]["metrics"])[0.1]["robust_accuracy"] <= tests["FGSM"]["metrics"]["robust_accuracy"]


def test_demo_attack_figures_are_junit_properties(demo):
    _, tests, cases, _, _ = demo
    for title in ATTACKS:
        case = cases[title]
        properties = case.child(junitparser.Properties)
        found = {p.name: p.value for p in properties}
        metrics = tests[title]["metrics"]
        assert set(found) == set(metrics)
        for name, value in metrics.items():
            assert float(found[name]) == pytest.approx(value), name
        assert {"clean_accuracy", "robust_accuracy", "attack_success_rate"} <= {n.split("@")[0] for n in found}
    assert "mean_queries" in {p.name for p in cases["square, black box"].child(junitparser.Properties)}


def test_demo_attack_console_lines(demo):
    console = demo[3]
    line = next(line for line in console.splitlines() if " PGD sweep " in line)
    metrics = demo[1]["PGD sweep"]["metrics"]
    assert f"clean {metrics['clean_accuracy']:.3f}, robust {metrics['robust_accuracy@eps=0.05']:.3f} at eps 0.05" in line


def test_demo_pixel_csv_test_passes(demo):
    result = demo[1]["pixel columns from CSV"]
    assert result["status"] == "PASS"
    # the CSV holds the first 200 test images as 8-bit values: the same 6 mistakes as the npz
    assert (result["metrics"]["cases"], result["metrics"]["failures"]) == (200, 6)


def test_demo_inverted_colours_fail_often(demo):
    result = demo[1]["inverted colours"]
    assert result["metrics"]["cases"] == 500
    assert result["metrics"]["fail_rate"] > 0.5  # a CNN trained on white-on-black digits
    assert result["status"] == "FAIL"


# ================================================================= the figures, computed independently


def test_fgsm_figures_equal_an_independent_computation(tmp_path):
    write_npz(tmp_path, 50)
    spec = TORCH_MODEL + 'dataset d = npz "d.npz" { input: x, label: y }\n' + cap(
        '  attack "fgsm" {\n    from d\n    method fgsm(eps: 0.1)\n    expect robust_accuracy >= 0.5\n  }\n'
    )
    code, tests, _, _ = run(tmp_path, spec)
    metrics = tests["fgsm"]["metrics"]

    images, labels = digit_images(50)
    model = torch.jit.load(str(MODELS / "digits.pt"))
    model.eval()
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    with torch.no_grad():
        clean = model(x).argmax(dim=1) == y
    adversarial = attacks.fgsm(model, x, y, eps=0.1, low=0.0, high=1.0)
    with torch.no_grad():
        still_right = model(adversarial).argmax(dim=1) == y
    robust = clean & still_right  # an input the model gets wrong is not robust
    size = (adversarial - x).abs().flatten(1).max(dim=1).values[clean]

    assert metrics["cases"] == 50
    assert metrics["clean_accuracy"] == clean.sum().item() / 50
    assert metrics["robust_accuracy"] == robust.sum().item() / 50
    assert metrics["attack_success_rate"] == (clean & ~still_right).sum().item() / clean.sum().item()
    assert metrics["max_perturbation"] == pytest.approx(size.max().item(), abs=1e-7)
    assert metrics["mean_perturbation"] == pytest.approx(size.double().mean().item(), abs=1e-7)
    assert metrics["eps"] == 0.1
    # not trivially all-or-nothing: the attack fools some clean-correct inputs, not all
    assert 0 < metrics["attack_success_rate"] < 1 and metrics["clean_accuracy"] < 1
    expected_status = "PASS" if metrics["robust_accuracy"] >= 0.5 else "FAIL"
    assert tests["fgsm"]["status"] == expected_status and code == (0 if expected_status == "PASS" else 1)
    # the examples are fooled inputs: clean-correct, wrong after the attack
    fooled = [f"d[{i}] ~ fgsm eps 0.1" for i in np.flatnonzero((clean & ~still_right).numpy())[:10]]
    assert [e["prediction"]["text"] for e in tests["fgsm"]["examples"]] == fooled


def test_expectations_at_eps_judge_that_point(tmp_path):
    write_npz(tmp_path, 50)
    spec = TORCH_MODEL + 'dataset d = npz "d.npz" { input: x, label: y }\n' + cap(
        '  attack "low eps holds" {\n    from d\n    method fgsm(eps: [0.01, 0.3])\n    expect robust_accuracy >= 0.5 at eps 0.01\n  }\n',
        '  attack "every eps" {\n    from d\n    method fgsm(eps: [0.01, 0.3])\n    expect robust_accuracy >= 0.5\n  }\n',
        '  attack "clean only" {\n    from d\n    method fgsm(eps: [0.01, 0.3])\n    expect clean_accuracy >= 0.9\n  }\n',
    )
    code, tests, _, _ = run(tmp_path, spec)
    points = sweep_of(tests["every eps"]["metrics"])
    assert points[0.01]["robust_accuracy"] >= 0.5 > points[0.3]["robust_accuracy"]
    assert tests["low eps holds"]["status"] == "PASS"
    assert tests["every eps"]["status"] == "FAIL"
    # judged at the first eps where it fails: its figure, and examples at that eps
    assert tests["every eps"]["message"] == f"robust_accuracy={points[0.3]['robust_accuracy']:.4g} < 0.5 at eps 0.3"
    assert tests["every eps"]["examples"] and all(e["prediction"]["text"].endswith("~ fgsm eps 0.3") for e in tests["every eps"]["examples"])
    assert tests["clean only"]["status"] == "PASS"
    assert code == 1


def test_expectation_at_the_one_eps_is_judged_there(tmp_path):
    write_npz(tmp_path, 50)
    spec = TORCH_MODEL + 'dataset d = npz "d.npz" { input: x, label: y }\n' + cap(
        '  attack "holds" {\n    from d\n    method fgsm(eps: 0.1)\n    expect robust_accuracy >= 0.5 at eps 0.1\n  }\n',
        '  attack "fails" {\n    from d\n    method fgsm(eps: 0.1)\n    expect robust_accuracy >= 0.99 at eps 0.1\n  }\n',
    )
    code, tests, _, _ = run(tmp_path, spec)
    robust = tests["holds"]["metrics"]["robust_accuracy"]
    assert tests["holds"]["metrics"]["eps"] == 0.1 and 0.5 <= robust < 0.99
    assert (tests["holds"]["status"], tests["holds"]["message"]) == ("PASS", f"robust_accuracy={robust:.4g} >= 0.5 at eps 0.1")
    assert (tests["fails"]["status"], tests["fails"]["message"]) == ("FAIL", f"robust_accuracy={robust:.4g} < 0.99 at eps 0.1")
    assert code == 1


def test_image_inv_invert_equals_a_direct_computation(tmp_path):
    import onnxruntime as ort

    write_npz(tmp_path, 100)
    spec = ONNX_MODEL + 'dataset d = npz "d.npz" { input: x, label: y }\n' + cap(
        '  inv "inverted" {\n    from d\n    perturb invert\n    expect unchanged\n    max_fail_rate 50%\n  }\n'
    )
    code, tests, _, _ = run(tmp_path, spec)
    result = tests["inverted"]

    images, _ = digit_images(100)
    session = ort.InferenceSession(str(MODELS / "digits.onnx"), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    original = session.run(None, {name: images})[0].argmax(axis=1)
    inverted = session.run(None, {name: (1.0 - images).astype(np.float32)})[0].argmax(axis=1)
    changed = np.flatnonzero(original != inverted)

    assert result["metrics"]["cases"] == result["metrics"]["applicable"] == 100
    assert result["metrics"]["failures"] == len(changed)
    assert result["metrics"]["fail_rate"] == len(changed) / 100
    assert result["status"] == ("PASS" if len(changed) <= 50 else "FAIL")
    examples = result["examples"]
    assert [e["original"]["text"] for e in examples] == [f"d[{i}]" for i in changed[:10]]
    assert [e["prediction"]["text"] for e in examples] == [f"d[{i}] ~ invert #1" for i in changed[:10]]
    assert [e["prediction"]["label"] for e in examples] == [str(inverted[i]) for i in changed[:10]]


def test_flat_images_are_reshaped_and_8_bit_values_mapped_by_pixel_max(tmp_path):
    images, labels = digit_images(50)
    np.savez(tmp_path / "flat.npz", x=images.reshape(50, 784), y=labels)
    np.savez(tmp_path / "bytes.npz", x=np.round(images * 255).astype(np.uint8), y=labels)
    spec = TORCH_MODEL + 'dataset flat = npz "flat.npz" { input: x, label: y }\n'
    spec += 'dataset bytes = npz "bytes.npz" { input: x, label: y, pixel_max: 255 }\n'
    spec += cap(
        '  mft "flat" {\n    from flat\n    max_fail_rate 10%\n  }\n',
        '  mft "bytes" {\n    from bytes\n    max_fail_rate 10%\n  }\n',
    )
    code, tests, _, _ = run(tmp_path, spec)
    assert code == 0
    assert tests["flat"]["metrics"]["failures"] == tests["bytes"]["metrics"]["failures"]
    assert tests["flat"]["metrics"]["cases"] == 50


# ================================================================= determinism

RANDOM_ATTACKS = cap(
    '  attack "square" on digits_onnx {\n    from d sample 40 seed 1\n    method square(eps: 0.1, queries: 30)\n'
    "    expect robust_accuracy >= 0.5\n  }\n",
    '  attack "pgd, random start" on digits {\n    from d sample 40 seed 1\n'
    "    method pgd(eps: [0.05, 0.1], step: 0.02, steps: 3, random_start: true, restarts: 2)\n"
    "    expect robust_accuracy >= 0.5\n  }\n",
    '  inv "noise" on digits {\n    from d sample 40 seed 1\n    perturb gaussian_noise(std: 0.2) then rotate(degrees: 10) variants 2\n  }\n',
)


def test_random_attacks_are_deterministic(tmp_path):
    write_npz(tmp_path, 100)
    spec = TORCH_MODEL + ONNX_MODEL + 'dataset d = npz "d.npz" { input: x, label: y }\n' + RANDOM_ATTACKS
    run(tmp_path, spec)
    first = json.loads((tmp_path / "r.json").read_text())
    run(tmp_path, spec)
    second = json.loads((tmp_path / "r.json").read_text())
    assert without_times(first) == without_times(second)
    tests = {t["title"]: t for t in first["specs"][0]["tests"]}
    assert tests["square"]["metrics"]["mean_queries"] > 1
    assert {t["status"] for t in tests.values()} <= {"PASS", "FAIL"}


# ================================================================= data errors


def check_errors(folder: Path, spec_text: str) -> str:
    spec = folder / "t.mlspec"
    spec.write_text(spec_text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["check", "t.mlspec"])
    finally:
        os.chdir(previous)
    assert code == 2, out.getvalue() + err.getvalue()
    assert out.getvalue() == ""
    return err.getvalue()


MFT = cap('  mft "clean" {\n    from d\n    max_fail_rate 10%\n  }\n')


def assert_dataset_error(err: str, declaration: str, message: str, hint: str | None) -> None:
    expected = [
        f"t.mlspec:6:1: error: dataset `d`: {message}",
        f"    6 | {declaration}",
        "      | " + "^" * len(declaration),
    ]
    if hint is not None:
        expected.append(f"hint: {hint}")
    assert err.splitlines() == expected


def test_npz_without_the_mapped_array(tmp_path):
    write_npz(tmp_path)
    declaration = 'dataset d = npz "d.npz" { input: pixels, label: y }'
    err = check_errors(tmp_path, TORCH_MODEL + declaration + "\n" + MFT)
    assert_dataset_error(err, declaration, "d.npz: no array `pixels`", "arrays are x, y")


def test_npz_default_input_array_missing(tmp_path):
    write_npz(tmp_path)
    declaration = 'dataset d = npz "d.npz"'
    err = check_errors(tmp_path, TORCH_MODEL + declaration + "\n" + MFT)
    assert_dataset_error(err, declaration, "d.npz: no array `input`", "arrays are x, y")


def test_images_of_the_wrong_shape(tmp_path):
    images, labels = digit_images(20)
    np.savez(tmp_path / "d.npz", x=images[:, 0, :27, :27], y=labels)
    declaration = 'dataset d = npz "d.npz" { input: x, label: y }'
    err = check_errors(tmp_path, TORCH_MODEL + declaration + "\n" + MFT)
    assert_dataset_error(err, declaration, "d.npz: images have shape [27, 27], the model takes [1, 28, 28]", None)


def test_pixel_values_above_the_range_without_pixel_max(tmp_path):
    images, labels = digit_images(20)
    np.savez(tmp_path / "d.npz", x=np.round(images * 255).astype(np.uint8), y=labels)
    declaration = 'dataset d = npz "d.npz" { input: x, label: y }'
    err = check_errors(tmp_path, TORCH_MODEL + declaration + "\n" + MFT)
    message = "d.npz: pixel values span [0, 255], outside the model's range [0, 1]"
    assert_dataset_error(err, declaration, message, "say what the file's values run to: `pixel_max: 255`")


def test_pixel_csv_without_pixel_max(tmp_path):
    images, labels = digit_images(20)
    header = "label," + ",".join(f"p{i}" for i in range(784))
    rows = [f"{label}," + ",".join(str(int(v)) for v in np.round(image.ravel() * 255)) for image, label in zip(images, labels)]
    (tmp_path / "d.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    declaration = 'dataset d = csv "d.csv"'
    err = check_errors(tmp_path, TORCH_MODEL + declaration + "\n" + MFT)
    message = "d.csv: pixel values span [0, 255], outside the model's range [0, 1]"
    assert_dataset_error(err, declaration, message, "say what the file's values run to: `pixel_max: 255`")
    # with pixel_max the same file runs
    code, tests, _, _ = run(tmp_path, TORCH_MODEL + 'dataset d = csv "d.csv" { pixel_max: 255 }\n' + MFT)
    assert code == 0 and tests["clean"]["metrics"]["cases"] == 20


def test_broken_image_data_errors_only_its_tests(tmp_path):
    write_npz(tmp_path, 50)
    images, labels = digit_images(20)
    np.savez(tmp_path / "bad.npz", x=images[:, 0, :27, :27], y=labels)
    spec = TORCH_MODEL + 'dataset d = npz "d.npz" { input: x, label: y }\ndataset bad = npz "bad.npz" { input: x, label: y }\n'
    spec += cap(
        '  mft "good data" {\n    from d\n    max_fail_rate 10%\n  }\n',
        '  attack "bad data" {\n    from bad\n    method fgsm(eps: 0.1)\n    expect robust_accuracy >= 0.5\n  }\n',
    )
    code, tests, out, _ = run(tmp_path, spec)
    assert code == 3
    assert tests["good data"]["status"] == "PASS"
    assert tests["bad data"]["status"] == "ERROR"
    assert "images have shape [27, 27], the model takes [1, 28, 28]" in tests["bad data"]["message"]


def test_console_line_of_an_attack_in_error_shows_no_figures(tmp_path):
    images, labels = digit_images(20)
    np.savez(tmp_path / "bad.npz", x=images[:, 0, :27, :27], y=labels)
    spec = TORCH_MODEL + 'dataset bad = npz "bad.npz" { input: x, label: y }\n' + cap(
        '  attack "bad data" {\n    from bad\n    method fgsm(eps: 0.1)\n    expect robust_accuracy >= 0.5\n  }\n'
    )
    code, tests, out, _ = run(tmp_path, spec)
    assert code == 3
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if "bad data" in line)
    assert lines[at].rstrip() == "    ERROR  attack    bad data"
    # the details: the located diagnostic as it is, not prefixed with a second `error: `
    message = tests["bad data"]["message"]
    assert lines[at + 1 : at + 4] == ["           " + line for line in message.splitlines()]
    assert lines[at + 1] == f"           {(tmp_path / 't.mlspec').as_posix()}:6:1: error: dataset `bad`: bad.npz: images have shape [27, 27], the model takes [1, 28, 28]"


def test_attack_on_images_without_labels(tmp_path):
    images, _ = digit_images(20)
    np.savez(tmp_path / "d.npz", x=images)
    spec = TORCH_MODEL + 'dataset d = npz "d.npz" { input: x }\n' + cap(
        '  attack "a" {\n    from d\n    method fgsm(eps: 0.1)\n    expect robust_accuracy >= 0.5\n  }\n'
    )
    err = check_errors(tmp_path, spec)
    assert err.splitlines()[0] == "t.mlspec:6:1: error: dataset `d` has no labels; an attack needs the true class of each image"


# ================================================================= models returning NaN


class NaNModel(torch.nn.Module):
    """Returns NaN logits for every image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :10] * 0.0 + float("nan")


class NaNWhenBright(torch.nn.Module):
    """The digits CNN, except that an image brighter than `limit` (sum of pixels) gets NaN logits."""

    def __init__(self, inner: torch.nn.Module, limit: float):
        super().__init__()
        self.inner = inner
        self.limit = limit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.inner(x)
        bright = x.flatten(1).sum(dim=1, keepdim=True) > self.limit
        return torch.where(bright, torch.full_like(logits, float("nan")), logits)


def nan_spec(model_path: Path, *tests: str) -> str:
    return model_block("digits", f'torch "{model_path.as_posix()}"') + 'dataset d = npz "d.npz" { input: x, label: y }\n' + cap(*tests)


def test_a_model_returning_nan_errors_its_tests(tmp_path):
    write_npz(tmp_path, 50)
    torch.jit.save(torch.jit.script(NaNModel()), str(tmp_path / "nan.pt"))
    spec = nan_spec(
        tmp_path / "nan.pt",
        '  mft "clean" {\n    from d\n    max_fail_rate 10%\n  }\n',
        '  inv "inverted" {\n    from d\n    perturb invert\n  }\n',
        '  attack "fgsm" {\n    from d\n    method fgsm(eps: 0.1)\n    expect robust_accuracy >= 0.5\n  }\n',
    )
    code, tests, _, _ = run(tmp_path, spec)
    assert code == 3
    for title in ("clean", "inverted", "fgsm"):
        assert tests[title]["status"] == "ERROR"
        assert tests[title]["message"].startswith("model `digits` returned NaN or infinite scores for "), tests[title]["message"]


@pytest.mark.parametrize("method", ["fgsm(eps: 0.1)", "square(eps: 0.1, queries: 20)"])
def test_a_model_returning_nan_on_adversarial_images_errors_the_attack(tmp_path, method):
    write_npz(tmp_path, 50)
    images, _ = digit_images(50)
    limit = float(images.reshape(50, -1).sum(axis=1).max()) + 1.0  # no clean image reaches it
    inner = torch.jit.load(str(MODELS / "digits.pt"))
    torch.jit.save(torch.jit.script(NaNWhenBright(inner, limit)), str(tmp_path / "bright.pt"))
    spec = nan_spec(
        tmp_path / "bright.pt",
        '  mft "clean" {\n    from d\n    max_fail_rate 10%\n  }\n',
        f'  attack "a" {{\n    from d\n    method {method}\n    expect robust_accuracy >= 0\n  }}\n',
    )
    code, tests, _, _ = run(tmp_path, spec)
    assert tests["clean"]["status"] == "PASS"  # no clean image gets NaN
    assert tests["a"]["status"] == "ERROR", tests["a"]
    name = method.split("(")[0]
    message = rf"attack {name} failed on model `digits`: the model returned NaN or infinite scores for [1-9]\d* adversarial images? at eps 0\.1"
    assert re.fullmatch(message, tests["a"]["message"]), tests["a"]["message"]
    assert code == 3
