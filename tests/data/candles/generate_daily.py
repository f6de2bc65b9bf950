"""Writes ``BTCUSD-1d-2023-generated.csv``: 365 generated daily BTC bars (see README.md).

Run from the repository root: ``python tests/data/candles/generate_daily.py``. The output is
deterministic (fixed seed); the file in the repository is this script's output.
"""
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 2023
#: BTC-USD near the first open and the last close of 2023 (rounded public levels)
FIRST_OPEN, LAST_CLOSE = 16_540.0, 42_280.0
DAILY_VOL = 0.026  # standard deviation of daily log returns, about BTC's in 2023
TAIL_DF = 4  # Student-t shocks: fat tails like real daily returns
WICK_VOL = 0.012  # typical distance of the high and low beyond the body, in log terms
MEDIAN_VOLUME = 150_000.0  # base units per day, about a large perpetual's
VOLUME_DISPERSION = 0.35


def daily_bars(days: int = 365, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shocks = rng.standard_t(TAIL_DF, days) * DAILY_VOL / np.sqrt(TAIL_DF / (TAIL_DF - 2))
    walk = np.cumsum(shocks)
    # a Brownian bridge: the same shocks, tilted so the year ends at LAST_CLOSE
    drift = (np.log(LAST_CLOSE / FIRST_OPEN) - walk[-1]) * np.arange(1, days + 1) / days
    close = FIRST_OPEN * np.exp(walk + drift)
    open_ = np.r_[FIRST_OPEN, close[:-1]]  # a 24/7 market: each day opens at the last close
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, WICK_VOL, days)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, WICK_VOL, days)))
    busy = 1 + 8 * np.abs(shocks)  # more volume on days that move more
    volume = MEDIAN_VOLUME * busy * np.exp(rng.normal(0, VOLUME_DISPERSION, days))
    return pd.DataFrame({
        "ts": pd.date_range("2023-01-01", periods=days, freq="1D", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
        "open": open_.round(1), "high": high.round(1), "low": low.round(1), "close": close.round(1),
        "volume": volume.round(3),
    })


if __name__ == "__main__":
    out = Path(__file__).with_name("BTCUSD-1d-2023-generated.csv")
    daily_bars().to_csv(out, index=False)
    print(f"wrote {out}")
