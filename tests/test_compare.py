"""`bt.compare`: identical inputs for every strategy (checked by hashing), a tidy table equal to
separate runs, seeds and intervals for random scenarios, ranking; and the report folder."""
import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import backtester as bt
import data_loaders as dl
from backtester import comparison as compare_mod
from backtester import scenarios as sc
from backtester.comparison import compare, fingerprint
from backtester.driver import Prepared, run_prepared
from strategies import BuyAndHold, MaCross


@pytest.fixture(scope="module")
def tape():
    return dl.sample("btcusdt-tape")


@pytest.fixture(scope="module")
def day():
    return dl.sample().slice("2022-11-09", "2022-11-10")


def _strategies():
    return [BuyAndHold(leverage=2.0), MaCross(fast=3, slow=10, leverage=2.0)]


@pytest.fixture(scope="module")
def small(tape):
    scenarios = [sc.NORMAL, sc.Slippage(3.0)]
    return compare(_strategies(), tape, scenarios=scenarios, progress=False)


def test_tidy_table_equals_separate_runs(small, tape):
    t = small.table
    assert list(t.columns) == ["scenario", "strategy", "seed", "metric", "value"]
    n_metrics = len(bt.run(BuyAndHold(leverage=2.0), tape).stats())
    assert len(t) == 2 * 2 * n_metrics
    # the same numbers by an independent route: apply the scenario, run each strategy alone
    for scenario in (sc.NORMAL, sc.Slippage(3.0)):
        setup = sc.apply(scenario, tape, bt.SimConfig())
        for strategy in _strategies():
            alone = bt.run(strategy, setup.data, setup.config, reorgs=setup.reorgs).stats()
            got = t[(t["scenario"] == scenario.name) & (t["strategy"] == strategy.name)]
            got = got.set_index("metric")["value"]
            for metric, value in alone.items():
                assert got[metric] == pytest.approx(value, rel=1e-12, abs=1e-12, nan_ok=True), (scenario.name, metric)


def test_every_strategy_received_the_same_inputs(small):
    fp = small.fingerprints
    per_cell = fp.groupby("scenario")["fingerprint"].nunique()
    assert (per_cell == 1).all()
    # and the hash sees the scenario: 3x slippage is a different input
    assert fp.groupby("scenario")["fingerprint"].first().nunique() == 2


def test_fingerprint_ignores_decisions_but_not_costs(tape):
    p = Prepared.build(tape, bt.SimConfig())
    a = run_prepared(BuyAndHold(leverage=1.0), p)
    b = run_prepared(MaCross(fast=2, slow=5), p)   # other decision times and targets
    assert fingerprint(a.engine) == fingerprint(b.engine)
    for changed in (bt.SimConfig(latency_scale=2.0), bt.SimConfig(initial_cash=5_000.0),
                    bt.SimConfig(markets={"BTC-USD": bt.Market.preset("BTC-USD", taker_fee=0.0006)})):
        c = run_prepared(BuyAndHold(leverage=1.0), Prepared.build(tape, changed))
        assert fingerprint(c.engine) != fingerprint(a.engine), changed


def test_compare_raises_when_a_run_gets_other_inputs(tape, monkeypatch):
    real = compare_mod.run_many

    def leaky(strategies, prepared, **kw):  # a bug that gives the second strategy other costs
        other = Prepared.build(prepared.data, prepared.config.with_(latency_scale=5.0))
        return (real(strategies[:1], prepared, **kw) + real(strategies[1:2], other, **kw)
                + real(strategies[2:], prepared, **kw))

    monkeypatch.setattr(compare_mod, "run_many", leaky)
    with pytest.raises(RuntimeError, match="different inputs"):
        compare(_strategies(), tape, progress=False)


def test_compare_raises_when_a_run_writes_to_the_shared_inputs(tape, monkeypatch):
    real = compare_mod.run_many

    def writes(strategies, prepared, **kw):  # a bug writing into the shared inputs
        out = real(strategies, prepared, **kw)
        prepared.inputs.tr_price[0] += 1.0
        return out

    monkeypatch.setattr(compare_mod, "run_many", writes)
    with pytest.raises(ValueError, match="read-only"):  # refused where it happens
        compare(_strategies(), tape, progress=False)

    def opens(strategies, prepared, **kw):  # the same after unlocking an array on purpose
        out = real(strategies, prepared, **kw)
        with pytest.raises(ValueError, match="WRITEABLE"):  # a view cannot be unlocked alone
            prepared.inputs.ev_ts.flags.writeable = True
        prepared.inputs.ev_ts.base.flags.writeable = True
        prepared.inputs.ev_ts.flags.writeable = True
        prepared.inputs.ev_ts[0] -= 1
        return out

    monkeypatch.setattr(compare_mod, "run_many", opens)
    with pytest.raises(RuntimeError, match="may have changed during its runs: ev_ts made writable"):
        compare(_strategies(), tape, progress=False)


def test_originals_untouched_and_labels_unique(tape):
    s = BuyAndHold(leverage=2.0)
    compare([s], tape, progress=False)
    assert s.decision_times is None and s._targets == {}
    with pytest.raises(ValueError, match="share the label"):
        compare([BuyAndHold(), BuyAndHold()], tape, progress=False)
    cmp = compare({"a": BuyAndHold(), "b": BuyAndHold()}, tape, progress=False)
    assert cmp.strategies == ["a", "b"]
    with pytest.raises(TypeError, match="Strategy instance"):
        compare([BuyAndHold], tape, progress=False)


def test_seeds_and_intervals_for_random_scenarios(day):
    drought = sc.LiquidityDrought(start=pd.Timestamp("2022-11-09 06:00", tz="UTC"), duration="6h", keep=0.3)
    assert drought.random
    cmp = compare([BuyAndHold(leverage=3.0)], day, scenarios=[sc.NORMAL, drought], seeds=3, progress=False)
    seeds = cmp.table.groupby("scenario")["seed"].nunique()
    assert seeds[sc.NORMAL.name] == 1 and seeds[drought.name] == 3
    s = cmp.summary()
    row = s[(s["scenario"] == drought.name) & (s["metric"] == "slippage_cost")].iloc[0]
    vals = cmp.table[(cmp.table["scenario"] == drought.name) & (cmp.table["metric"] == "slippage_cost")]["value"]
    assert row["n"] == 3 and row["mean"] == pytest.approx(vals.mean())
    half = 4.303 * vals.std(ddof=1) / math.sqrt(3)   # t(0.975, 2 d.o.f.)
    assert row["hi"] - row["mean"] == pytest.approx(half) and row["mean"] - row["lo"] == pytest.approx(half)
    normal = s[(s["scenario"] == sc.NORMAL.name) & (s["metric"] == "slippage_cost")].iloc[0]
    assert normal["lo"] == normal["hi"] == normal["mean"]


def test_ranking_by_hand(small):
    p = small.pivot("total_return")
    r = small.ranking("total_return")
    for scenario in small.scenarios:
        best = p.loc[scenario].idxmax()
        assert r.loc[best, f"rank: {scenario}"] == 1
    assert r["mean_rank"].is_monotonic_increasing
    dd = small.ranking("fees")  # smaller is better for costs
    for scenario in small.scenarios:
        assert dd.loc[small.pivot("fees").loc[scenario].idxmin(), f"rank: {scenario}"] == 1
    with pytest.raises(KeyError, match="unknown metric"):
        small.pivot("sharp")


def test_report_folder(small, tmp_path):
    from backtester.report import write_report

    page = write_report(small, tmp_path / "rep", title="t")
    text = page.read_text()
    folder = page.parent
    pngs = sorted(p.name for p in folder.glob("*.png"))
    assert pngs, "no plots written"
    for name in pngs:
        assert f"src='{name}'" in text
    for csv in ("comparison.csv", "summary.csv", "ranking.csv", "total_return.csv"):
        assert (folder / csv).exists() and f"href='{csv}'" in text
    back = pd.read_csv(folder / "total_return.csv", index_col=0)
    np.testing.assert_allclose(back.to_numpy(), small.pivot("total_return").to_numpy())
    assert "not drawn" not in text


def test_equity_overlay_plots_naive_utc_times_with_the_same_ticks(small):
    # matplotlib converts a tz-aware index one Timestamp at a time (about 1 s per overlay on
    # the sample): the overlay plots naive UTC datetime64 and says UTC on the axis instead
    import matplotlib.pyplot as plt

    from backtester.report import equity_overlay

    scenario = small.scenarios[0]
    fig = equity_overlay(small, scenario)
    ax = fig.axes[0]
    res = small.results[(scenario, small.strategies[0], 0)]
    x = ax.lines[0].get_xdata()
    assert isinstance(x, np.ndarray) and x.dtype == np.dtype("datetime64[ns]")
    np.testing.assert_array_equal(x, res.equity.index.tz_convert("UTC").tz_localize(None).to_numpy())
    assert "UTC" in ax.get_xlabel()
    # the same ticks and labels as the tz-aware index gave
    ref, rax = plt.subplots(figsize=fig.get_size_inches())
    rax.plot(res.equity.index, res.equity["equity"].to_numpy())
    ref.autofmt_xdate()
    for f in (fig, ref):
        f.canvas.draw()
    np.testing.assert_allclose(ax.get_xticks(), rax.get_xticks())
    assert [t.get_text() for t in ax.get_xticklabels()] == [t.get_text() for t in rax.get_xticklabels()]
    plt.close("all")


def test_constrained_layout_figures_are_saved_without_a_tight_bbox(small, tmp_path, monkeypatch):
    # bbox_inches="tight" measures every artist again after the layout's own dry-run draw;
    # constrained layout already fits the figure, so only figures without it (the overlays,
    # legend outside the axes) are cropped
    import matplotlib.figure
    import matplotlib.pyplot as plt

    from backtester import plots
    from backtester.report import PNG_DPI, _save, equity_overlay

    measured = []
    tight = matplotlib.figure.Figure.get_tightbbox
    monkeypatch.setattr(matplotlib.figure.Figure, "get_tightbbox",
                        lambda self, *a, **k: measured.append(self) or tight(self, *a, **k))
    res = small.results[(small.scenarios[0], small.strategies[0], 0)]
    for make in (plots.plot_equity, plots.plot_margin, plots.plot_waterfall):
        fig = make(res)
        _save(fig, tmp_path / "fig.png")
        size = (fig.get_size_inches() * PNG_DPI).round().astype(int)
        assert plt.imread(tmp_path / "fig.png").shape[:2] == (size[1], size[0])  # the whole figure
    assert measured == []
    # the overlay's legend sits right of the axes, outside the figure: still cropped to fit it
    overlay = equity_overlay(small, small.scenarios[0])
    _save(overlay, tmp_path / "overlay.png")
    assert measured == [overlay]
    assert plt.imread(tmp_path / "overlay.png").shape[1] > overlay.get_size_inches()[0] * PNG_DPI
