"""Moving-average crossover at a target leverage (fast path: targets planned in ``init``)."""
import numpy as np

from backtester import Strategy

from ._signals import check_finite, rolling_mean


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
        check_finite(self, "leverage")
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        px = data.prices_at("trades", self.market, self.decision_times)  # what each decision has seen
        fast = rolling_mean(px, self.fast)
        slow = rolling_mean(px, self.slow)
        signal = np.sign(fast - slow) * self.leverage
        signal[np.isnan(slow)] = np.nan
        self.set_targets(self.market, signal, kind="leverage")
