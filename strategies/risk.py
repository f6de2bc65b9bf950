"""Risk controls usable by any strategy (through :class:`strategies.guarded.Guarded`).

The trading rules of the seed texts: de-lever when the margin ratio falls under a threshold
(liquidation avoidance), a drawdown kill switch (flatten and stop), a per-trade maximum loss,
and a collateral buffer kept free on the venue.

A control has two hooks, both called by ``Guarded`` at each decision:

``before(ctx)``
    Runs before the strategy decides. It may trade at once (cut or flatten, always with
    reduce-only market orders so a risk action never opens or flips a position) and returns
    False to skip the strategy's decision this time.
``adjust(ctx, market, position)``
    Clips a position the strategy asked for (base units, signed) before it is traded.

Every figure is read from the decision's :class:`~backtester.context.Context`: balances as the
venue reports them at the decision, positions as the strategy expects them (acknowledged plus
what its orders, including those queued earlier in this decision, still intend to trade), prices
as observed (oracle, else last trade). Projections ignore the fees and slippage of the trades
they ask for, which are small against the margins they keep.

Examples
--------
>>> import backtester as bt
>>> from strategies import MaCross
>>> from strategies.guarded import Guarded
>>> from strategies.risk import DrawdownKillSwitch, MarginGuard
>>> Guarded(MaCross(leverage=10.0), [MarginGuard(3.0, 5.0), DrawdownKillSwitch(0.2)]).name
'MaCross(leverage=10.0)+MarginGuard(3/5)+KillSwitch(20%)'
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: positions smaller than this (base units) count as flat: float residue of slicing
DUST = 1e-9


def accounts(ctx) -> dict[int, list[str]]:
    """``{account: [markets]}`` of the run."""
    out: dict[int, list[str]] = {}
    for m in ctx.markets:
        out.setdefault(ctx.account(m), []).append(m)
    return out


# ---------------------------------------------------------------------------- trading helpers
def flatten(ctx, market: str, cancel: bool = True) -> int | None:
    """Close the position in ``market`` with a reduce-only market order.

    With ``cancel``, every live order of the market (resting, in flight, armed stops) is
    cancelled first and the close is sized without what they would still have traded.
    Returns the id of the close order, or None when already flat.

    Examples
    --------
    Inside a decision::

        flatten(ctx, "BTC-USD")     # cancel BTC orders, close the BTC position
    """
    position = ctx.expected_position(market)
    if cancel:
        for row in ctx.open_orders(market).itertuples():
            ctx.cancel(int(row.order_id))
            if row.type != "stop_market":  # stops are not in the expected position
                position -= row.side * row.remaining
    if abs(position) <= DUST:
        return None
    return ctx.submit(market, -position, reduce_only=True)


def scale_account(ctx, markets, keep: float) -> list[int]:
    """Cut every position of ``markets`` to ``keep`` (0..1) of itself, reduce-only, pro rata."""
    keep = min(max(keep, 0.0), 1.0)
    sizes = {m: ctx.expected_position(m) for m in markets}  # read all before queueing any
    ids = []
    for m, s in sizes.items():
        cut = -s * (1.0 - keep)
        if abs(cut) > DUST:
            ids.append(ctx.submit(m, cut, reduce_only=True))
    return ids


def _cap(ctx, market: str, budget: float, kind: str) -> float:
    """Largest ``|position|`` in ``market`` that keeps ``ctx.requirement(..., kind)`` over its
    account within ``budget`` (other markets at their expected positions); inf without a price."""
    px = ctx.mark(market)
    rate = getattr(ctx.market_spec(market), ctx.REQUIREMENT_FRACTIONS[kind])
    if not np.isfinite(px) or rate <= 0:
        return float("inf")
    others = [m for m in accounts(ctx)[ctx.account(market)] if m != market]
    return max(budget - ctx.requirement(others, kind), 0.0) / (rate * px)


def _clip(position: float, cap: float) -> float:
    return position if abs(position) <= cap else float(np.sign(position) * cap)


def _pct(x: float) -> str:
    return f"{100 * x:g}%"


# ---------------------------------------------------------------------------- controls
class RiskControl:
    """Base class: a control that never acts. Subclass and override what you need.

    Examples
    --------
    >>> class NoShorts(RiskControl):
    ...     name = "NoShorts"
    ...     def adjust(self, ctx, market, position):
    ...         return max(position, 0.0)
    >>> NoShorts().adjust(None, "BTC-USD", -1.0)
    0.0
    """

    name: str = "RiskControl"

    def reset(self) -> None:
        """Forget everything learnt in a run (called when a run starts)."""

    def before(self, ctx) -> bool:
        """Act before the strategy decides; False skips the strategy's decision."""
        return True

    def adjust(self, ctx, market: str, position: float) -> float:
        """Clip a desired position (base units, signed)."""
        return position

    def __repr__(self) -> str:
        return self.name


class MarginGuard(RiskControl):
    """Liquidation avoidance: de-lever when the margin ratio (net collateral / maintenance
    requirement) falls below ``threshold``.

    ``before`` cuts every position of the account pro rata, with reduce-only market orders, so
    that the ratio (projected at the expected positions, so orders in flight count) returns
    to about ``restore`` (keeping ``ratio / restore`` of each position
    divides the requirement by that factor at an unchanged net collateral). ``adjust`` caps new
    targets so that the projected ratio stays at or above ``restore``. Cross margin: one ratio
    per venue account; isolated: each market's own.

    Parameters
    ----------
    threshold : float
        Ratio below which the guard cuts (liquidation happens below 1).
    restore : float
        Ratio the cut aims for, and the floor for new targets; at least ``threshold``.

    Attributes
    ----------
    cuts : list of (pd.Timestamp, account, ratio, keep)
        Every de-levering of the run: when, which account, the ratio seen, fraction kept.

    Examples
    --------
    >>> guard = MarginGuard(threshold=3.0, restore=5.0)
    >>> guard.name
    'MarginGuard(3/5)'
    """

    def __init__(self, threshold: float = 3.0, restore: float = 5.0):
        if not np.isfinite(threshold) or threshold <= 0:
            raise ValueError(f"MarginGuard.threshold: expected a ratio > 0, got {threshold!r}")
        if not np.isfinite(restore) or restore < threshold:
            raise ValueError(f"MarginGuard.restore: expected a ratio >= threshold ({threshold}), got {restore!r}")
        self.threshold = float(threshold)
        self.restore = float(restore)
        self.name = f"MarginGuard({threshold:g}/{restore:g})"
        self.cuts: list = []

    def reset(self) -> None:
        self.cuts = []

    def before(self, ctx) -> bool:
        for account, markets in accounts(ctx).items():
            held = [m for m in markets if abs(ctx.expected_position(m)) > DUST]
            if not held:
                continue
            mmr = ctx.requirement(held, "maintenance")
            ratio = ctx.equity(held[0]) / mmr if mmr > 0 else float("inf")
            if ratio < self.threshold:
                keep = max(ratio, 0.0) / self.restore
                scale_account(ctx, held, keep)
                self.cuts.append((ctx.time, account, ratio, keep))
        return True

    def adjust(self, ctx, market: str, position: float) -> float:
        return _clip(position, _cap(ctx, market, ctx.equity(market) / self.restore, "maintenance"))


class DrawdownKillSwitch(RiskControl):
    """Flatten and stop for good once equity falls ``max_drawdown`` below its peak.

    The peak is the highest total equity seen at decisions. At the first decision with
    ``equity / peak - 1 <= -max_drawdown`` every open order is cancelled, every market is
    closed with a reduce-only market order, and the strategy is never asked again in this run.
    Later decisions only close what may remain (an order that filled on its way to a cancel),
    never open anything.

    Parameters
    ----------
    max_drawdown : float
        Fraction of the peak, in (0, 1).

    Attributes
    ----------
    fired_at : pd.Timestamp or None
        Decision time at which it fired.
    fired_equity : float or None
        Equity seen at that decision.
    peak : float
        Peak equity seen so far.

    Examples
    --------
    >>> DrawdownKillSwitch(0.2).name
    'KillSwitch(20%)'
    """

    def __init__(self, max_drawdown: float = 0.2):
        if not 0.0 < max_drawdown < 1.0:
            raise ValueError(f"DrawdownKillSwitch.max_drawdown: expected a fraction in (0, 1), got {max_drawdown!r}")
        self.max_drawdown = float(max_drawdown)
        self.name = f"KillSwitch({_pct(max_drawdown)})"
        self.reset()

    def reset(self) -> None:
        self.fired_at: pd.Timestamp | None = None
        self.fired_equity: float | None = None
        self.peak = -np.inf

    def before(self, ctx) -> bool:
        if self.fired_at is not None:
            for m in ctx.markets:  # residue only: never cancels its own close in flight
                if abs(ctx.expected_position(m)) > DUST and len(ctx.open_orders(m)) == 0:
                    flatten(ctx, m, cancel=False)
            return False
        equity = ctx.total_equity()
        self.peak = max(self.peak, equity)
        if self.peak > 0 and equity / self.peak - 1.0 <= -self.max_drawdown:
            self.fired_at, self.fired_equity = ctx.time, equity
            for m in ctx.markets:
                flatten(ctx, m, cancel=True)
            return False
        return True


class MaxTradeLoss(RiskControl):
    """Close a position whose unrealized loss exceeds ``max_loss`` of equity, and do not re-open
    it on the same side until the strategy's desired position goes flat or changes sign.

    The loss is ``ctx.unrealized_pnl`` (the venue's position against its average entry, at the
    oracle), compared with the account's equity at the decision.

    Parameters
    ----------
    max_loss : float
        Fraction of equity, > 0.

    Attributes
    ----------
    exits : list of (pd.Timestamp, market, unrealized_pnl, equity)
        Every position it closed.

    Examples
    --------
    >>> MaxTradeLoss(0.02).name
    'MaxLoss(2%)'
    """

    def __init__(self, max_loss: float = 0.02):
        if not np.isfinite(max_loss) or max_loss <= 0:
            raise ValueError(f"MaxTradeLoss.max_loss: expected a fraction of equity > 0, got {max_loss!r}")
        self.max_loss = float(max_loss)
        self.name = f"MaxLoss({_pct(max_loss)})"
        self.reset()

    def reset(self) -> None:
        self.exits: list = []
        self._blocked: dict[str, int] = {}  # market -> side (+1/-1) that may not re-open

    def before(self, ctx) -> bool:
        for m in ctx.markets:
            upnl = ctx.unrealized_pnl(m)
            equity = ctx.equity(m)
            held = ctx.expected_position(m)
            if abs(held) <= DUST or not upnl < -self.max_loss * equity:
                continue  # nothing left to close (a close may already be in flight)
            self._blocked[m] = 1 if held > 0 else -1
            flatten(ctx, m, cancel=True)
            self.exits.append((ctx.time, m, upnl, equity))
        return True

    def adjust(self, ctx, market: str, position: float) -> float:
        side = self._blocked.get(market)
        if side is None:
            return position
        if position * side > 0:
            return 0.0  # the same trade again: stay out
        del self._blocked[market]  # flat or the other side: a new trade
        return position


class CollateralBuffer(RiskControl):
    """Keep at least ``buffer`` of equity free on the venue (free collateral = net collateral
    less the initial margin requirement).

    ``adjust`` scales targets so that the account's initial margin requirement stays
    ``<= (1 - buffer) * equity``. ``before`` restores the buffer when price moves have eaten
    into it by more than ``tolerance`` (requirement above ``(1 - buffer) * (1 + tolerance)`` of
    equity), cutting every position of the account pro rata.

    Parameters
    ----------
    buffer : float
        Fraction of equity kept free, in [0, 1).
    tolerance : float, optional
        Relative overshoot allowed before ``before`` cuts; default the run's
        ``SimConfig.rebalance_band`` (targets inside the band are not traded either).

    Examples
    --------
    >>> CollateralBuffer(0.25).name
    'Buffer(25%)'
    """

    def __init__(self, buffer: float = 0.25, tolerance: float | None = None):
        if not 0.0 <= buffer < 1.0:
            raise ValueError(f"CollateralBuffer.buffer: expected a fraction in [0, 1), got {buffer!r}")
        if tolerance is not None and not tolerance >= 0:
            raise ValueError(f"CollateralBuffer.tolerance: expected >= 0 or None, got {tolerance!r}")
        self.buffer = float(buffer)
        self.tolerance = tolerance
        self.name = f"Buffer({_pct(buffer)})"

    def before(self, ctx) -> bool:
        tol = ctx.config.rebalance_band if self.tolerance is None else self.tolerance
        for markets in accounts(ctx).values():
            held = [m for m in markets if abs(ctx.expected_position(m)) > DUST]
            if not held:
                continue
            equity = ctx.equity(held[0])
            imr = ctx.requirement(held, "initial")
            allowed = (1.0 - self.buffer) * max(equity, 0.0)
            if imr > allowed * (1.0 + tol):
                scale_account(ctx, held, allowed / imr)
        return True

    def adjust(self, ctx, market: str, position: float) -> float:
        budget = (1.0 - self.buffer) * max(ctx.equity(market), 0.0)
        return _clip(position, _cap(ctx, market, budget, "initial"))
