"""Issue 14, `sgdllm predict` and the API: every bad input a clear error before the expensive
work, no silent wrong answer, no hang, no raw traceback on the command line.

Command-line cases call ``sgdllm.cli.main`` and check the exit status, the one-line message on
stderr and that no traceback is printed. "Before the expensive work" is pinned by replacing
the expensive step (loading a model, computing laws, training) with one that fails the test.
A real Ctrl-C of a running prediction is in ``tests/integration/test_cli_interrupt.py``.
"""

import os
from pathlib import Path

import numpy as np
import pytest

import sgdllm.lm
from sgdllm.cli import main
from sgdllm.discretize import Scaler, discretize
from sgdllm.kernel import count_kernel
from sgdllm.predict import POWER_MIN_GAP, dirac, laws_at, propagate
from sgdllm.studies.trajectories import START_MARGIN, load_trajectory


def ar1(runs=1, steps=200, d=2, seed=0, mean=0.0, start=None):
    """AR(1) runs ``x' = mean + 0.9 (x - mean) + 0.05 eps`` (as in test_cli_predict.py)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((runs, steps, d))
    x[:, 0] = rng.uniform(-1, 1, size=(runs, d)) if start is None else start
    for t in range(1, steps):
        x[:, t] = mean + 0.9 * (x[:, t - 1] - mean) + 0.05 * rng.standard_normal((runs, d))
    return x


def cli(argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "Traceback" not in out.out
    return code, out.out, out.err


def one_line_error(code, err, command, *needles, status=1):
    """Exit status, one line on stderr, prefixed by the command, holding every needle."""
    assert code == status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"sgdllm {command}: "), err
    for needle in needles:
        assert needle in lines[0], (needle, err)


@pytest.fixture
def no_model(monkeypatch):
    """Loading a model fails the test: a check that comes first never reaches it."""

    def forbidden(*args, **kwargs):
        raise AssertionError("a model was loaded before the arguments were checked")

    monkeypatch.setattr(sgdllm.lm, "load_model", forbidden)


@pytest.fixture
def run_file(tmp_path):
    path = tmp_path / "run.npy"
    np.save(path, ar1())
    return path


def predict_argv(path, tmp_path, *extra, counts=True):
    argv = ["predict", path, "--quiet", "--out", tmp_path / "o"]
    return argv + (["--kernel", "counts"] if counts else []) + list(extra)


# ----------------------------------------------------------------------------- 8. silent wrong


@pytest.mark.parametrize("start", ["1e6,1e6", "100,100", "--start=-5,0"])
def test_start_far_outside_the_logged_range_is_refused(tmp_path, capsys, run_file, start):
    x = ar1()[0]
    argv = ["--start", start] if not start.startswith("--") else [start]
    code, _, err = cli(predict_argv(run_file, tmp_path, *argv), capsys)
    lo, hi = x[:, 0].min(), x[:, 0].max()
    one_line_error(
        code, err, "predict", "far outside the logged range", f"[{lo:.6g}, {hi:.6g}]", "log a run"
    )
    assert not (tmp_path / "o").exists()


def test_start_within_the_margin_is_predicted(tmp_path, capsys, run_file):
    x = ar1()[0, :, 0]
    near = x.max() + 0.9 * START_MARGIN * (x.max() - x.min())  # outside the range, in margin
    code, out, err = cli(predict_argv(run_file, tmp_path, f"--start={near},0"), capsys)
    assert code == 0, err
    assert "predicted 1 start(s)" in out


def test_start_far_out_refused_by_the_api_too(tmp_path, run_file):
    from sgdllm.studies.trajectories import predict_trajectory_file

    with pytest.raises(ValueError, match="far outside the logged range"):
        predict_trajectory_file(run_file, kernel="counts", starts=[1e6, 1e6], out_dir=None)


def test_overflowing_ranges_are_refused():
    with pytest.raises(ValueError, match="too wide for float64"):
        discretize([-1e308, 0, 1e308], 2)
    with pytest.raises(ValueError, match="too wide for float64"):
        Scaler(-1e308, 1e308, 2)
    # a wide range that fits still gives valid states, clipped at the edges
    states, scaler = discretize([-1e306, 0.0, 1e306], 2)
    assert states.tolist() == [15, 50, 85] and np.isfinite(scaler.bin_width)


def test_tiny_bandwidth_gives_the_empirical_rows():
    states = np.random.default_rng(0).integers(40, 60, 300)
    tiny = count_kernel(states, 2, "gaussian", bandwidth=1e-300)
    counts = count_kernel(states, 2)
    assert np.all(np.isfinite(tiny.matrix))
    assert np.array_equal(tiny.defined, counts.visited)  # every visited row usable
    np.testing.assert_allclose(tiny.matrix, counts.matrix, atol=1e-15)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("0.1,0.2x\n0.3,0.4\n", "line 1, column 2"),  # a typo in the first row: no header
        ("w,b\n0.1,o.2\n0.3,0.4\n", "line 2, column 2"),  # a typo in the first data row
        ("w,0.5\n0.1,0.2\n", "line 1, column 1: 'w' .*header row must hold names only"),
        ("# note\n0.1,0.2\n0.3,abc\n", "line 3, column 2"),
    ],
)
def test_csv_typo_is_an_error_not_a_header(tmp_path, text, where):
    rows = "\n".join(f"{0.01 * i},{-0.01 * i}" for i in range(20))
    path = tmp_path / "run.csv"
    path.write_text(text + rows + "\n")
    with pytest.raises(ValueError, match=where):
        load_trajectory(path)


def test_csv_header_of_names_is_kept(tmp_path):
    path = tmp_path / "run.csv"
    path.write_text("w,b\n" + "\n".join(f"{0.01 * i},{i}" for i in range(20)) + "\n")
    traj, names = load_trajectory(path)
    assert names == ["w", "b"] and traj.shape == (1, 20, 2)


def test_complex_npy_is_refused(tmp_path, capsys):
    path = tmp_path / "c.npy"
    np.save(path, ar1()[0] * (1 + 1j))
    with pytest.raises(ValueError, match="complex"):
        load_trajectory(path)
    code, _, err = cli(predict_argv(path, tmp_path), capsys)
    one_line_error(code, err, "predict", "complex128", "real and imaginary parts")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--minutes", "0"], "--minutes 0.0 must be a positive number"),
        (["--minutes", "-1"], "--minutes -1.0 must be a positive number"),
        (["--minutes", "nan"], "--minutes nan must be a positive number"),
        (["--batch", "0"], "--batch 0 must be a positive integer"),
        (["--heads", "0"], "--heads 0 must be a positive integer"),
        (["--pack-prob", "2"], "--pack-prob 2.0 is a probability"),
    ],
)
def test_pretrain_refuses_bad_budgets_before_training(tmp_path, capsys, monkeypatch, argv, message):
    import sgdllm.lm.pretrain as pretrain

    monkeypatch.setattr(pretrain, "train", lambda *a, **k: pytest.fail("training started"))
    out = tmp_path / "m"
    code, _, err = cli(["pretrain", "--smoke", "--out", out, *argv], capsys)
    one_line_error(code, err, "pretrain", message)
    assert not out.exists()


# ----------------------------------------------------------------------------- 9. hangs


def small_kernel(k=100, seed=0):
    from sgdllm.kernel import Kernel

    m = np.random.default_rng(seed).random((k, k)) ** 8  # uneven rows, slow mixing tails
    m /= m.sum(axis=1, keepdims=True)
    return Kernel(m, np.ones(k, bool), np.ones(k), Scaler(0.0, 1.0, 2), "test")


def test_matrix_powers_equal_stepping():
    ker = small_kernel()
    p0 = dirac([3, 50, 97], ker.n_states)
    times = [0, 1, 7, 300, POWER_MIN_GAP + 5, 3 * POWER_MIN_GAP]
    stepped = laws_at(ker, p0, times, method="step")
    powered = laws_at(ker, p0, times, method="power")
    np.testing.assert_allclose(powered, stepped, rtol=0, atol=1e-13)
    np.testing.assert_allclose(powered.sum(axis=-1), 1.0, atol=1e-12)
    every = propagate(ker, p0[0], 60, every=20, method="power")
    np.testing.assert_allclose(every, propagate(ker, p0[0], 60, every=20), atol=1e-14)


def test_long_horizons_use_powers():
    ker = small_kernel()
    p0 = dirac(3, ker.n_states)
    laws = propagate(ker, p0, 10**12, every=10**11)  # 10 gaps of 1e11 steps: never stepped
    assert laws.shape == (11, ker.n_states)
    # long after mixing, every law is the stationary one: the left eigenvector for 1
    values, vectors = np.linalg.eig(ker.matrix.T)
    pi = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    pi /= pi.sum()
    np.testing.assert_allclose(laws[1:], np.broadcast_to(pi, (10, pi.size)), atol=1e-13)
    far = laws_at(ker, p0, [10**8])
    np.testing.assert_allclose(far[0], pi, atol=1e-13)
    np.testing.assert_allclose(far.sum(), 1.0, atol=1e-14)


def test_absurd_outputs_are_refused():
    ker = small_kernel()
    with pytest.raises(ValueError, match="GiB allowed"):
        propagate(ker, dirac(3, ker.n_states), 10**12)
    from sgdllm.predict import sample_paths

    with pytest.raises(ValueError, match="GiB allowed"):
        sample_paths(ker, 3, 10**12, 10, seed=0)


def test_predict_far_horizon_returns(tmp_path, capsys, run_file):
    code, out, err = cli(predict_argv(run_file, tmp_path, "--horizon", "100000000"), capsys)
    assert code == 0, err
    assert "horizons [100000000]" in out


# ----------------------------------------------------------------------------- 10. checks first


def test_digits_4_refused_before_loading_a_model(tmp_path, capsys, run_file, no_model):
    code, _, err = cli(predict_argv(run_file, tmp_path, "--digits", "4", counts=False), capsys)
    one_line_error(code, err, "predict", "digits=4", "1..3")


@pytest.mark.parametrize("case", ["file", "under_file", "target_is_dir", "unwritable"])
def test_predict_out_problems_refused_first(tmp_path, capsys, run_file, no_model, case):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    if case == "file":
        out, needle = blocker, "is a file"
    elif case == "under_file":
        out, needle = blocker / "sub" / "o", f"lies under the file {blocker}"
    elif case == "target_is_dir":
        out = tmp_path / "o2"
        (out / "prediction.json").mkdir(parents=True)
        needle = "holds a directory named prediction.json"
    else:
        out, needle = unwritable_dir(tmp_path) / "o", "cannot write"
    argv = ["predict", run_file, "--quiet", "--out", out]
    code, _, err = cli(argv, capsys)
    one_line_error(code, err, "predict", needle)
    assert blocker.read_text() == "a file"


def unwritable_dir(tmp_path):
    """A directory in which nothing can be created, or skip."""
    if os.geteuid() != 0:
        d = tmp_path / "ro"
        d.mkdir()
        d.chmod(0o500)
        return d
    if Path("/sys").is_dir() and not os.access("/sys", os.W_OK | os.X_OK):
        return Path("/sys")
    try:  # root ignores permission bits; /sys refuses new files even to root
        with open("/sys/.sgdllm-probe", "w"):
            pass
    except OSError:
        return Path("/sys")
    pytest.skip("no directory refuses writes here (root, no read-only /sys)")


@pytest.mark.parametrize("case", ["under_file", "unwritable", "card_under_file"])
def test_evaluate_destinations_refused_first(tmp_path, capsys, monkeypatch, case):
    import sgdllm.lm.evaluate as evaluate

    monkeypatch.setattr(evaluate, "model_laws_fn", lambda *a: pytest.fail("model loaded"))
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    argv = ["evaluate-model", "--quick"]
    if case == "under_file":
        argv += ["--out", blocker / "evaluation.json"]
    elif case == "unwritable":
        argv += ["--out", unwritable_dir(tmp_path) / "evaluation.json"]
    else:
        argv += ["--out", tmp_path / "e.json", "--card", blocker / "card.md"]
    code, _, err = cli(argv, capsys)
    one_line_error(code, err, "evaluate-model")
    assert "--out" in err or "--card" in err


def tiny_lm():
    from sgdllm.lm.load import wrap_model
    from tests.unit.lm.lm_fixtures import digit_tokenizer, tiny_llama

    tok = digit_tokenizer()
    return wrap_model(tiny_llama(len(tok)), tok)


def test_next_state_laws_checks_before_computing(tmp_path, monkeypatch):
    import sgdllm.lm.hierarchy as hierarchy

    monkeypatch.setattr(hierarchy, "_window_laws", lambda *a: pytest.fail("laws computed"))
    blocker = tmp_path / "cache"
    blocker.write_text("not a directory")
    states = np.arange(10) % 7
    with pytest.raises(ValueError, match=r"cache_dir .* is a file"):
        hierarchy.next_state_laws(tiny_lm(), states, 1, cache_dir=blocker, progress=False)
    with pytest.raises(ValueError, match="lies under the file"):
        hierarchy.next_state_laws(tiny_lm(), states, 1, cache_dir=blocker / "x", progress=False)
    with pytest.raises(TypeError, match=r"lm must be a LanguageModel .* got NoneType"):
        hierarchy.next_state_laws(None, states, 1)


# ----------------------------------------------------------------------------- 11. tracebacks


def test_bogus_model_id_is_one_line(tmp_path, capsys, run_file, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # fail at once, whatever the network
    code, _, err = cli(
        predict_argv(run_file, tmp_path, "--model", "bogus/id", counts=False), capsys
    )
    one_line_error(code, err, "predict", "'bogus/id'", "not in the Hugging Face cache")


def test_empty_npy_is_one_line(tmp_path, capsys):
    path = tmp_path / "empty.npy"
    path.write_bytes(b"")
    code, _, err = cli(predict_argv(path, tmp_path), capsys)
    one_line_error(code, err, "predict", "it is empty", "numpy.save")
    path.write_bytes(b"\x93NUMPY garbage")
    code, _, err = cli(predict_argv(path, tmp_path), capsys)
    one_line_error(code, err, "predict", "cannot be read as a .npy file")


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["evaluate-model", "--model", "/nonexistent/model"], ["no config.json"]),
        (["pretrain", "--smoke", "--out", "{file}"], ["is a file"]),
        (["pretrain", "--smoke", "--out", "{file}/m"], ["lies under the file"]),
    ],
)
def test_evaluate_and_pretrain_errors_are_one_line(tmp_path, capsys, argv, needles):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    argv = [a.replace("{file}", str(blocker)) for a in argv]
    code, _, err = cli(argv, capsys)
    one_line_error(code, err, argv[0], *needles)


@pytest.mark.parametrize(
    ("argv", "target"),
    [
        (["predict", "run.npy"], ("sgdllm.studies.trajectories", "predict_trajectory_file")),
        (["pretrain", "--out", "m"], ("sgdllm.lm.pretrain", "main")),
        (["evaluate-model"], ("sgdllm.lm.evaluate", "main")),
    ],
)
def test_ctrl_c_is_one_line_and_130(tmp_path, capsys, monkeypatch, argv, target):
    import importlib

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module(target[0]), target[1], interrupted)
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(argv, capsys)
    one_line_error(code, err, argv[0], "interrupted", status=130)


def test_load_model_names_a_damaged_config_or_weights(tmp_path):
    import shutil

    from tests.unit.lm.lm_fixtures import digit_tokenizer, save_pair, tiny_llama

    tok = digit_tokenizer()
    good = save_pair(tiny_llama(len(tok)), tok, tmp_path / "good")
    empty = tmp_path / "empty_config"
    shutil.copytree(good, empty)
    (empty / "config.json").write_text("")
    with pytest.raises(OSError, match=r"model config .*config.json cannot be read \(it is empty\)"):
        sgdllm.lm.load_model(empty)
    truncated = tmp_path / "truncated"
    shutil.copytree(good, truncated)
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(OSError, match=r"model\.safetensors is damaged or truncated.*download"):
        sgdllm.lm.load_model(truncated)
    sgdllm.lm.load_model(good)  # the intact copy still loads
