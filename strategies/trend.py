"""Breakout trend following at a target leverage, protected by a client-side trailing stop."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from backtester import Strategy

from ._signals import PriceWindow, check_finite


class TrendFollowing(Strategy):
    """Donchian breakout on decision-time prices with a trailing stop-market order.

    At each decision the observed price is compared with the ``lookback`` decision-time prices
    before it: above their maximum is an upside breakout (go long ``leverage`` x equity), below
    their minimum a downside breakout (go short, if ``allow_short``; else flat). The position is
    sized once, at entry, and then left to drift with price.

    Protection is a client-side stop-market order (``ctx.submit(stop=...)``, reduce-only) placed
    with the entry at ``price * (1 - trail)`` (long) or ``price * (1 + trail)`` (short). At each
    decision the high-water mark (low-water for a short) takes in every trade observed since the
    last decision; when the stop level it implies has moved by more than ``step`` (fraction of
    the current level) the old stop is cancelled and a new one sent. The stop therefore fires
    between decisions, on observed trades, and only ratchets in the position's favour.

    After a stop-out the strategy is flat and waits for a *fresh* breakout: entries happen only
    on a breakout at the decision itself, never on a signal that was already there.

    Parameters
    ----------
    market : str
        Market traded (default ``"BTC-USD"``).
    lookback : int
        Decisions in the breakout channel (default 144: twelve hours at ``every="5min"``; a
        channel narrower than ``trail`` would flip the position before the stop could act).
    leverage : float
        Target leverage of net collateral at entry (default 3.0).
    trail : float
        Trailing-stop distance as a fraction of the high/low-water mark (default 0.03).
    step : float
        Minimum move of the stop level, as a fraction of it, before the stop is replaced
        (default 0.002): fewer cancels and less gas, at most this much looser protection.
    allow_short : bool
        Trade downside breakouts short (default True); False only exits on them.
    every : str
        Decision cadence (default ``"5min"``).

    Notes
    -----
    No look-ahead: prices are the context's observed data (``ts <= t - feed_latency``). The
    stop's size is the position expected after the entry order, so a stop sent before the entry
    fill is acknowledged still covers it; being reduce-only it never opens a position.

    Examples
    --------
    >>> import backtester as bt, data_loaders as dl
    >>> day = dl.sample().slice("2022-11-08", "2022-11-09")
    >>> res = bt.run(TrendFollowing(lookback=24, trail=0.02), day)
    >>> int(res.stats()["n_liquidations"])
    0
    """

    params = dict(market="BTC-USD", lookback=144, leverage=3.0, trail=0.03, step=0.002, allow_short=True,
                  every="5min")

    def init(self, data):
        check_finite(self, "leverage")
        if int(self.lookback) < 1:
            raise ValueError(f"lookback must be >= 1 decision, got {self.lookback!r}")
        if not 0 < self.trail < 1:
            raise ValueError(f"trail must be a fraction in (0, 1), got {self.trail!r}")
        if self.step < 0 or self.leverage <= 0:
            raise ValueError("step must be >= 0 and leverage > 0")
        self._window = PriceWindow(int(self.lookback))
        self._side = 0            # side we believe we hold (+1, -1, 0)
        self._extreme = np.nan    # high-water mark (long) or low-water mark (short)
        self._stop_id = None
        self._stop_level = np.nan
        t = data.trades.filter(pc.equal(data.trades.column("market").cast(pa.string()), self.market))
        self._tape_ts = t.column("ts").cast(pa.int64()).to_numpy()  # the tape the context observes,
        self._tape_px = t.column("price").to_numpy()                  # as arrays: cheap slices per decision
        self._seen_until = None   # observation horizon of the previous decision (ns)
        self.trades_log: list = []  # (time, event, price): entries, stop moves, stop-outs

    # ---------------------------------------------------------------- decision
    def on_decision(self, ctx):
        m = self.market
        price = ctx.price(m)
        if not np.isfinite(price):
            return
        seen_until, self._seen_until = self._seen_until, ctx.seen_ts
        if self._side != 0:
            self._check_stopped(ctx, price)
        signal = self._breakout(price)
        self._window.push(price)
        want = signal if (signal > 0 or self.allow_short) else 0
        if signal != 0 and want != self._side:
            self._enter(ctx, want, price)
        elif self._side != 0:
            self._trail(ctx, seen_until, self._seen_until)

    def _breakout(self, price: float) -> int:
        """+1 above the channel's top, -1 below its bottom, 0 inside (or channel not full)."""
        if not self._window.full:
            return 0
        past = self._window.values()
        return 1 if price > past.max() else -1 if price < past.min() else 0

    def _check_stopped(self, ctx, price):
        """Flat although we hold a side: the stop fired (or the entry was rejected)."""
        pos = ctx.expected_position(self.market)
        if abs(pos) * price >= 1.0:
            return
        self._cancel_stop(ctx)
        self._side = 0
        self.trades_log.append((ctx.time, "stopped", price))

    def _enter(self, ctx, side, price):
        self._cancel_stop(ctx)
        ctx.target_leverage(self.market, side * self.leverage)
        self._side = side
        self._extreme = price
        self._stop_level = np.nan
        event = "enter_long" if side > 0 else "enter_short" if side < 0 else "exit"
        self.trades_log.append((ctx.time, event, price))
        if side != 0:
            self._place_stop(ctx, self._level())

    # ---------------------------------------------------------------- trailing stop
    def _level(self) -> float:
        return self._extreme * (1.0 - self._side * self.trail)

    def _trail(self, ctx, since, until):
        """Take in the trades observed in ``(since, until]`` and move the stop if it is due."""
        lo = 0 if since is None else np.searchsorted(self._tape_ts, since, side="right")
        seen = self._tape_px[lo:np.searchsorted(self._tape_ts, until, side="right")]
        if len(seen):
            best = seen.max() if self._side > 0 else seen.min()
            self._extreme = max(self._extreme, best) if self._side > 0 else min(self._extreme, best)
        level = self._level()
        moved = (level - self._stop_level) * self._side  # > 0: tighter, in the position's favour
        if not np.isfinite(self._stop_level) or moved > self.step * self._stop_level:
            self._cancel_stop(ctx)
            self._place_stop(ctx, level)

    def _place_stop(self, ctx, level):
        pos = ctx.expected_position(self.market)
        if pos == 0 or np.sign(pos) != self._side:
            return  # entry not sent (band / no price): nothing to protect
        self._stop_id = ctx.submit(self.market, -pos, stop=level, reduce_only=True)
        self._stop_level = level
        self.trades_log.append((ctx.time, "stop", level))

    def _cancel_stop(self, ctx):
        if self._stop_id is None:
            return
        if ctx.is_live(self._stop_id):
            ctx.cancel(self._stop_id)
        self._stop_id = None
