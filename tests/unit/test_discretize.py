"""Values <-> states <-> text (sgdllm.discretize)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sgdllm.discretize import (
    RangeWarning,
    Scaler,
    check_digits,
    discretize,
    discretize_trajectory,
    fit_scaler,
    parse,
    serialize,
)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def test_fitted_range_maps_to_015_085():
    states, scaler = discretize(np.array([-2.0, 0.0, 3.0]), digits=3)
    assert states.tolist() == [150, 430, 850]
    assert scaler.lo == -2.0 and scaler.hi == 3.0
    states2, _ = discretize(np.array([-2.0, 3.0]), digits=2)
    assert states2.tolist() == [15, 85]


@settings(max_examples=200, deadline=None)
@given(
    series=arrays(np.float64, st.integers(2, 50), elements=finite),
    digits=st.integers(1, 4),
)
def test_round_trip_error_at_most_half_a_bin(series, digits):
    states, scaler = discretize(series, digits)
    back = scaler.to_values(states)
    assert np.all(states >= 0) and np.all(states < 10**digits)
    tol = 0.5 * scaler.bin_width * (1 + 1e-9) + 1e-12 * np.abs(series).max()
    assert np.max(np.abs(back - series)) <= tol


@settings(max_examples=100, deadline=None)
@given(states=arrays(np.int64, st.integers(0, 30), elements=st.integers(0, 999)))
def test_serialize_parse_round_trip(states):
    text = serialize(states, 3)
    assert parse(text, 3).tolist() == states.tolist()
    if states.size:
        assert len(text) == 4 * states.size - 1


def test_serialize_format():
    assert serialize(np.array([523, 541, 38]), 3) == "523,541,038"
    assert parse("523,541,038,", 3).tolist() == [523, 541, 38]


def test_states_map_back_to_bin_centres():
    scaler = Scaler(0.0, 0.7, digits=2)
    # u = 0.15 + x, so state s has centre x = s/100 - 0.15
    np.testing.assert_allclose(scaler.to_values(np.array([15, 50, 85])), [0.0, 0.35, 0.7])
    assert scaler.bin_width == pytest.approx(0.01)
    assert scaler.grid().shape == (100,)


def test_nan_error_names_index_and_coordinate():
    traj = np.zeros((10, 3))
    traj[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"nan at index 7, coordinate 2"):
        discretize_trajectory(traj, 2)
    with pytest.raises(ValueError, match=r"inf at index 4"):
        discretize(np.array([0.0, 1, 2, 3, np.inf]), 2)
    runs = np.zeros((2, 5, 2))
    runs[1, 3, 0] = -np.inf
    with pytest.raises(ValueError, match=r"run 1, index 3, coordinate 0"):
        discretize_trajectory(runs, 2)


def test_constant_series_gets_a_finite_scale():
    states, scaler = discretize(np.full(20, 3.0), digits=3)
    assert np.all(states == 500)
    assert scaler.to_values(500) == pytest.approx(3.0)
    assert scaler.hi - scaler.lo == pytest.approx(3.0)  # w = max(|c|, 1) / 2 on each side
    states0, scaler0 = discretize(np.zeros(5), digits=2)
    assert np.all(states0 == 50) and scaler0.hi - scaler0.lo == pytest.approx(1.0)


@pytest.mark.parametrize("digits", [0, 5, -1, 2.5, True, "3"])
def test_bad_digits(digits):
    with pytest.raises(ValueError, match="digits"):
        check_digits(digits)
    with pytest.raises(ValueError, match="digits"):
        discretize(np.arange(5.0), digits)


def test_values_beyond_the_grid_are_clipped_with_a_warning():
    _, scaler = discretize(np.array([0.0, 1.0]), digits=2)
    # inside the fitted range's margins: no clipping, no warning
    assert scaler.to_states(np.array([1.1])).tolist() == [92]
    with pytest.warns(RangeWarning, match="2 value"):
        s = scaler.to_states(np.array([-5.0, 0.5, 9.0]))
    assert s.tolist() == [0, 50, 99]


def test_discretize_trajectory_shares_a_grid_across_runs():
    rng = np.random.default_rng(0)
    runs = rng.normal(size=(4, 30, 2)) * np.array([1.0, 100.0])
    states, scalers = discretize_trajectory(runs, 2)
    assert states.shape == runs.shape
    assert len(scalers) == 2
    assert scalers[1].hi - scalers[1].lo > 50 * (scalers[0].hi - scalers[0].lo)
    for i in range(2):
        assert states[..., i].min() == 15 and states[..., i].max() == 85


def test_parse_errors_name_the_value():
    with pytest.raises(ValueError, match="value 1 of the text is '54'"):
        parse("523,54,538", 3)
    with pytest.raises(ValueError, match="value 0"):
        parse("5a3", 3)


def test_serialize_rejects_out_of_range_states():
    with pytest.raises(ValueError, match=r"\[0, 99\]"):
        serialize(np.array([5, 100]), 2)


def test_bounds_and_scaler_validation():
    s = fit_scaler(None, 2, bounds=(0.0, 2.0))
    assert (s.lo, s.hi) == (0.0, 2.0)
    with pytest.raises(ValueError, match="lo < hi"):
        fit_scaler(None, 2, bounds=(1.0, 1.0))
    with pytest.raises(ValueError, match="1-D"):
        discretize(np.zeros((3, 2)), 2)
    with pytest.raises(ValueError, match="empty"):
        discretize(np.array([]), 2)
