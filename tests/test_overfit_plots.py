"""The overfitting plots draw their results' numbers (checked through the artists, not pixels)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import data_loaders as dl
from backtester.sweep import overfit, overfit_plots, walkforward
from strategies import MaCross

pytestmark = pytest.mark.filterwarnings("ignore::backtester.RejectedOrdersWarning")


@pytest.fixture(autouse=True)
def no_show_and_close(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a plot function called plt.show()")

    monkeypatch.setattr(plt, "show", refuse)
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def res():
    # 8 blocks: C(8, 4) = 70 combinations of 12 noise runs
    return overfit.pbo(np.random.default_rng(3).normal(0.0, 0.01, (400, 12)), n_blocks=8)


@pytest.fixture(scope="module")
def wf():
    # as tests/test_walkforward.py: 4 folds of 3h training + 2h test, trades in every window
    data = dl.sample().slice("2022-11-08 00:00", "2022-11-08 12:00")
    return walkforward.walk_forward(MaCross, {"fast": [3, 6], "slow": [20, 40]}, data, train="3h", test="2h",
                                    start=pd.Timestamp("2022-11-08 00:00", tz="UTC"))


def test_exported_from_the_package():
    import sys

    pkg = sys.modules["backtester.sweep"]  # the package, not bt.sweep the function
    from backtester.sweep import plot_is_vs_oos, plot_pbo_logits, plot_scenario_ranks, plot_walk_forward

    assert (plot_pbo_logits, plot_is_vs_oos, plot_walk_forward, plot_scenario_ranks) == (
        overfit_plots.plot_pbo_logits, overfit_plots.plot_is_vs_oos, overfit_plots.plot_walk_forward,
        overfit_plots.plot_scenario_ranks)
    assert {"plot_pbo_logits", "plot_is_vs_oos", "plot_walk_forward", "plot_scenario_ranks"} <= set(pkg.__all__)


def test_logit_histogram_counts_every_combination(res):
    ax = overfit_plots.plot_pbo_logits(res, bins=12)
    hist = ax.containers[0].patches  # the histogram's bars (the shaded band is a patch too)
    assert len(hist) == 12
    assert sum(p.get_height() for p in hist) == res.n_combinations == 70
    # the share at or below 0 is marked: a dashed line at 0 and the PBO in the legend
    assert any(np.allclose(line.get_xdata(), 0.0) for line in ax.lines)
    assert any(f"PBO = {res.pbo:.2f}" in t.get_text() for t in ax.get_legend().get_texts())
    assert ax.get_xlabel() == "logit of the out-of-sample relative rank"
    assert ax.get_ylabel() == "combinations"


def test_logit_histogram_default_bins_and_given_axes(res):
    _, ax = plt.subplots()
    assert overfit_plots.plot_pbo_logits(res, ax=ax) is ax
    assert len(ax.containers[0].patches) == 10  # sqrt(70) ~ 8.4, raised to the minimum of 10
    with pytest.raises(TypeError, match="PBOResult"):
        overfit_plots.plot_pbo_logits(res.logits)


def test_is_vs_oos_on_pbo(res):
    ax = overfit_plots.plot_is_vs_oos(res)
    pts = ax.collections[0].get_offsets()
    assert len(pts) == res.n_combinations
    assert np.allclose(pts[:, 0], res.is_metric) and np.allclose(pts[:, 1], res.oos_metric)
    fit = [line for line in ax.lines if line.get_label().startswith("least squares")]
    assert len(fit) == 1 and f"{res.degradation_slope:.2f}" in fit[0].get_label()
    assert ax.get_xlabel() == "in-sample sharpe" and ax.get_ylabel() == "out-of-sample sharpe"


def test_is_vs_oos_on_walk_forward_folds(wf):
    _, ax = plt.subplots()
    assert overfit_plots.plot_is_vs_oos(wf, ax=ax) is ax
    folds = wf.folds.dropna(subset=["is_metric", "oos_metric"])
    pts = ax.collections[0].get_offsets()
    assert len(pts) == len(folds) > 0
    assert np.allclose(pts[:, 0], folds["is_metric"]) and np.allclose(pts[:, 1], folds["oos_metric"])
    assert f"{len(folds)} folds" in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(TypeError):
        overfit_plots.plot_is_vs_oos(wf.folds)


def test_walk_forward_equity_and_fold_starts(wf):
    ax = overfit_plots.plot_walk_forward(wf)
    equity, *rest = ax.lines
    assert len(equity.get_xdata()) == len(wf.equity)
    assert np.allclose(equity.get_ydata(), wf.equity.to_numpy())
    vertical = [line for line in rest if len(set(np.atleast_1d(line.get_xdata()))) == 1
                and line.get_ydata()[0] != line.get_ydata()[1]]
    starts = sorted(float(mdates.date2num(np.atleast_1d(line.get_xdata())[0])) for line in vertical)
    expected = [mdates.date2num(t.tz_convert(None).to_pydatetime()) for t in pd.to_datetime(wf.folds["test_start"])]
    assert len(vertical) == len(wf.folds) == 4
    assert np.allclose(starts, expected)
    horizontal = [line for line in rest if line not in vertical]
    assert len(horizontal) == 1 and horizontal[0].get_ydata()[0] == wf.initial_cash
    assert ax.get_ylabel() == "equity" and "4 folds" in ax.get_title()
    with pytest.raises(TypeError, match="WalkForwardResult"):
        overfit_plots.plot_walk_forward(wf.equity)


def test_scenario_ranks_heatmap_draws_the_ranks(wf):
    ranks = pd.DataFrame({"normal": [1.0, 1.0, 1.0], "outage": [4.0, np.nan, 2.0]},
                         index=pd.Index([0, 1, 2], name="fold"))
    fig = overfit_plots.plot_scenario_ranks(ranks, n_runs=4)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["1", "4", "1", "-", "1", "2"]
    assert ax.get_ylabel() == "fold" and [t.get_text() for t in ax.get_xticklabels()] == ["normal", "outage"]
    assert ax.images[0].get_clim() == (1.0, 4.0)
    with pytest.raises(ValueError, match="without scenarios"):
        overfit_plots.plot_scenario_ranks(wf)  # a walk-forward without scenarios= has no ranks
