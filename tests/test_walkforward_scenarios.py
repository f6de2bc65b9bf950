"""Walk-forward across scenarios: the winner chosen on one scenario, ranked under every other
(a planted case where the normal venue's winner ranks last in a crash), ties ranked
deterministically, and ``choose_on`` checked."""
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import data_loaders as dl
from backtester import scenarios as sc
from backtester.sweep import plot_scenario_ranks, sweep, walk_forward, winner_ranks
from tests.test_walkforward_carry import Hold

T0 = pd.Timestamp("2022-11-08 00:00", tz="UTC")
WINDOWS = dict(train="3h", test="2h", start=T0)
GRID = {"leverage": [0.0, 3.0]}
#: a 50 % crash an hour into every window it is applied to: a 3x long is liquidated
CRASH = sc.PriceShock(pd.Timedelta("1h"), -0.5, gap="0s")
SCENARIOS = {"normal": sc.NORMAL, "crash": CRASH}

pytestmark = pytest.mark.filterwarnings("ignore::backtester.RejectedOrdersWarning")


@pytest.fixture(scope="module")
def data():
    return dl.sample().slice("2022-11-08 00:00", "2022-11-08 12:00")


@pytest.fixture(scope="module")
def wf(data):
    return walk_forward(Hold, GRID, data, metric="total_return", scenarios=SCENARIOS, **WINDOWS)


def test_normal_winner_ranks_last_in_the_crash(data, wf):
    folds = wf.folds
    assert list(wf.ranks.columns) == ["normal", "crash"]
    assert (wf.ranks["normal"] == 1).all()  # the winner is chosen on normal
    long = folds["leverage"] == 3.0
    assert long.any() and (~long).any()  # in the sample, some training windows rose
    # where the 3x long won on the normal venue, it ranks last of the grid in the crash, and its
    # test run under the crash is a liquidation
    assert (wf.ranks.loc[long.to_numpy(), "crash"] == len(GRID["leverage"])).all()
    assert (folds.loc[long, "oos_metric[crash]"] == -1.0).all()
    assert (wf.ranks.loc[(~long).to_numpy(), "crash"] == 1).all()
    assert (folds["oos_metric"] == folds["oos_metric[normal]"]).all()
    # each rank is the training sweep's, read by hand
    for _, f in folds.iterrows():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            table = sweep(Hold, GRID, data.slice(f.train_start, f.train_end), scenarios=SCENARIOS, progress=False)
        crash = table[table.scenario == "crash"].sort_values("total_return", ascending=False, kind="stable")
        assert f["rank[crash]"] == list(crash["leverage"]).index(f.leverage) + 1
        assert f.is_metric == table[(table.scenario == "normal") & (table.leverage == f.leverage)].total_return.iloc[0]


def test_choose_on_the_stress_scenario(data, wf):
    on_crash = walk_forward(Hold, GRID, data, metric="total_return", scenarios=SCENARIOS, choose_on="crash",
                            **WINDOWS)
    assert (on_crash.folds["leverage"] == 0.0).all()  # flat survives every crash
    assert (on_crash.ranks["crash"] == 1).all()
    assert (on_crash.folds["oos_metric"] == on_crash.folds["oos_metric[crash]"]).all()
    # the stitched record is the chosen scenario's, whatever the order of the scenarios
    reordered = walk_forward(Hold, GRID, data, metric="total_return", scenarios={"crash": CRASH, "normal": sc.NORMAL},
                             choose_on="normal", **WINDOWS)
    assert list(reordered.ranks.columns) == ["crash", "normal"]
    pd.testing.assert_series_equal(reordered.equity, wf.equity)
    assert reordered.folds["leverage"].tolist() == wf.folds["leverage"].tolist()


def test_choose_on_unknown_names_the_labels(data):
    with pytest.raises(ValueError, match=r"choose_on='outage'.*\['normal', 'crash'\]"):
        walk_forward(Hold, GRID, data, scenarios=SCENARIOS, choose_on="outage", **WINDOWS)
    table = pd.DataFrame({"run_id": ["a"], "leverage": [1.0], "scenario": ["normal"], "seed": 0, "status": "ok",
                          "sharpe": [1.0]})
    with pytest.raises(ValueError, match=r"known: \['normal'\]"):
        winner_ranks(table, choose_on="crash")


def test_winner_ranks_of_a_sweep_table(data, wf):
    f = wf.folds[wf.folds["leverage"] == 3.0].iloc[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        table = sweep(Hold, GRID, data.slice(f.train_start, f.train_end), scenarios=SCENARIOS, progress=False)
    assert winner_ranks(table, "total_return").to_dict() == {"normal": 1.0, "crash": 2.0}
    assert winner_ranks(table, "total_return", choose_on="crash").to_dict() == {"normal": 2.0, "crash": 1.0}


def test_rank_ties_are_deterministic():
    # three parameter sets tie on normal: the first in table order wins; under "b" the winner
    # ties with the set before it, which comes first (table order), so the winner ranks 2
    df = pd.DataFrame({"run_id": list("abcdef"), "x": [1, 2, 3, 1, 2, 3],
                       "scenario": ["a"] * 3 + ["b"] * 3, "seed": 0, "status": "ok",
                       "sharpe": [0.5, 0.5, 0.5, 0.9, 0.2, 0.2]})
    assert winner_ranks(df).to_dict() == {"a": 1.0, "b": 1.0}
    df.loc[0, "sharpe"] = 0.1  # now x=2 wins on a (first of the tied 0.5s); on b it ties x=3 and comes first
    assert winner_ranks(df).to_dict() == {"a": 1.0, "b": 2.0}
    flipped = df.iloc[[0, 2, 1, 3, 5, 4]].reset_index(drop=True)  # x=3 before x=2 in both scenarios
    assert winner_ranks(flipped).to_dict() == {"a": 1.0, "b": 2.0}  # x=3 wins now, and ties first on b
    df.loc[4, "status"] = "error"  # the winner failed under b: no rank
    assert np.isnan(winner_ranks(df)["b"])


def test_plot_scenario_ranks(wf):
    fig = plot_scenario_ranks(wf)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == len(wf.folds) * 2
    expected = [f"{v:.0f}" for v in wf.ranks.to_numpy().ravel()]
    assert texts == expected and "2" in texts
    assert [t.get_text() for t in ax.get_xticklabels()] == ["normal", "crash"]
    assert np.array_equal(ax.images[0].get_array(), wf.ranks.to_numpy())
    one = plot_scenario_ranks(pd.Series({"normal": 1.0, "crash": np.nan}), n_runs=2)
    assert [t.get_text() for t in one.axes[0].texts] == ["1", "-"]
    with pytest.raises(TypeError):
        plot_scenario_ranks([1, 2])
    plt.close("all")


@pytest.mark.parametrize("carry", [False, True])
def test_folds_without_a_winner(data, carry):
    from strategies import MaCross

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # fast >= slow: every run raises
        wf = walk_forward(MaCross, {"fast": [40], "slow": [20]}, data, scenarios=SCENARIOS, carry=carry, **WINDOWS)
    assert len(wf.folds) == 4 and (wf.folds["n_ok"] == 0).all()
    assert wf.folds[["is_metric", "oos_metric", "oos_metric[crash]"]].isna().all().all()
    assert wf.ranks.shape == (4, 2) and wf.ranks.isna().all().all()
    assert wf.result is None and wf.equity.empty and np.isnan(wf.total_return) and wf.stats().empty
