"""Headline statistics of a `Result`."""
from __future__ import annotations

import numpy as np
import pandas as pd

_YEAR = pd.Timedelta(days=365)
#: the reasons an order can be rejected with (docs/simulation.md, "Orders"): one stats line each
REJECTION_REASONS = ("insufficient_margin", "venue_down", "no_price")


def compute_stats(res) -> pd.Series:
    """Total return, annualised Sharpe and Sortino (from equity samples), max drawdown, price
    P&L and costs by kind (fees, slippage, funding, gas, liquidation losses, insurance cover: the lines of
    :func:`backtester.analysis.pnl_breakdown`, as positive costs, funding positive = received),
    liquidations, trading fills, minimum margin ratio, time to finality (mean and worst), and
    rejected orders (in all, and by reason), as one Series. Fills reverted by a reorg count nowhere."""
    eq = res.equity
    initial = float(res.initial_cash.sum())
    final = res.final_equity()
    rets = eq["equity"].pct_change().replace([np.inf, -np.inf], np.nan).dropna() if len(eq) > 1 else pd.Series(dtype=float)
    per_year = _YEAR / res.sample_every
    sd = rets.std()
    downside = np.sqrt(np.mean(np.minimum(rets, 0.0) ** 2)) if len(rets) else np.nan
    from .analysis import pnl_breakdown

    # the cost lines are the P&L waterfall's, so stats and the waterfall plot always agree
    pnl = pnl_breakdown(res)
    fills = res.fills
    liq = res.liquidations
    live = fills[~fills["reverted"].astype(bool)] if len(fills) else fills
    trades = live[live["liquidity"] != "liquidation"] if len(live) else live
    ttf = live["time_to_finality"] if len(live) else pd.Series(dtype="timedelta64[ns]")
    out = {
        "initial_equity": initial,
        "final_equity": final,
        "total_return": final / initial - 1.0 if initial else np.nan,
        "sharpe": float(rets.mean() / sd * np.sqrt(per_year)) if len(rets) > 1 and sd > 0 else np.nan,
        "sortino": float(rets.mean() / downside * np.sqrt(per_year)) if len(rets) > 1 and downside > 0 else np.nan,
        "max_drawdown": float(eq["drawdown"].min()) if len(eq) else 0.0,
        "price_pnl": float(pnl["price_pnl"]),
        "fees": 0.0 - float(pnl["fees"]),
        "slippage_cost": 0.0 - float(pnl["slippage"]),
        "funding": float(pnl["funding"]),
        "gas": 0.0 - float(pnl["gas"]),
        "liquidation_losses": 0.0 - float(pnl["liquidation_losses"]),
        "insurance_cover": float(pnl["insurance_cover"]),
        "n_liquidations": int(liq[["ts", "account"]].drop_duplicates().shape[0]) if len(liq) else 0,
        "n_fills": int(len(trades)),
        "min_margin_ratio": _min_margin_ratio(res, eq),
        "mean_time_to_finality_s": float(ttf.mean().total_seconds()) if len(ttf) else np.nan,
        "worst_time_to_finality_s": float(ttf.max().total_seconds()) if len(ttf) else np.nan,
    }
    rejected = res.rejections()
    out["n_rejected"] = int(rejected.sum())
    for reason in REJECTION_REASONS:
        out[f"rejected_{reason}"] = int(rejected.get(reason, 0))
    return pd.Series(out, name=res.strategy.name)


def _min_margin_ratio(res, eq) -> float:
    """Lowest margin ratio seen: the equity samples' and, since a liquidation can happen
    between two samples, the ratio each liquidated account had just before its liquidation."""
    from .analysis import liquidation_events

    low = float(eq["margin_ratio"].min()) if len(eq) else np.inf
    if len(res.liquidations):
        low = min(low, float(liquidation_events(res)["margin_ratio"].min()))
    return low
