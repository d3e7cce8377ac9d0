"""`sgdllm predict`: the command line on small files written here (npy, npz, csv), with
counted kernels for speed, and the errors a user meets (each names the problem and the fix,
exit status 1). With the embedded language model: ``tests/integration/test_embedded_model.py``."""

import json

import numpy as np
import pytest

from sgdllm.cli import main


def ar1(runs=1, steps=200, d=2, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((runs, steps, d))
    x[:, 0] = rng.uniform(-1, 1, size=(runs, d))
    for t in range(1, steps):
        x[:, t] = 0.9 * x[:, t - 1] + 0.05 * rng.standard_normal((runs, d))
    return x


def run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("fmt", ["npy", "npz", "csv"])
def test_predict_counts_each_format(tmp_path, capsys, fmt):
    x = ar1(runs=2 if fmt != "csv" else 1)
    path = tmp_path / f"run.{fmt}"
    if fmt == "npy":
        np.save(path, x)
    elif fmt == "npz":
        np.savez(path, theta=x, loss=x[..., 0])
    else:
        rows = "\n".join(",".join(f"{v:.10g}" for v in r) for r in x[0])
        path.write_text("w,b\n" + rows + "\n")
    out_dir = tmp_path / "out"
    argv = [
        "predict",
        str(path),
        "--kernel",
        "counts",
        "--out",
        str(out_dir),
        "--quiet",
        "--start",
        "0.1,0.2",
        "--start=-0.3,0.0",  # a negative first value needs the = form
        "--horizon",
        "5",
        "--horizon",
        "50",
    ]
    if fmt == "npz":
        argv += ["--key", "theta"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert "predicted 2 start(s) at horizons [5, 50]" in out
    with np.load(out_dir / "prediction.npz") as z:
        assert z["laws"].shape == (2, 2, 2, 100)  # d, starts, horizons, K
        assert z["means"].shape == (2, 2, 2)
        np.testing.assert_allclose(z["laws"].sum(axis=-1), 1.0, atol=1e-9)
        np.testing.assert_allclose(z["starts"], [[0.1, 0.2], [-0.3, 0.0]])
    summary = json.loads((out_dir / "prediction.json").read_text())
    assert summary["settings"]["horizons"] == [5, 50]
    assert (out_dir / "prediction.png").stat().st_size > 1000
    if fmt == "csv":
        assert summary["trajectory"]["names"] == ["w", "b"]


@pytest.mark.parametrize(
    ("array", "argv", "message"),
    [
        (np.zeros(100), [], "1 dimension(s)"),
        (np.full((5, 2), 0.5), [], "fewer than the 10"),
        ("nan", [], "step 7, coordinate 1"),
        (None, ["--start", "0.1,0.2,0.3"], "2 value(s) per start"),
        (None, ["--start", "0.1,abc"], "not a comma-separated list"),
        (None, ["--horizon", "10", "--horizon", "5"], "strictly increasing"),
    ],
)
def test_errors(tmp_path, capsys, array, argv, message):
    if array is None:
        array = ar1()[0]
    elif isinstance(array, str):
        array = ar1()[0]
        array[7, 1] = np.nan
    np.save(tmp_path / "bad.npy", array)
    code, _, err = run(
        [
            "predict",
            str(tmp_path / "bad.npy"),
            "--kernel",
            "counts",
            "--quiet",
            "--out",
            str(tmp_path / "o"),
            *argv,
        ],
        capsys,
    )
    assert code == 1
    assert err.startswith("sgdllm predict:") and message in err
    assert not (tmp_path / "o").exists()


def test_npz_with_several_arrays_needs_key(tmp_path, capsys):
    np.savez(tmp_path / "two.npz", a=ar1()[0], b=ar1()[0])
    code, _, err = run(["predict", str(tmp_path / "two.npz"), "--kernel", "counts"], capsys)
    assert code == 1 and "--key" in err
