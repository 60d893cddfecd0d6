"""`bench --compare`: each interleaved pair's ratio, the figure that drifts least with the
machine (devhost/bench_compare.py)."""

import pytest

from devhost.bench_compare import pair_ratios

pytestmark = pytest.mark.unit


def test_each_pair_is_compared_run_by_run():
    assert pair_ratios([100.0, 200.0, 150.0], [110.0, 180.0, 300.0]) == [1.1, 0.9, 2.0]


def test_a_pair_with_a_figure_missing_is_left_out():
    assert pair_ratios([100.0, None, 0.0, 50.0], [120.0, 80.0, 10.0, None]) == [1.2]


def test_the_sides_must_have_run_as_often():
    with pytest.raises(ValueError, match="longer"):
        pair_ratios([100.0], [100.0, 120.0])
