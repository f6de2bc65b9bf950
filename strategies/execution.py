"""Execution algorithms: how a target position becomes orders.

The seed texts automate "order slicing and limit-to-market logic". An execution has three
hooks, called by :class:`strategies.guarded.Guarded`:

``trade_to(ctx, market, position)``
    The strategy (through the risk controls) wants ``position`` base units in ``market``.
    Called at every decision the strategy states a target, with the same goal repeated while
    it holds; a goal that moves by more than the rebalance band is a new goal.
``on_decision(ctx)``
    Called once at the end of every decision: progress the working orders (the next slice,
    the fallback of a limit that waited too long).
``reset()``
    Forget working state (a new run, or a risk control stopped the strategy).

``goals()`` tells which goals are still being worked, so ``Guarded`` can pass them through
the risk controls again when those tighten.

Examples
--------
>>> from strategies.execution import TWAP, LimitThenMarket
>>> TWAP(slices=4).name, LimitThenMarket(offset_bps=2.0, patience=3).name
('TWAP(4)', 'LimitThenMarket(2bp,3)')
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .risk import DUST


class Execution:
    """Base class; see the module docstring.

    Examples
    --------
    >>> class Halfway(Execution):
    ...     name = "Halfway"
    ...     def trade_to(self, ctx, market, position):
    ...         return ctx.target_position(market, 0.5 * (position + ctx.expected_position(market)))
    """

    name: str = "Execution"

    def reset(self) -> None:
        """Forget working orders and plans."""

    def trade_to(self, ctx, market: str, position: float) -> int | None:
        """Work toward ``position`` (base units); returns the id of an order sent now, if any."""
        raise NotImplementedError

    def on_decision(self, ctx) -> None:
        """Progress working orders (every decision)."""

    def goals(self) -> dict[str, float]:
        """``{market: position}`` still being worked toward."""
        return {}

    def __repr__(self) -> str:
        return self.name


class Immediate(Execution):
    """One market order for the whole gap, now (``ctx.target_position``).

    Examples
    --------
    >>> Immediate().name
    'Immediate'
    """

    name = "Immediate"

    def trade_to(self, ctx, market: str, position: float) -> int | None:
        return ctx.target_position(market, position)


@dataclass
class _Plan:
    goal: float
    left: int          # slices still to send
    sent_at: int = -1  # decision of the last slice


class TWAP(Execution):
    """Slice each change of target into ``slices`` equal market orders at successive decisions.

    The strategy's ``every`` is the slice interval. A slice is the gap still to trade divided
    by the slices left, so equal slices when each one lands, and a rejected slice is spread
    over the rest. A new goal (outside the rebalance band of the one being worked) re-plans
    from the expected position over ``slices`` fresh slices.

    Parameters
    ----------
    slices : int
        Number of orders a change is split into, >= 1 (1 is :class:`Immediate`).

    Examples
    --------
    >>> twap = TWAP(slices=4)    # 4 orders, one per decision
    """

    def __init__(self, slices: int = 4):
        if int(slices) != slices or slices < 1:
            raise ValueError(f"TWAP.slices: expected an integer >= 1, got {slices!r}")
        self.slices = int(slices)
        self.name = f"TWAP({self.slices})"
        self._plans: dict[str, _Plan] = {}

    def reset(self) -> None:
        self._plans = {}

    def goals(self) -> dict[str, float]:
        return {m: p.goal for m, p in self._plans.items()}

    def trade_to(self, ctx, market: str, position: float) -> int | None:
        plan = self._plans.get(market)
        if plan is not None and not ctx.would_trade(market, plan.goal, current=position):
            return None  # the goal being worked; on_decision sends its next slice
        self._plans.pop(market, None)
        if not ctx.would_trade(market, position):
            return None
        self._plans[market] = plan = _Plan(goal=float(position), left=self.slices)
        return self._slice(ctx, market, plan)

    def on_decision(self, ctx) -> None:
        for market, plan in list(self._plans.items()):
            if plan.sent_at != ctx.decision:
                self._slice(ctx, market, plan)

    def _slice(self, ctx, market: str, plan: _Plan) -> int | None:
        size = (plan.goal - ctx.expected_position(market)) / plan.left
        plan.left -= 1
        plan.sent_at = ctx.decision
        if plan.left == 0:
            del self._plans[market]
        return ctx.submit(market, size) if abs(size) > DUST else None


@dataclass
class _Working:
    goal: float
    order_id: int
    posted_at: int
    size: float  # signed


class LimitThenMarket(Execution):
    """Post a limit order at the observed price improved by ``offset_bps``; if it is not filled
    within ``patience`` decisions, cancel it and send a market order for what is left.

    A buy rests at ``price * (1 - offset)``, a sell at ``price * (1 + offset)`` (price: the last
    observed trade); it fills when a trade prints through it, as maker. The fallback is sized
    from the expected position without the cancelled order's unfilled part; with order latency
    the limit may still fill while its cancel travels, which the next target corrects.

    Parameters
    ----------
    offset_bps : float
        Price improvement in basis points, >= 0.
    patience : int
        Decisions to wait (>= 1) before falling back to a market order.
    post_only : bool
        Send the limit as post-only (never takes).

    Examples
    --------
    >>> LimitThenMarket(offset_bps=1.0, patience=2).name
    'LimitThenMarket(1bp,2)'
    """

    def __init__(self, offset_bps: float = 1.0, patience: int = 1, post_only: bool = False):
        if not np.isfinite(offset_bps) or offset_bps < 0:
            raise ValueError(f"LimitThenMarket.offset_bps: expected basis points >= 0, got {offset_bps!r}")
        if int(patience) != patience or patience < 1:
            raise ValueError(f"LimitThenMarket.patience: expected an integer >= 1 (decisions), got {patience!r}")
        self.offset_bps = float(offset_bps)
        self.patience = int(patience)
        self.post_only = bool(post_only)
        self.name = f"LimitThenMarket({self.offset_bps:g}bp,{self.patience})"
        self._working: dict[str, _Working] = {}

    def reset(self) -> None:
        self._working = {}

    def goals(self) -> dict[str, float]:
        return {m: w.goal for m, w in self._working.items()}

    def trade_to(self, ctx, market: str, position: float) -> int | None:
        known = ctx.expected_position(market)
        work = self._working.pop(market, None)
        if work is not None:
            if not ctx.would_trade(market, work.goal, current=position):
                self._working[market] = work  # same goal: keep waiting
                return None
            known -= self._withdraw(ctx, work)
        if not ctx.would_trade(market, position, current=known):
            return None
        delta = position - known
        px = ctx.price(market)
        if not np.isfinite(px):
            return None
        limit = px * (1.0 - np.sign(delta) * self.offset_bps * 1e-4)
        oid = ctx.submit(market, delta, limit=limit, post_only=self.post_only)
        self._working[market] = _Working(float(position), oid, ctx.decision, float(delta))
        return oid

    def on_decision(self, ctx) -> None:
        for market, work in list(self._working.items()):
            if work.posted_at == ctx.decision:
                continue
            if not self._is_live(ctx, work.order_id):
                del self._working[market]  # filled (or rejected: the next target re-posts)
                continue
            if ctx.decision - work.posted_at < self.patience:
                continue
            del self._working[market]
            rest = ctx.expected_position(market) - self._withdraw(ctx, work)
            delta = work.goal - rest
            if abs(delta) > DUST:
                ctx.submit(market, delta)

    @staticmethod
    def _is_live(ctx, order_id: int) -> bool:
        return bool((ctx.open_orders()["order_id"] == order_id).any())

    @staticmethod
    def _withdraw(ctx, work: _Working) -> float:
        """Cancel the working limit; returns the signed size it would still have traded."""
        if work.posted_at == ctx.decision:  # queued in this decision: not in open_orders yet
            ctx.cancel(work.order_id)
            return work.size
        live = ctx.open_orders()
        row = live[live["order_id"] == work.order_id]
        if len(row) == 0:
            return 0.0
        ctx.cancel(work.order_id)
        r = row.iloc[0]
        return float(r["side"]) * float(r["remaining"])
