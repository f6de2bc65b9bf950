"""`walk_forward`: fold boundaries exact, the stitched out-of-sample record equals running each
fold's choice by hand on its test window, and no fold's choice sees data after its training
window (a poisoned future changes nothing before it)."""
import dataclasses
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import backtester as bt
import data_loaders as dl
from backtester.sweep import fold_windows, walk_forward
from backtester.sweep.walkforward import data_span
from strategies import MaCross

GRID = {"fast": [3, 6, 12], "slow": [20, 40]}
T0 = pd.Timestamp("2022-11-08 00:00", tz="UTC")
H = pd.Timedelta("1h")
#: windows of the tests: 4 folds of 3h training + 2h test on a 12-hour slice
WINDOWS = dict(train="3h", test="2h", start=T0)
#: drift of the poisoned prices after the cut, per hour (continuous at the cut, so no jump for
#: the data checks; large enough to turn every moving-average signal after it)
POISON_PER_HOUR = 0.03

pytestmark = pytest.mark.filterwarnings("ignore::backtester.RejectedOrdersWarning")


@pytest.fixture(scope="module")
def data():
    return dl.sample().slice("2022-11-08 00:00", "2022-11-08 12:00")


@pytest.fixture(scope="module")
def wf(data):
    return walk_forward(MaCross, GRID, data, **WINDOWS)


def test_fold_windows_exact(data):
    # rolling: train [T0 + 2h k, T0 + 2h k + 3h), test the 2h after; the last test must end by the
    # last trade (11:59:59.x), so fold 4 (test 11:00-13:00) is not there
    w = fold_windows(data, "3h", "2h", "2h", start=T0)
    assert w == [(T0 + 2 * k * H, T0 + (2 * k + 3) * H, T0 + (2 * k + 3) * H, T0 + (2 * k + 5) * H)
                 for k in range(4)]
    # anchored: every training window starts at T0 and grows by the step
    a = fold_windows(data, "3h", "2h", "2h", start=T0, anchored=True)
    assert [x[0] for x in a] == [T0] * 4 and [x[1:] for x in a] == [x[1:] for x in w]
    # step larger than test: gaps between test windows
    g = fold_windows(data, "3h", "1h", "4h", start="2022-11-08 00:00")
    assert [(x[2] - T0) / H for x in g] == [3.0, 7.0, 11.0] and all(x[3] - x[2] == H for x in g)
    # the span is the slice's [00:00, 12:00): a test window ending exactly at 12:00 is kept (no
    # trade in its last second), one ending a nanosecond later is not
    assert fold_windows(data, "10h", "2h", "2h", start=T0) == [(T0, T0 + 10 * H, T0 + 10 * H, T0 + 12 * H)]
    with pytest.raises(ValueError, match="shorter than one fold"):
        fold_windows(data, "10h", "2h", "2h", start=T0 + pd.Timedelta(1, "ns"))
    # default start: the slice's start, not the first trade (00:00:02.1)
    assert data.start > T0 and fold_windows(data, "3h", "2h", "2h") == w
    # a dataset that was not sliced: its first trade's minute to the end of its last trade's minute
    whole = dataclasses.replace(data, meta={})
    assert data_span(whole) == (data.start.floor("min"), data.end.floor("min") + pd.Timedelta(1, "min"))
    assert fold_windows(whole, "3h", "2h", "2h")[0][0] == T0


@pytest.mark.parametrize("kwargs, match", [
    (dict(train="0h", test="1h"), "train must be positive"),
    (dict(train="3h", test="x"), "test must be a duration"),
    (dict(train="3h", test="2"), "test must be a duration with a unit"),   # not 2 ns
    (dict(train=3, test="2h"), "train must be a duration with a unit"),
    (dict(train="3h", test="2h", step="1h"), "at least test"),
    (dict(train="11h", test="2h"), "shorter than one fold"),
])
def test_walk_forward_input_errors(data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        walk_forward(MaCross, GRID, data, **kwargs)
    with pytest.raises(ValueError, match="scenario"):
        walk_forward(MaCross, {**GRID, "scenario": [bt.scenarios.NORMAL]}, data, "3h", "2h")


def test_choice_is_the_training_sweeps_best_and_stitching_is_by_hand(data, wf):
    folds = wf.folds
    assert list(folds["fold"]) == [0, 1, 2, 3]
    pieces = []
    for _, f in folds.iterrows():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            table = bt.sweep(MaCross, GRID, data.slice(f.train_start, f.train_end), progress=False)
        top = table.sort_values("sharpe", ascending=False, kind="stable").iloc[0]  # first of ties
        assert (f.fast, f.slow) == (top.fast, top.slow)
        assert f.is_metric == top.sharpe and f.n_ok == (table.status == "ok").sum()
        res = bt.run(MaCross(fast=int(f.fast), slow=int(f.slow)), data.slice(f.test_start, f.test_end))
        assert f.oos_metric == res.stats()["sharpe"]
        eq = res.equity["equity"]
        assert eq.index[0] >= f.test_start and eq.index[-1] <= f.test_end
        pieces.append(eq / float(res.engine.initial_cash.sum()))  # growth of each window alone
    # stitched: each window's growth compounds on the previous windows' final equity
    growth, level = [], 1.0
    for p in pieces:
        growth.append(level * p)
        level *= float(p.iloc[-1])
    expected = pd.concat(growth) * wf.initial_cash
    assert list(wf.equity.index) == list(expected.index)
    np.testing.assert_allclose(wf.equity.to_numpy(), expected.to_numpy(), rtol=1e-12)
    assert wf.total_return == pytest.approx(level - 1.0, rel=1e-12)
    assert len(set(zip(folds.fast, folds.slow))) > 1  # the choice moves: the test sees more than one run


def _poison(data, cut):
    """Prices (trades and oracle) after ``cut`` drift by POISON_PER_HOUR, rounded to the tick."""
    tables = {}
    for kind in ("trades", "oracle"):
        df = getattr(data, kind).to_pandas()
        after = df["ts"] >= cut  # rows before the cut keep their exact bytes
        hours = (df.loc[after, "ts"] - cut) / H
        tick = df.loc[after, "market"].astype(str).map({m: v["tick_size"] for m, v in data.markets.items()})
        df.loc[after, "price"] = np.round(df.loc[after, "price"] * (1.0 + POISON_PER_HOUR * hours) / tick) * tick
        tables[kind] = pa.Table.from_pandas(df, schema=getattr(data, kind).schema, preserve_index=False)
    return dataclasses.replace(data, **tables)


@pytest.mark.parametrize("k", [0, 2])
def test_no_look_ahead_poisoned_future(data, wf, k):
    cut = wf.folds["train_end"].iloc[k]
    poisoned = walk_forward(MaCross, GRID, _poison(data, cut), **WINDOWS)
    cols = ["fold", "train_start", "train_end", "fast", "slow", "is_metric", "n_ok"]
    # every fold up to k trained before the cut: same choice, same in-sample figures
    pd.testing.assert_frame_equal(poisoned.folds[cols].iloc[:k + 1], wf.folds[cols].iloc[:k + 1])
    # the poison is real: fold k's test window (after the cut) sees other prices
    assert poisoned.folds["oos_metric"].iloc[k] != wf.folds["oos_metric"].iloc[k]
    assert not np.allclose(poisoned.equity.to_numpy(), wf.equity.to_numpy())


def test_stats_of_the_stitched_record(data, wf):
    s = wf.stats()
    assert s.name == "walk-forward"
    assert s["total_return"] == pytest.approx(wf.total_return, rel=1e-12)
    assert s["initial_equity"] == wf.initial_cash and s["final_equity"] == wf.equity.iloc[-1]
    eq = wf.equity.to_numpy()
    r = eq[1:] / eq[:-1] - 1.0  # between samples, as Result.stats
    per_year = pd.Timedelta(days=365) / wf.sample_every
    assert s["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(per_year), rel=1e-9)
    peak = np.maximum(np.maximum.accumulate(eq), wf.initial_cash)
    assert s["max_drawdown"] == pytest.approx((eq / peak - 1.0).min(), rel=1e-12)
    # counts add up over the test runs, each run by hand
    fills = sum(int(bt.run(MaCross(fast=int(f.fast), slow=int(f.slow)),
                           data.slice(f.test_start, f.test_end)).stats()["n_fills"]) for _, f in wf.folds.iterrows())
    assert s["n_fills"] == fills > 0
    from backtester.stats import METRICS

    assert [m for m in METRICS if m in s.index] == list(s.index)  # Result.stats' names, in its order
    assert wf.result is None and not wf.carry


def test_plot_is_plot_walk_forward(wf):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = wf.plot()
    assert len(ax.lines) == 1 + len(wf.folds) + 1  # equity, fold starts, initial cash
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), wf.equity.to_numpy())
    plt.close("all")
