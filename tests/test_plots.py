"""Plots build on real results, and what they draw is the data of backtester.analysis (checked
through the artists, not the pixels)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import io  # noqa: E402

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import backtester as bt  # noqa: E402
from backtester import analysis as an  # noqa: E402
from backtester import plots  # noqa: E402
from strategies import BuyAndHold  # noqa: E402
from tests.test_analysis import _tidy, day, runs  # noqa: E402

KINDS = ["equity", "margin", "ladder", "waterfall", "funding", "finality", "dashboard"]


@pytest.fixture(autouse=True)
def no_show_and_close(monkeypatch):
    """No plot may call plt.show(); every test leaves no figure open."""
    def refuse(*a, **k):
        raise AssertionError("a plot function called plt.show()")

    monkeypatch.setattr(plt, "show", refuse)
    yield
    plt.close("all")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    return buf.getvalue()


def _x(index) -> np.ndarray:
    """Times as matplotlib plots them (days since its epoch)."""
    return mdates.date2num(pd.DatetimeIndex(index).tz_convert("UTC").tz_localize(None).to_pydatetime())


@pytest.mark.parametrize("name", ["hold", "liquidated", "reorged", "tape"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_plot_builds_and_saves_on_real_results(name, kind):
    res = runs()[name]
    if kind == "funding" and res.data.funding.num_rows == 0:
        with pytest.raises(ValueError, match="no funding rows"):
            res.plot(kind)
        return
    fig = res.plot(kind)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert _png(fig)[:4] == b"\x89PNG"
    for ax in fig.axes:  # every Axes says what it shows, with a unit
        labels = ax.get_xlabel() + ax.get_ylabel()
        assert "(" in labels, (kind, ax.get_title(), labels)
    assert any(ax.get_title() for ax in fig.axes) or fig.get_suptitle()


def test_result_plot_names_the_close_kind():
    with pytest.raises(ValueError, match="did you mean 'ladder'"):
        runs()["hold"].plot("ladr")


# ============================================================================ equity and margin
def test_equity_plot_draws_equity_and_drawdown_on_a_shared_time_axis():
    res = runs()["liquidated"]
    fig = plots.plot_equity(res)
    ax_eq, ax_dd = fig.axes
    data = an.equity_frame(res)
    np.testing.assert_array_equal(ax_eq.lines[0].get_ydata(), data["equity"].to_numpy())
    np.testing.assert_allclose(ax_dd.lines[0].get_ydata(), data["drawdown"].to_numpy() * 100)
    np.testing.assert_allclose(mdates.date2num(ax_eq.lines[0].get_xdata()), _x(data.index))
    assert ax_eq.get_shared_x_axes().joined(ax_eq, ax_dd)
    assert "%" in ax_dd.get_ylabel() and "USD" in ax_eq.get_ylabel()


def test_margin_plot_marks_the_maintenance_line_and_the_liquidation():
    res = runs()["liquidated"]
    fig = plots.plot_margin(res)
    ax = fig.axes[0]
    ratio = an.margin_frame(res)["margin_ratio"].to_numpy()
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), ratio)
    assert np.isnan(ratio).any()  # flat after the liquidation: gaps, not inf
    assert list(ax.lines[1].get_ydata()) == [1.0, 1.0]
    ev = an.liquidation_events(res)
    off = ax.collections[0].get_offsets()
    assert len(off) == len(ev) == 1
    np.testing.assert_allclose(off[:, 0], _x(ev["ts"]))
    np.testing.assert_allclose(off[:, 1], ev["margin_ratio"])
    assert ax.get_yscale() == "log"


def test_margin_plot_of_a_run_never_exposed():
    res = bt.run(BuyAndHold(leverage=0.0), day())
    assert np.isinf(res.equity["margin_ratio"]).all()
    fig = plots.plot_margin(res)
    assert np.isnan(fig.axes[0].lines[0].get_ydata()).all()
    _png(fig)


def test_plot_draws_into_a_given_axes():
    fig, (a, b) = plt.subplots(1, 2)
    assert plots.plot_margin(runs()["hold"], ax=b) is fig
    assert plots.plot_waterfall(runs()["hold"], ax=a) is fig
    assert len(fig.axes) == 2 and len(a.patches) == len(an.PNL_ITEMS) and len(b.lines) >= 2


# ============================================================================ waterfall
@pytest.mark.parametrize("name", ["hold", "liquidated", "reorged"])
def test_waterfall_bars_are_the_breakdown(name):
    res = runs()[name]
    fig = plots.plot_waterfall(res)
    bars = fig.axes[0].patches
    pnl = an.pnl_breakdown(res)
    heights = np.array([p.get_height() for p in bars])
    bottoms = np.array([p.get_y() for p in bars])
    np.testing.assert_allclose(heights, pnl.to_numpy())
    # each item floats from the running total; net stands on zero and ends where the items end
    np.testing.assert_allclose(bottoms[:-1], np.concatenate([[0.0], np.cumsum(pnl.to_numpy()[:-2])]), atol=1e-9)
    assert bottoms[-1] == 0.0
    assert bottoms[-2] + heights[-2] == pytest.approx(heights[-1], abs=1e-6)


# ============================================================================ ladder
def test_ladder_plot_carries_the_ladder_and_the_shock_table():
    res = runs()["pair"]
    fig = plots.plot_ladder(res)
    ax_l, ax_s = fig.axes
    lad = an.liquidation_ladder(res)
    assert len(lad) == 2
    liq, acc = ax_l.collections[1].get_offsets(), ax_l.collections[2].get_offsets()
    np.testing.assert_allclose(liq[:, 0], lad["liq_move"] * 100)
    np.testing.assert_allclose(acc[:, 0], lad["account_liq_move"] * 100)
    np.testing.assert_array_equal(liq[:, 1], np.arange(2))
    assert [t.get_text().split("\n")[0] for t in ax_l.get_yticklabels()] == list(lad.index)
    tab = an.shock_table(res)
    np.testing.assert_allclose(ax_s.lines[0].get_xdata(), tab.index * 100)
    np.testing.assert_allclose(ax_s.lines[0].get_ydata(), tab["equity"])
    np.testing.assert_allclose(ax_s.lines[1].get_ydata(), tab["mmr"])


def test_ladder_plot_without_positions():
    res = runs()["hold"]
    fig = plots.plot_ladder(res, at=res.equity.index[0] - pd.Timedelta("1s"), shocks=[-0.2, 0.0, 0.2])
    assert len(fig.axes[0].collections[1].get_offsets()) == 0
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), [10_000.0] * 3)
    _png(fig)


# ============================================================================ funding, finality
def test_funding_plot_carries_rate_z_and_sizing():
    res = runs()["hold"]
    fig = plots.plot_funding(res)
    ax_r, ax_z, ax_m, ax_n = fig.axes
    ff = an.funding_frame(res)
    np.testing.assert_allclose(ax_r.lines[0].get_ydata(), ff["funding_rate"] * 1e4)
    np.testing.assert_allclose(ax_z.lines[0].get_ydata(), ff["funding_z"], equal_nan=True)
    assert sorted(ln.get_ydata()[0] for ln in ax_z.lines[1:3]) == [-1.0, 1.0]  # thresholds
    np.testing.assert_allclose(ax_m.lines[0].get_ydata(), ff["funding_risk_multiplier"])
    np.testing.assert_allclose(ax_n.lines[0].get_ydata(), ff["max_notional"])


def test_finality_plot_carries_each_fill_and_the_pending_exposure():
    res = runs()["reorged"]
    fig = plots.plot_finality(res)
    ax_f, ax_h, ax_p = fig.axes
    ff = an.finality_frame(res)
    pts = np.concatenate([c.get_offsets() for c in ax_f.collections[:ff["liquidity"].nunique()]])
    np.testing.assert_allclose(np.sort(pts[:, 1]), np.sort(ff["time_to_finality_s"]))
    np.testing.assert_allclose(np.sort(pts[:, 0]), np.sort(_x(ff["ts"])))
    assert len(ax_f.collections[-1].get_offsets()) == ff["reverted"].sum() == 3  # reorged fills ringed
    assert sum(p.get_width() for p in ax_h.patches) == len(ff)
    pe = an.pending_exposure(res)
    np.testing.assert_allclose(ax_p.lines[0].get_ydata(), pe.to_numpy())


# ============================================================================ heatmap
def test_heatmap_cells_are_the_seed_means():
    t = _tidy()
    fig = plots.heatmap(t, "total_return")
    ax = fig.axes[0]
    h = an.heatmap_table(t, "total_return")
    np.testing.assert_allclose(ax.images[0].get_array(), h.to_numpy())
    assert [tx.get_text() for tx in ax.texts] == [f"{v:+.1%}" for v in h.to_numpy().ravel()]
    norm = ax.images[0].norm
    assert norm.vmin == -norm.vmax  # diverging, centred at 0
    assert ax.images[0].get_cmap().name == "RdYlGn"
    assert [tl.get_text() for tl in ax.get_yticklabels()] == ["normal", "outage"]


def test_heatmap_of_a_cost_reverses_the_colours_and_accepts_a_pivot():
    t = _tidy()
    fig = plots.heatmap(t, "fees")
    assert fig.axes[0].images[0].get_cmap().name == "RdYlGn_r"
    pivot = an.heatmap_table(t, "fees")
    fig2, ax = plt.subplots()
    assert plots.heatmap(pivot, ax=ax) is fig2
    np.testing.assert_allclose(ax.images[0].get_array(), pivot.to_numpy())


@pytest.mark.parametrize("n_rows, n_cols", [(1, 1), (2, 3), (12, 7)])
def test_heatmap_with_long_labels_keeps_its_layout(tmp_path, n_rows, n_cols):
    # long scenario names beside, long strategy names rotated below: the figure makes room for
    # both, so constrained layout never gives up ("axes sizes collapsed to zero")
    import warnings

    rows = [dict(scenario=f"crash -35% @ 2022-11-10 00:00 (5min gap) #{i}", strategy=f"BuyAndHold(leverage=3.0)+MarginGuard(3/5)+KillSwitch(25%) #{j}",
                 seed=0, metric="total_return", value=0.1 * (i - j)) for i in range(n_rows) for j in range(n_cols)]
    fig = plots.heatmap(pd.DataFrame(rows), "total_return")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.savefig(tmp_path / "h.png")
    plt.close(fig)


def test_dashboard_combines_the_four_views():
    fig = plots.dashboard(runs()["pair"])
    titles = " ".join(ax.get_title() for ax in fig.axes)
    for word in ("equity", "margin ratio", "waterfall", "Liquidation ladder", "price shocks"):
        assert word in titles
    assert len(fig.axes) == 6
