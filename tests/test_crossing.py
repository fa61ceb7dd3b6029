"""The threshold crossings behind fig6c and fig6d, on hand-made curves."""

import numpy as np
import pytest

from richlazy.experiments.section5._crossing import (
    CENSORED_ABOVE,
    CENSORED_BELOW,
    first_step_above,
    sample_complexity,
)


def test_first_step_above_reports_censored_runs_as_nan():
    steps = np.array([0, 10, 20, 30, 40])
    curves = np.array(
        [
            [0.0, 0.2, 0.96, 0.5, 0.99],  # crosses at 20 (the first time, not the last)
            [0.0, 0.5, 0.95, 0.95, 0.9],  # reaches 0.95 but never exceeds it: censored
            [0.0, np.nan, 0.1, 0.97, 1.0],  # NaN never counts
            [1.0, 1.0, 1.0, 1.0, 1.0],  # above from the start
        ]
    )
    found, censored = first_step_above(curves, steps, 0.95)
    np.testing.assert_array_equal(found, [20.0, np.nan, 30.0, 0.0])
    np.testing.assert_array_equal(censored, [False, True, False, False])
    assert first_step_above(curves.reshape(2, 2, 5), steps, 0.95)[0].shape == (2, 2)
    with pytest.raises(ValueError, match=r"disagree"):
        first_step_above(curves, steps[:-1], 0.5)


def test_sample_complexity_interpolates_in_log_p():
    sizes = np.array([100.0, 1000.0, 10000.0])
    errors = np.array(
        [
            [0.8, 0.4, 0.0],  # crosses 0.2 halfway (in error) between 1e3 and 1e4: 10^3.5
            [0.8, 0.1, 0.3],  # first crossing between 1e2 and 1e3, at 2/7 of the way
            [0.9, 0.8, 0.5],  # never below: censored above
            [0.1, 0.0, 0.0],  # below already at the smallest size: censored below
            [0.8, 0.2, 0.1],  # equal to the threshold is not below
        ]
    )
    p_star, censored = sample_complexity(errors, sizes, 0.2)
    np.testing.assert_allclose(p_star[:2], [10**3.5, 10 ** (2 + 6 / 7)])
    assert np.isnan(p_star[2:4]).all()
    np.testing.assert_allclose(p_star[4], 10**3)  # 0.2 → 0.1 crosses right at 1e3
    np.testing.assert_array_equal(censored, [0, 0, CENSORED_ABOVE, CENSORED_BELOW, 0])
    with pytest.raises(ValueError, match=r"positive and increasing"):
        sample_complexity(errors, sizes[::-1], 0.2)
