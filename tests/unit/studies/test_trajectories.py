"""sgdllm.studies.trajectories: loading logged trajectories, validation errors, and the one-call
prediction (with counted kernels, fast; the language-model path is in test_cli_predict.py)."""

import json

import numpy as np
import pytest

from sgdllm.predict import compare_with_runs
from sgdllm.sgd.problems import least_squares
from sgdllm.sgd.runs import run_sgd
from sgdllm.studies.trajectories import (
    MIN_STEPS,
    load_trajectory,
    parse_start,
    predict_trajectory_file,
    validate_trajectory,
)


def ar1(runs=2, steps=400, d=2, rho=0.9, sigma=0.05, seed=0):
    """Gaussian AR(1) runs x_{t+1} = rho x_t + sigma eps, a chain with a known law."""
    rng = np.random.default_rng(seed)
    x = np.zeros((runs, steps, d))
    x[:, 0] = rng.uniform(-1, 1, size=(runs, d))
    for t in range(1, steps):
        x[:, t] = rho * x[:, t - 1] + sigma * rng.standard_normal((runs, d))
    return x


def test_load_npy_2d_and_3d(tmp_path):
    x = ar1()
    np.save(tmp_path / "a.npy", x)
    np.save(tmp_path / "b.npy", x[0])
    a, names = load_trajectory(tmp_path / "a.npy")
    b, _ = load_trajectory(tmp_path / "b.npy")
    assert a.shape == (2, 400, 2) and names is None
    assert b.shape == (1, 400, 2)
    np.testing.assert_array_equal(b[0], x[0])


def test_load_npz_needs_key_when_several(tmp_path):
    x = ar1()
    np.savez(tmp_path / "one.npz", params=x)
    np.savez(tmp_path / "two.npz", params=x, loss=x[..., 0])
    assert load_trajectory(tmp_path / "one.npz")[0].shape == x.shape
    with pytest.raises(ValueError, match="key="):
        load_trajectory(tmp_path / "two.npz")
    assert load_trajectory(tmp_path / "two.npz", key="params")[0].shape == x.shape
    with pytest.raises(ValueError, match="no array 'nope'"):
        load_trajectory(tmp_path / "two.npz", key="nope")


def test_load_csv_with_and_without_header(tmp_path):
    x = ar1(runs=1)[0]
    body = "\n".join(",".join(f"{v:.17g}" for v in row) for row in x)
    (tmp_path / "h.csv").write_text("# logged\nweight,bias\n" + body + "\n")
    (tmp_path / "n.csv").write_text(body + "\n")
    h, names = load_trajectory(tmp_path / "h.csv")
    n, none = load_trajectory(tmp_path / "n.csv")
    assert names == ["weight", "bias"] and none is None
    np.testing.assert_array_equal(h[0], x)
    np.testing.assert_array_equal(n[0], x)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,x\n")
    with pytest.raises(ValueError, match="line 3"):
        load_trajectory(tmp_path / "bad.csv")
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    with pytest.raises(ValueError, match="different numbers of columns"):
        load_trajectory(tmp_path / "ragged.csv")


def test_unknown_suffix_and_missing_file(tmp_path):
    (tmp_path / "x.txt").write_text("1,2\n")
    with pytest.raises(ValueError, match="unknown file type"):
        load_trajectory(tmp_path / "x.txt")
    with pytest.raises(FileNotFoundError):
        load_trajectory(tmp_path / "none.npy")


def test_validation_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"1 dimension.*reshape it to \(steps, 1\)"):
        validate_trajectory(np.zeros(50))
    with pytest.raises(ValueError, match="4 dimension"):
        validate_trajectory(np.zeros((1, 2, 50, 2)))
    x = ar1()
    x[1, 17, 0] = np.nan
    with pytest.raises(ValueError, match="run 1, step 17, coordinate 0"):
        validate_trajectory(x)
    x[1, 17, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        validate_trajectory(x)
    with pytest.raises(ValueError, match=f"fewer than the {MIN_STEPS}"):
        validate_trajectory(np.zeros((MIN_STEPS - 1, 2)))


def test_parse_start():
    np.testing.assert_array_equal(parse_start("0.1, -2"), [0.1, -2.0])
    with pytest.raises(ValueError, match="comma-separated"):
        parse_start("0.1;0.2")


def test_predict_counts_writes_files_and_matches_ar1_law(tmp_path):
    """Counted kernels of a long AR(1) run predict its stationary law: mean 0, std
    sigma / sqrt(1 - rho^2) = 0.115 (up to the grid and the finite run)."""
    x = ar1(runs=1, steps=20000, d=1, seed=1)
    np.save(tmp_path / "r.npy", x)
    res = predict_trajectory_file(
        tmp_path / "r.npy",
        kernel="counts",
        starts=[[0.2]],
        horizons=[5, 200],
        out_dir=tmp_path / "out",
    )
    assert res.laws.shape == (1, 1, 2, 100)
    np.testing.assert_allclose(res.laws.sum(axis=-1), 1.0, atol=1e-9)
    assert res.means.shape == res.stds.shape == (1, 2, 1)
    # t = 5: E = 0.2 * 0.9^5 = 0.118; stationary std 0.1147
    assert abs(res.means[0, 0, 0] - 0.2 * 0.9**5) < 0.03
    assert abs(res.means[0, 1, 0]) < 0.03
    assert abs(res.stds[0, 1, 0] - 0.05 / np.sqrt(1 - 0.81)) < 0.02
    for kind in ("npz", "json", "png"):
        assert res.files[kind].is_file()
    with np.load(res.files["npz"]) as z:
        assert z["laws"].shape == (1, 1, 2, 100)
        assert z["grids"].shape == (1, 100)
        np.testing.assert_array_equal(z["horizons"], [5, 200])
    summary = json.loads(res.files["json"].read_text())
    assert summary["settings"]["kernel"] == "counts"
    assert summary["trajectory"]["steps_used"] == 20000
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_default_starts_are_first_values_in_run_order(tmp_path):
    x = ar1(runs=3)
    x[2, 0] = x[0, 0]  # a repeated start appears once
    np.save(tmp_path / "r.npy", x)
    res = predict_trajectory_file(tmp_path / "r.npy", kernel="counts", horizons=[3], out_dir=None)
    np.testing.assert_array_equal(res.starts, x[:2, 0])
    assert res.files == {}


def test_starts_and_horizons_checked(tmp_path):
    np.save(tmp_path / "r.npy", ar1())
    with pytest.raises(ValueError, match=r"2 value\(s\) per start"):
        predict_trajectory_file(
            tmp_path / "r.npy", kernel="counts", starts=[0.1, 0.2, 0.3], out_dir=None
        )
    with pytest.raises(ValueError, match="strictly increasing"):
        predict_trajectory_file(tmp_path / "r.npy", kernel="counts", horizons=[10, 5], out_dir=None)
    with pytest.raises(ValueError, match="kernel must be"):
        predict_trajectory_file(tmp_path / "r.npy", kernel="lm", out_dir=None)


def test_failure_leaves_nothing_written(tmp_path, monkeypatch):
    import sgdllm.studies.trajectories as tr

    np.save(tmp_path / "r.npy", ar1())

    def broken(result, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(tr, "plot_tool_figure", broken)
    with pytest.raises(RuntimeError, match="figure failed"):
        predict_trajectory_file(
            tmp_path / "r.npy", kernel="counts", horizons=[3], out_dir=tmp_path / "out"
        )
    assert list((tmp_path / "out").iterdir()) == []


def test_prediction_close_to_real_sgd(tmp_path):
    """On least squares, counted kernels of one long run predict the stationary law of new
    runs from a new start within a few bins (W1), as in the chapter *Predicting SGD*."""
    ls = least_squares(50, dim=2, noise=0.5, seed=0)
    star = ls.minimizers()[0]
    train = run_sgd(ls, star + np.array([-1.0, 1.0]), 4000, 0.05, seed=1)
    np.save(tmp_path / "r.npy", train)
    x0 = star + np.array([0.5, -0.5])
    res = predict_trajectory_file(
        tmp_path / "r.npy", kernel="counts", starts=x0, horizons=[200], out_dir=None
    )
    real = run_sgd(ls, np.repeat(x0[None], 300, axis=0), 200, 0.05, n_runs=300, seed=2)
    score = compare_with_runs(res.kernels, x0, real, [200])
    bins = np.array([k.scaler.bin_width for k in res.kernels])
    assert np.all(score["w1"][0] < 3 * bins)


def test_names_one_per_coordinate(tmp_path):
    np.save(tmp_path / "r.npy", ar1())
    res = predict_trajectory_file(
        tmp_path / "r.npy", kernel="counts", horizons=[3], names=["w", "b"], out_dir=None
    )
    assert res.summary["trajectory"]["names"] == ["w", "b"]
    with pytest.raises(ValueError, match="one name per coordinate"):
        predict_trajectory_file(
            tmp_path / "r.npy", kernel="counts", horizons=[3], names=["w"], out_dir=None
        )


def test_model_laws_are_cached_and_adaptive_refinement_is_close_to_full(tmp_path):
    """refine and cache_dir reach sgdllm.lm.next_state_laws: a second call reads the laws
    from the cache (same prediction), and adaptive refinement (TV <= 1e-3 per law) changes the
    predicted laws by little."""
    np.save(tmp_path / "r.npy", ar1(runs=1, steps=40, d=1, seed=2))
    kw = dict(model=None, starts=[[0.1]], horizons=[3], out_dir=None)
    full = predict_trajectory_file(tmp_path / "r.npy", **kw)
    cache = tmp_path / "laws-cache"
    first = predict_trajectory_file(tmp_path / "r.npy", refine="adaptive", cache_dir=cache, **kw)
    assert any(p.is_file() for p in cache.rglob("*"))
    again = predict_trajectory_file(tmp_path / "r.npy", refine="adaptive", cache_dir=cache, **kw)
    np.testing.assert_array_equal(again.laws, first.laws)
    assert 0.5 * np.abs(first.laws - full.laws).sum(axis=-1).max() < 0.01
