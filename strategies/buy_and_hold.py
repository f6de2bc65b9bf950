"""Buy and hold at a fixed leverage: the baseline every other strategy is compared with."""
import numpy as np

from backtester import Strategy

from ._signals import check_finite


class BuyAndHold(Strategy):
    """Go long ``leverage`` x equity in ``market`` at the first decision and hold.

    Parameters
    ----------
    market : str
        Market to hold (default ``"BTC-USD"``).
    leverage : float
        Target leverage of net collateral (negative holds a short).

    Examples
    --------
    >>> import backtester as bt, data_loaders as dl
    >>> res = bt.run(BuyAndHold(leverage=2.0), dl.sample("btcusdt-tape"))
    >>> int(res.stats()["n_fills"])
    1
    """

    params = dict(market="BTC-USD", leverage=1.0)
    every = "1min"

    def init(self, data):
        check_finite(self, "leverage")
        plan = np.full(len(self.decision_times), np.nan)
        if len(plan):
            plan[0] = self.leverage  # one order at the first decision, then hold
        self.set_targets(self.market, plan, kind="leverage")
