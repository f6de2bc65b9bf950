"""`Context`: what a strategy sees and does at one decision time.

Market data is observed ``feed_latency`` late: a decision at ``t`` sees rows with
``ts <= t - feed_latency``. Positions are as acknowledged (fills whose acknowledgement has
arrived) or final. Balances (equity, free collateral, margin ratio) are the venue account's
at ``t``, marked at the oracle in force at ``t``, as a venue's account endpoint reports them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .kernel import enums as E
from .kernel.accounts_nb import account_state_nb


class Context:
    """Handed to ``Strategy.on_decision``; see the module docstring.

    Examples
    --------
    Inside ``on_decision(self, ctx)``::

        px = ctx.price("BTC-USD")                 # last observed trade price
        hist = ctx.history("BTC-USD", "1h")       # observed trades of the last hour
        if ctx.margin_ratio < 3:
            ctx.target_leverage("BTC-USD", 0.0)
        ctx.submit("ETH-USD", -0.5, limit=1600.0)  # sell 0.5 ETH at 1600 or better
    """

    def __init__(self, engine, market_data, decision: int, ts: int):
        self._engine = engine
        self._md = market_data
        self.decision = decision
        self.ts = int(ts)
        self.time = pd.Timestamp(self.ts, tz="UTC")
        self.markets = list(engine.layout.markets)
        self._seen = self.ts - int(engine.inputs.cfg_i[0])
        self._view = None

    # ------------------------------------------------------------------ helpers
    def _m(self, market: str) -> int:
        try:
            return self._engine.layout.markets.index(market)
        except ValueError:
            raise KeyError(f"unknown market {market!r}; markets: {self.markets}") from None

    # ------------------------------------------------------------------ market data
    def price(self, market: str) -> float:
        """Last observed trade price (NaN before the first)."""
        return self._md.last_trade(self._m(market), self._seen)

    def oracle(self, market: str) -> float:
        """Last observed oracle price (NaN before the first)."""
        return self._md.last_oracle(self._m(market), self._seen)

    def funding_rate(self, market: str) -> float:
        """Last observed funding rate of one interval (NaN before the first)."""
        return self._md.last_funding(self._m(market), self._seen)

    def history(self, market: str, window="1h") -> pd.DataFrame:
        """Observed trades of ``market`` in ``(t - window, t - feed_latency]`` (ts, price, size)."""
        start = self._seen - pd.Timedelta(window).value
        return self._md.trades_between(self._m(market), start, self._seen)

    # ------------------------------------------------------------------ account
    def position(self, market: str, final: bool = False) -> float:
        """Acknowledged position (base units), or with ``final=True`` the part that is final."""
        m = self._m(market)
        if final:
            f = self._engine.records("fills")
            ok = (f["market"] == m) & (f["final_ts"] <= self.ts) & (f["ack_ts"] <= self.ts) & ~f["reverted"]
            return float(np.sum(f["side"][ok] * f["size"][ok]))
        self._engine.view(self.ts)  # folds acknowledged fills into ack_pos
        return float(self._engine.state.ack_pos[m])

    def expected_position(self, market: str) -> float:
        """Acknowledged position plus what unsettled orders still intend to trade."""
        if self._view is None:
            self._view = self._engine.view(self.ts)
        return float(self._view[self._m(market)])

    def _account(self, market: str | None):
        eng = self._engine
        a = 0 if market is None else int(eng.inputs.mk_account[self._m(market)])
        return account_state_nb(eng.inputs, eng.state, a)

    def equity(self, market: str | None = None) -> float:
        """Net collateral of the account (of ``market``'s account in isolated mode)."""
        return float(self._account(market)[0])

    def free_collateral(self, market: str | None = None) -> float:
        nc, imr, _, _ = self._account(market)
        return float(nc - imr)

    def margin_ratio(self, market: str | None = None) -> float:
        """Net collateral / maintenance requirement (inf when flat; liquidation below 1)."""
        nc, _, mmr, _ = self._account(market)
        return float(nc / mmr) if mmr > 0 else float("inf")

    def open_orders(self) -> pd.DataFrame:
        """Orders not yet done (in flight, resting, armed stops)."""
        o = self._engine.records("orders")
        live = np.isin(o["status"], [E.ST_INFLIGHT, E.ST_OPEN, E.ST_PARTIAL, E.ST_ARMED])
        return pd.DataFrame(o[live])

    # ------------------------------------------------------------------ actions
    def submit(self, market: str, size: float, *, limit: float | None = None, stop: float | None = None,
               reduce_only: bool = False, post_only: bool = False, ioc: bool = False) -> int:
        """Send an order now; ``size`` is signed (+ buy, - sell). Returns the order id.

        Market by default; ``limit=`` makes it a limit order (``ioc=True``: fill at once or
        cancel), ``stop=`` a client-side stop-market that fires on observed prices.
        """
        if not np.isfinite(size) or size == 0:
            raise ValueError(f"size must be a non-zero finite number, got {size!r}")
        if limit is not None and stop is not None:
            raise ValueError("give limit= or stop=, not both")
        otype = E.OT_LIMIT if limit is not None else E.OT_STOP_MARKET if stop is not None else E.OT_MARKET
        self._view = None
        return self._engine.submit(self.ts, self._m(market), 1 if size > 0 else -1, abs(float(size)), otype,
                                   np.nan if limit is None else float(limit),
                                   np.nan if stop is None else float(stop), reduce_only, post_only, ioc)

    def stop(self, market: str, trigger: float, size: float | None = None) -> int:
        """A reduce-only stop-market closing the acknowledged position (or ``size``) at ``trigger``."""
        qty = -self.position(market) if size is None else size
        if qty == 0:
            raise ValueError(f"no position in {market!r} to protect; pass size=")
        return self.submit(market, qty, stop=trigger, reduce_only=size is None)

    def cancel(self, order_id: int) -> bool:
        """Send a cancel for ``order_id``; False if it is already done."""
        self._view = None
        return self._engine.cancel(self.ts, int(order_id))

    def target_position(self, market: str, size: float) -> int | None:
        """Trade toward a position of ``size`` base units (net of orders still in flight)."""
        delta = float(size) - self.expected_position(market)
        px = self.oracle(market)
        if not np.isfinite(px):
            px = self.price(market)
        cfg = self._engine.config
        band = max(cfg.min_trade_notional, cfg.rebalance_band * abs(float(size)) * px) if np.isfinite(px) else 0.0
        if not np.isfinite(px) or abs(delta) * px <= band:
            return None
        return self.submit(market, delta)

    def target_leverage(self, market: str, leverage: float) -> int | None:
        """Trade toward ``leverage`` x net collateral in ``market`` (signed: negative is short)."""
        px = self.oracle(market)
        if not np.isfinite(px):
            px = self.price(market)
        if not np.isfinite(px):
            return None
        return self.target_position(market, leverage * max(self.equity(market), 0.0) / px)

    def target_notional(self, market: str, notional: float) -> int | None:
        """Trade toward a position worth ``notional`` (quote, signed)."""
        px = self.oracle(market)
        if not np.isfinite(px):
            px = self.price(market)
        return None if not np.isfinite(px) else self.target_position(market, notional / px)
