"""Mean reversion on decision-time prices, with a liquidation guard."""
from __future__ import annotations

import numpy as np

from backtester import Strategy

from ._signals import PriceWindow, check_finite, liquidation_cap

#: entries (and guard reductions) go to this fraction of the liquidation cap, so ordinary drift
#: between decisions does not at once breach the distance and force a reduction
HEADROOM = 0.9


class MeanReversion(Strategy):
    """Fade price moves whose z-score against a rolling mean exceeds ``z_entry``; exit when it
    reverts under ``z_exit``; never hold a position liquidated within ``min_liq_distance``.

    At each decision the observed price joins a window of the last ``lookback`` decision-time
    prices; ``z = (price - mean) / std`` over that window. Flat: short at ``z >= z_entry``, long
    at ``z <= -z_entry``, sized ``leverage`` x equity. Holding: flat once ``|z| < z_exit``, or
    flipped when the move reaches ``z_entry`` the other way.

    Liquidation guard: the position's notional is capped so that its liquidation price stays at
    least ``min_liq_distance`` (a fraction of price) away. From the margin contract
    (docs/simulation.md: liquidation when ``NC < MMR``, ``NC = Q + S (P - E)``,
    ``MMR = |S| P MMF``), a position ``S`` at price ``P0`` with net collateral ``NC0`` and other
    positions' requirement ``MMR_o`` is liquidated at the ``P`` solving
    ``NC0 + S (P - P0) = |S| P MMF + MMR_o``. Setting ``P = P0 (1 - D)`` (long) or
    ``P0 (1 + D)`` (short) gives the cap (:func:`strategies._signals.liquidation_cap`)::

        long:  |S| P0 <= (NC0 - MMR_o) / (D + MMF (1 - D))
        short: |S| P0 <= (NC0 - MMR_o) / (D + MMF (1 + D))

    Entries go to at most ``HEADROOM`` (0.9) of the cap; at every decision a position whose
    notional has grown past the cap (an adverse move shrinks ``NC0``) is cut back to
    ``HEADROOM`` of it with a reduce-only market order.

    Parameters
    ----------
    market : str
        Market traded (default ``"BTC-USD"``).
    lookback : int
        Decisions in the rolling window (default 72: six hours at ``every="5min"``).
    z_entry, z_exit : float
        Entry and exit z-scores (defaults 2.0 and 0.5).
    leverage : float
        Target leverage of net collateral before the guard (default 3.0). With BTC's MMF of
        1.2 % the default guard allows about 5.6x at entry and cuts back as losses mount, so it
        binds for higher leverage or after an adverse move.
    min_liq_distance : float
        Minimum distance from the price to the liquidation price, as a fraction (default 0.15).
    every : str
        Decision cadence (default ``"5min"``).

    Notes
    -----
    No look-ahead: prices are the context's observed data; equity and the margin figures are
    the account's at the decision. The distance is measured from the observed oracle price (the
    engine liquidates at oracle prices). Between decisions the price can move, so the distance
    holds at decisions, and in between up to that move.

    Examples
    --------
    >>> import backtester as bt, data_loaders as dl
    >>> day = dl.sample().slice("2022-11-08", "2022-11-09")
    >>> res = bt.run(MeanReversion(leverage=20.0), day)
    >>> int(res.stats()["n_liquidations"])
    0
    """

    params = dict(market="BTC-USD", lookback=72, z_entry=2.0, z_exit=0.5, leverage=3.0,
                  min_liq_distance=0.15, every="5min")

    def init(self, data):
        check_finite(self, "leverage")
        if int(self.lookback) < 2:
            raise ValueError(f"lookback must be >= 2 decisions, got {self.lookback!r}")
        if not 0 <= self.z_exit <= self.z_entry:
            raise ValueError(f"need 0 <= z_exit <= z_entry, got z_exit={self.z_exit}, z_entry={self.z_entry}")
        if not 0 < self.min_liq_distance < 1:
            raise ValueError(f"min_liq_distance must be in (0, 1), got {self.min_liq_distance!r}")
        if self.leverage <= 0:
            raise ValueError(f"leverage must be > 0, got {self.leverage!r}")
        self._window = PriceWindow(int(self.lookback))
        self.guard_log: list = []  # (time, notional before, notional cap): reductions by the guard

    def zscore(self, price: float) -> float:
        """Push ``price`` into the window; its z-score (NaN until the window is full)."""
        self._window.push(price)
        if not self._window.full:
            return np.nan
        w = self._window.values()
        sd = w.std(ddof=1)
        return (price - w.mean()) / sd if sd > 0 else 0.0

    def side_for(self, z: float, held: int) -> int:
        """Side wanted given the z-score and the side held (the entry/exit/flip rule)."""
        if not np.isfinite(z):
            return held
        fade = -1 if z >= self.z_entry else 1 if z <= -self.z_entry else 0
        if fade != 0:
            return fade
        return held if abs(z) >= self.z_exit else 0

    def cap(self, ctx, side: int) -> float:
        """Largest notional on ``side`` keeping the liquidation ``min_liq_distance`` away."""
        m = self.market
        me = ctx.account(m)
        # the rest of the account's maintenance requirement, held fixed
        other = ctx.requirement([o for o in ctx.markets if o != m and ctx.account(o) == me])
        return liquidation_cap(ctx.equity(m), ctx.market_spec(m).mmf, self.min_liq_distance, side, other)

    def on_decision(self, ctx):
        m = self.market
        price, px = ctx.price(m), ctx.mark(m)
        if not (np.isfinite(price) and np.isfinite(px)):
            return
        z = self.zscore(price)
        pos = ctx.expected_position(m)
        held = int(np.sign(pos)) if abs(pos) * px >= 1.0 else 0
        want = self.side_for(z, held)
        if want == 0:
            if held:
                ctx.target_position(m, 0.0)
            return
        cap = self.cap(ctx, want)
        if want != held:
            target = min(self.leverage * max(ctx.equity(m), 0.0), HEADROOM * cap)
            ctx.target_notional(m, want * target)
        elif abs(pos) * px > cap:
            keep = HEADROOM * cap / px
            self.guard_log.append((ctx.time, abs(pos) * px, cap))
            # a reduce-only market order, not a target: the rebalance band must not swallow it
            ctx.submit(m, -np.sign(pos) * (abs(pos) - keep), reduce_only=True)
