"""`Guarded`: any strategy, run through risk controls and an execution algorithm.

At each decision, in this order:

1. each control's ``before(ctx)`` runs (it may cut or flatten at once); the first that returns
   False ends the decision: the strategy is not asked and the execution's working plans are
   dropped (the kill switch has already cancelled their orders);
2. the strategy decides. A *plan-only* inner strategy (targets set in ``init``, such as
   ``BuyAndHold`` or ``MaCross``) has its planned target of this decision replayed (NaN: no
   order); a *hybrid* one has its ``on_decision`` called with a context whose
   ``target_position`` / ``target_leverage`` / ``target_notional`` go through the controls
   (leverage and notional converted to a position first, as ``Context`` does) and the
   execution. Everything else (``submit``, ``stop``, ``cancel``, data, balances) goes straight
   to the real context;
3. goals the execution is still working on that the strategy did not restate are passed
   through the controls again (so a de-levering also shrinks a TWAP in progress);
4. the execution progresses its working orders (``on_decision``).

A guarded strategy always runs on the hybrid driver (Python at each decision).

Examples
--------
>>> import backtester as bt, data_loaders as dl
>>> from strategies import BuyAndHold
>>> from strategies.guarded import Guarded
>>> from strategies.risk import DrawdownKillSwitch
>>> from strategies.execution import TWAP
>>> g = Guarded(BuyAndHold(leverage=5.0), [DrawdownKillSwitch(0.1)], execution=TWAP(3))
>>> g.name
'BuyAndHold(leverage=5.0)+KillSwitch(10%)+TWAP(3)'
>>> res = bt.run(g, dl.sample("btcusdt-tape"))   # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np

from backtester import Strategy
from backtester.context import ContextView

from .execution import Execution, Immediate
from .risk import RiskControl


class Guarded(Strategy):
    """Wrap ``inner`` with risk ``controls`` (applied in the order given) and an ``execution``.

    Parameters
    ----------
    inner : Strategy
        Any strategy instance, plan-only or hybrid.
    controls : sequence of RiskControl
        Applied in order: ``before`` hooks first to last, ``adjust`` each on the previous one's
        result.
    execution : Execution, optional
        How targets become orders; default :class:`~strategies.execution.Immediate`.
    every : str, optional
        Decision cadence; default the inner strategy's. The inner strategy is given the same
        decision times.

    Notes
    -----
    ``Guarded`` has no ``params`` of its own (its settings are the objects above), so the
    ``Strategy`` parameter machinery sees an empty dict; the inner strategy's parameters are
    ``guarded.inner.params``. Controls and execution are reset when each run starts, so one
    instance can be run again without state leaking between runs.

    Examples
    --------
    >>> from strategies import MaCross
    >>> from strategies.risk import MarginGuard
    >>> Guarded(MaCross(fast=5, slow=20), [MarginGuard(3.0, 5.0)]).name
    'MaCross(fast=5, slow=20)+MarginGuard(3/5)'
    """

    params: dict = {}

    def __init__(self, inner: Strategy, controls=(), execution: Execution | None = None, every=None):
        if not isinstance(inner, Strategy):
            raise TypeError(f"Guarded wraps a Strategy instance, got {type(inner).__name__}"
                            + (" (did you forget to instantiate it?)" if isinstance(inner, type) else ""))
        super().__init__(**({} if every is None else {"every": every}))  # checks the cadence
        controls = tuple(controls)
        for c in controls:
            if not isinstance(c, RiskControl):
                raise TypeError(f"controls: expected RiskControl instances, got {type(c).__name__}")
        execution = Immediate() if execution is None else execution
        if not isinstance(execution, Execution):
            raise TypeError(f"execution: expected an Execution instance, got {type(execution).__name__}")
        self.inner = inner
        self.controls = controls
        self.execution = execution
        self.every = inner.every if every is None else every
        self._plan: dict[str, np.ndarray] | None = None
        self._kind: str | None = None
        self._touched: set[str] = set()

    @property
    def name(self) -> str:
        parts = [self.inner.name] + [c.name for c in self.controls]
        if not isinstance(self.execution, Immediate):
            parts.append(self.execution.name)
        return "+".join(parts)

    def __repr__(self) -> str:
        return f"Guarded({self.inner!r}, controls={list(self.controls)!r}, execution={self.execution!r})"

    # ------------------------------------------------------------------ hooks
    def init(self, data) -> None:
        """Reset the controls and execution, and let the inner strategy plan on our decision times."""
        for c in self.controls:
            c.reset()
        self.execution.reset()
        inner = self.inner
        inner.decision_times = self.decision_times
        inner.clear_targets()  # as the driver prepares any strategy
        inner.init(data)
        self._plan, self._kind = None, None
        targets, kind = inner.planned_targets
        if targets:
            if not inner.plan_only:
                raise ValueError(f"{type(inner).__name__} sets targets in init() and overrides on_decision(); "
                                 "use one or the other")
            self._plan, self._kind = targets, kind

    def on_decision(self, ctx) -> None:
        """Controls, then the strategy's decision, then the execution (module docstring)."""
        self._touched = set()
        for c in self.controls:
            if not c.before(ctx):
                self.execution.reset()
                return
        if self._plan is not None:
            self._replay(ctx)
        else:
            self.inner.on_decision(_GuardedContext(ctx, self))
        self._readjust(ctx)
        self.execution.on_decision(ctx)

    # ------------------------------------------------------------------ targets
    def trade(self, ctx, market: str, position: float) -> int | None:
        """Send a desired ``position`` (base units) through the controls and the execution;
        returns the id of an order sent now, if any."""
        self._touched.add(market)
        return self.execution.trade_to(ctx, market, self._adjusted(ctx, market, position))

    def _adjusted(self, ctx, market: str, position: float) -> float:
        for c in self.controls:
            position = float(c.adjust(ctx, market, position))
        return position

    def _replay(self, ctx) -> None:
        d = ctx.decision
        for market, values in self._plan.items():
            value = values[d]
            if np.isnan(value):
                continue  # the plan's "no order at this decision"
            position = ctx.to_position(market, value, self._kind)
            if np.isfinite(position):
                self.trade(ctx, market, position)

    def _readjust(self, ctx) -> None:
        for market, goal in self.execution.goals().items():
            if market not in self._touched:
                adjusted = self._adjusted(ctx, market, goal)
                if adjusted != goal:
                    self.execution.trade_to(ctx, market, adjusted)


class _GuardedContext(ContextView):
    """The context a hybrid inner strategy sees: the real one, with targets routed through
    the controls and the execution."""

    __slots__ = ("_guard",)

    def __init__(self, ctx, guard: Guarded):
        super().__init__(ctx)
        self._guard = guard

    def target_position(self, market: str, size: float) -> int | None:
        """As ``Context.target_position``, through the controls and the execution."""
        return self._guard.trade(self._ctx, market, float(size))

    def target_leverage(self, market: str, leverage: float) -> int | None:
        """As ``Context.target_leverage``, through the controls and the execution."""
        position = self._ctx.to_position(market, leverage, "leverage")
        return self._guard.trade(self._ctx, market, position) if np.isfinite(position) else None

    def target_notional(self, market: str, notional: float) -> int | None:
        """As ``Context.target_notional``, through the controls and the execution."""
        position = self._ctx.to_position(market, notional, "notional")
        return self._guard.trade(self._ctx, market, position) if np.isfinite(position) else None
