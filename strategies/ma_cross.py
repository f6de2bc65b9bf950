"""Moving-average crossover at a target leverage (fast path: targets planned in ``init``)."""
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from backtester import Strategy


def _last_prices(data, market: str, times: pd.DatetimeIndex) -> pd.Series:
    """Last trade price at or before each time (what a decision at that time has seen)."""
    t = data.trades.filter(pc.equal(data.trades.column("market").cast(pa.string()), market))
    ts = t.column("ts").cast(pa.int64()).to_numpy()
    px = t.column("price").to_numpy()
    i = np.searchsorted(ts, times.asi8, side="right") - 1
    return pd.Series(np.where(i >= 0, px[np.maximum(i, 0)], np.nan), index=times)


class MaCross(Strategy):
    """Long ``leverage`` when the fast average of decision-time prices is above the slow one,
    short below.

    Parameters
    ----------
    market : str
    fast, slow : int
        Window lengths, in decisions.
    leverage : float
        Absolute target leverage.

    Notes
    -----
    The averages use prices seen at decision times only (``ts <= t``), so no decision sees its
    future. With a feed latency, the run's context would see slightly older prices; this
    plan-only strategy uses ``ts <= t``, which is exact for ``feed_latency=0``.
    """

    params = dict(market="BTC-USD", fast=20, slow=100, leverage=3.0)
    every = "1min"

    def init(self, data):
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        px = _last_prices(data, self.market, self.decision_times)
        fast = px.rolling(self.fast, min_periods=self.fast).mean()
        slow = px.rolling(self.slow, min_periods=self.slow).mean()
        signal = np.sign(fast - slow) * self.leverage
        self.set_targets(self.market, signal.where(slow.notna()).to_numpy(), kind="leverage")
