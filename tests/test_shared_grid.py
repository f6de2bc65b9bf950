"""What the runs of a sweep share: one decision grid object per cadence and span, and the
prices a strategy reads at those times (``Dataset.prices_at``), computed once."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtester.cadence import decision_times
from tests.reference.gen import SEC, T0, make_dataset


def _ds():
    trades = [dict(ts=T0 + t * SEC, market="BTC-USD", price=100.0 + t, size=1.0, side=1) for t in (0, 2, 2, 5)]
    return make_dataset(trades)


def test_prices_at_is_the_last_price_at_or_before_each_time():
    """Prices 100 @0s, 102 and 102 @2s (the later row of a timestamp wins), 105 @5s."""
    times = pd.DatetimeIndex(np.array([T0 - 1, T0, T0 + SEC, T0 + 2 * SEC, T0 + 6 * SEC]).view("datetime64[ns]"), tz="UTC")
    got = _ds().prices_at("trades", "BTC-USD", times)
    np.testing.assert_array_equal(got, [np.nan, 100.0, 100.0, 102.0, 105.0])
    with pytest.raises(ValueError):
        got[0] = 1.0  # read-only: shared between runs


def test_prices_at_remembers_by_grid_object_and_a_new_grid_is_computed_again():
    ds = _ds()
    grid = decision_times("1s", T0, T0 + 5 * SEC)
    assert decision_times("1s", T0, T0 + 5 * SEC) is grid  # the runs of a sweep share it
    first = ds.prices_at("trades", "BTC-USD", grid)
    assert ds.prices_at("trades", "BTC-USD", grid) is first
    other = decision_times("2s", T0, T0 + 5 * SEC)
    np.testing.assert_array_equal(ds.prices_at("trades", "BTC-USD", other), [100.0, 102.0, 102.0])
    explicit = [pd.Timestamp(T0 + SEC, tz="UTC")]
    assert decision_times(explicit, T0, T0 + 5 * SEC) is not decision_times(explicit, T0, T0 + 5 * SEC)


def test_prices_at_does_not_remember_arrays_that_can_change_and_reads_any_index_unit():
    ds = _ds()
    t = np.array([T0, T0 + 5 * SEC], np.int64)
    np.testing.assert_array_equal(ds.prices_at("trades", "BTC-USD", t), [100.0, 105.0])
    t[1] = T0 + 2 * SEC  # changed in place: the answer follows
    np.testing.assert_array_equal(ds.prices_at("trades", "BTC-USD", t), [100.0, 102.0])
    in_us = pd.DatetimeIndex([pd.Timestamp(T0 + 2 * SEC, tz="UTC")]).as_unit("us")
    np.testing.assert_array_equal(ds.prices_at("trades", "BTC-USD", in_us), [102.0])


def test_kernel_references_refuse_copies_and_pickles_with_a_clear_error():
    import copy
    import pickle

    import backtester as bt
    from strategies import MaCross

    res = bt.run(MaCross(fast=2, slow=3, every="1s"), _ds(), bt.SimConfig())
    for ref in res.engine.refs():
        for attempt in (copy.copy, copy.deepcopy, pickle.dumps):
            with pytest.raises(TypeError, match="cannot be copied or pickled"):
                attempt(ref)
    assert pickle.loads(pickle.dumps(res.engine)).refs()  # the Engine pickles; refs are rebuilt
