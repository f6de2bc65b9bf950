"""Headline statistics of a `Result`."""
from __future__ import annotations

import numpy as np
import pandas as pd

_YEAR = pd.Timedelta(days=365)


def compute_stats(res) -> pd.Series:
    """Total return, annualised Sharpe and Sortino (from equity samples), max drawdown, costs
    by kind (fees, slippage, funding, gas, liquidation losses), liquidations, minimum margin
    ratio, and time to finality (mean and worst), as one Series."""
    eq = res.equity
    initial = float(res.engine.initial_cash.sum())
    final = res.final_equity()
    rets = eq["equity"].pct_change().replace([np.inf, -np.inf], np.nan).dropna() if len(eq) > 1 else pd.Series(dtype=float)
    per_year = _YEAR / pd.Timedelta(res.config.sample_every)
    sd = rets.std()
    downside = np.sqrt(np.mean(np.minimum(rets, 0.0) ** 2)) if len(rets) else np.nan
    ledger = res.ledger
    trader = ~ledger["account"].astype(str).str.startswith("insurance:") if len(ledger) else []

    def total(kind):
        if not len(ledger):
            return 0.0
        return float(ledger.loc[trader & (ledger["kind"] == kind), "amount"].sum())

    fills = res.fills
    liq = res.liquidations
    liq_fills = fills[fills["liquidity"] == "liquidation"] if len(fills) else fills
    spread_loss = float((liq["size"].abs() * (liq["oracle_price"] - liq["price"]).abs()).sum()) if len(liq) else 0.0
    ttf = fills["time_to_finality"] if len(fills) else pd.Series(dtype="timedelta64[ns]")
    out = {
        "initial_equity": initial,
        "final_equity": final,
        "total_return": final / initial - 1.0 if initial else np.nan,
        "sharpe": float(rets.mean() / sd * np.sqrt(per_year)) if len(rets) > 1 and sd > 0 else np.nan,
        "sortino": float(rets.mean() / downside * np.sqrt(per_year)) if len(rets) > 1 and downside > 0 else np.nan,
        "max_drawdown": float(eq["drawdown"].min()) if len(eq) else 0.0,
        "fees": 0.0 - total("fee"),
        "slippage_cost": float(fills["slippage_cost"].sum()) if len(fills) else 0.0,
        "funding": total("funding"),
        "gas": 0.0 - total("gas"),
        "liquidation_losses": spread_loss - total("liquidation_fee"),
        "n_liquidations": int(liq[["ts", "account"]].drop_duplicates().shape[0]) if len(liq) else 0,
        "n_fills": int(len(fills) - len(liq_fills)),
        "min_margin_ratio": float(eq["margin_ratio"].min()) if len(eq) else np.inf,
        "mean_time_to_finality_s": float(ttf.mean().total_seconds()) if len(ttf) else np.nan,
        "worst_time_to_finality_s": float(ttf.max().total_seconds()) if len(ttf) else np.nan,
    }
    return pd.Series(out, name=res.strategy.name)
