"""Headline statistics of a `Result`."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .kernel.enums import LQ_LIQUIDATION, NO_TS
from .result import drawdown, margin_ratio

_YEAR = pd.Timedelta(days=365)
#: the reasons an order can be rejected with (docs/simulation.md, "Orders"): one stats line each
REJECTION_REASONS = ("insufficient_margin", "venue_down", "no_price")
#: the keys of :func:`stats_values`, in order (a sweep file's ``metric`` is checked against them
#: before any run; a test keeps the two equal)
METRICS = ("initial_equity", "final_equity", "total_return", "sharpe", "sortino", "max_drawdown", "price_pnl",
           "fees", "slippage_cost", "funding", "gas", "liquidation_losses", "insurance_cover", "n_liquidations",
           "n_fills", "min_margin_ratio", "mean_time_to_finality_s", "worst_time_to_finality_s", "n_rejected",
           *(f"rejected_{reason}" for reason in REJECTION_REASONS))


#: the :data:`METRICS` that depend on the equity path alone (:func:`equity_values` computes them)
EQUITY_METRICS = ("initial_equity", "final_equity", "total_return", "sharpe", "sortino", "max_drawdown")


def equity_values(equity, initial: float, sample_every, final: float | None = None) -> dict:
    """The :data:`EQUITY_METRICS` of an equity path: total return, annualised Sharpe and Sortino
    of the returns between samples, max drawdown (from ``initial`` too).

    Parameters
    ----------
    equity : array-like
        Equity samples, one every ``sample_every``.
    initial : float
        Equity before the first sample.
    sample_every : Timedelta
        The samples' clock (annualisation).
    final : float, optional
        Equity at the end; default the last sample (``initial`` when there is none).

    Examples
    --------
    >>> v = equity_values([100.0, 110.0, 99.0], 100.0, pd.Timedelta("1D"))
    >>> round(v["total_return"], 4), round(v["max_drawdown"], 4)
    (-0.01, -0.1)
    """
    equity = np.asarray(equity, dtype=float)
    if final is None:
        final = float(equity[-1]) if len(equity) else float(initial)
    rets = np.zeros(0)
    if len(equity) > 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            rets = equity[1:] / equity[:-1] - 1.0  # pct_change
        rets = rets[np.isfinite(rets)]
    per_year = _YEAR / pd.Timedelta(sample_every)
    sd = rets.std(ddof=1) if len(rets) > 1 else np.nan
    downside = np.sqrt(np.mean(np.minimum(rets, 0.0) ** 2)) if len(rets) else np.nan
    return {
        "initial_equity": float(initial),
        "final_equity": float(final),
        "total_return": final / initial - 1.0 if initial else np.nan,
        "sharpe": float(rets.mean() / sd * np.sqrt(per_year)) if len(rets) > 1 and sd > 0 else np.nan,
        "sortino": float(rets.mean() / downside * np.sqrt(per_year)) if len(rets) > 1 and downside > 0 else np.nan,
        "max_drawdown": float(drawdown(equity, initial).min()) if len(equity) else 0.0,
    }


def compute_stats(res) -> pd.Series:
    """:func:`stats_values` as a Series named after the strategy (``Result.stats``)."""
    return pd.Series(stats_values(res), name=res.strategy.name)


def stats_values(res) -> dict:
    """Total return, annualised Sharpe and Sortino (from equity samples), max drawdown, price
    P&L and costs by kind (fees, slippage, funding, gas, liquidation losses, insurance cover: the lines of
    :func:`backtester.analysis.pnl_breakdown`, as positive costs, funding positive = received),
    liquidations, trading fills, minimum margin ratio, time to finality (mean and worst), and
    rejected orders (in all, and by reason), as a dict in that order. Fills reverted by a reorg
    count nowhere."""
    # from the raw records and sample columns (no frames): this runs once per sweep run
    samples = res.engine.records("samples", copy=False)
    initial = float(np.sum(res.engine.initial_cash))
    from .analysis import pnl_values

    # the cost lines are the P&L waterfall's, so stats and the waterfall plot always agree
    pnl = pnl_values(res)
    fills = res.engine.records("fills", copy=False)
    liq = res.engine.records("liquidations", copy=False)
    live = fills[~fills["reverted"]]
    n_trades = int((live["liquidity"] != LQ_LIQUIDATION).sum())
    final_ = live["final_ts"] != NO_TS  # never final: left out of both
    ttf = (live["final_ts"][final_] - live["ts"][final_]) / 1e9  # seconds (numpy: this runs per sweep run)
    out = {
        **equity_values(samples["equity"], initial, res.sample_every, res.final_equity()),
        "price_pnl": float(pnl["price_pnl"]),
        "fees": 0.0 - float(pnl["fees"]),
        "slippage_cost": 0.0 - float(pnl["slippage"]),
        "funding": float(pnl["funding"]),
        "gas": 0.0 - float(pnl["gas"]),
        "liquidation_losses": 0.0 - float(pnl["liquidation_losses"]),
        "insurance_cover": float(pnl["insurance_cover"]),
        "n_liquidations": len(set(zip(liq["ts"].tolist(), liq["account"].tolist()))),
        "n_fills": n_trades,
        "min_margin_ratio": _min_margin_ratio(res, samples),
        "mean_time_to_finality_s": float(ttf.mean()) if len(ttf) else np.nan,
        "worst_time_to_finality_s": float(ttf.max()) if len(ttf) else np.nan,
    }
    rejected = res.rejection_counts()
    out["n_rejected"] = sum(rejected.values())
    for reason in REJECTION_REASONS:
        out[f"rejected_{reason}"] = rejected.get(reason, 0)
    return out


def _min_margin_ratio(res, samples) -> float:
    """Lowest margin ratio seen: the equity samples' and, since a liquidation can happen
    between two samples, the ratio each liquidated account had just before its liquidation."""
    from .analysis import liquidation_events

    low = float(margin_ratio(samples["equity"], samples["mmr"]).min()) if len(samples) else np.inf
    if len(res.engine.records("liquidations", copy=False)):
        low = min(low, float(liquidation_events(res)["margin_ratio"].min()))
    return low
