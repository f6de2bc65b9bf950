"""`Strategy`: what users subclass. Two hooks, ``init(data)`` and ``on_decision(ctx)``.

Examples
--------
>>> import backtester as bt
>>> class Flip(bt.Strategy):
...     params = dict(leverage=2.0)
...     every = "1h"
...     def on_decision(self, ctx):
...         ctx.target_leverage("BTC-USD", self.leverage if ctx.decision % 2 == 0 else 0.0)
>>> Flip(leverage=3.0).leverage
3.0
>>> Flip(levrage=3.0)
Traceback (most recent call last):
...
TypeError: Flip has no parameter 'levrage'; did you mean 'leverage'?
"""
from __future__ import annotations


import numpy as np
import pandas as pd

from ._names import check_names

TARGET_KINDS = {"position": 0, "leverage": 1, "notional": 2}


class Strategy:
    """Base class of every strategy.

    Class attributes
    ----------------
    params : dict
        Parameter defaults; the constructor overrides them by keyword and rejects unknown
        names with a close-match suggestion. Parameters read as attributes (``self.fast``).
    every : str
        Decision cadence, aligned to the UTC clock as pandas resampling is (``"1h"`` decides on
        the hour).

    Hooks
    -----
    init(data)
        Once, before the run, with the :class:`~data_loaders.Dataset`. Vectorised precompute;
        a strategy that only calls :meth:`set_targets` here and does not override
        ``on_decision`` runs in a single kernel call (the fast path).
    on_decision(ctx)
        At each decision time with a :class:`~backtester.context.Context`.
    """

    params: dict = {}
    every: str = "1h"

    def __init__(self, **overrides):
        defaults = self._defaults()
        check_names(type(self).__name__, "parameter", overrides, defaults)
        self.params = {**defaults, **overrides}
        self._targets: dict[str, np.ndarray] = {}
        self._target_kind: str | None = None
        self.decision_times: pd.DatetimeIndex | None = None

    @classmethod
    def _defaults(cls) -> dict:
        merged: dict = {}
        for klass in reversed(cls.__mro__):
            merged.update(getattr(klass, "params", {}) or {})
        return merged

    def __getattr__(self, name):
        params = self.__dict__.get("params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    @property
    def name(self) -> str:
        """Label in comparison tables: class name plus the parameters that differ from defaults."""
        defaults = self._defaults()
        diff = {k: v for k, v in self.params.items() if defaults.get(k) != v}
        return type(self).__name__ + (f"({', '.join(f'{k}={v}' for k, v in diff.items())})" if diff else "")

    # ------------------------------------------------------------------ hooks
    def init(self, data) -> None:
        """Precompute (vectorised) before the run. Default: nothing."""

    def on_decision(self, ctx) -> None:
        """Decide at one decision time. Default: nothing (plan-only strategies)."""

    # ------------------------------------------------------------------ fast path
    def set_targets(self, market: str, values, kind: str = "leverage") -> None:
        """Plan targets for every decision time, from ``init`` (the single-kernel-call path).

        Parameters
        ----------
        market : str
        values : pandas.Series or array
            One value per decision time (``self.decision_times``): a Series is aligned to
            them (forward-filled, NaN before its first value = no order), an array must
            have their length. NaN means "no order at this decision".
        kind : {'leverage', 'position', 'notional'}
            Leverage of net collateral (signed), position in base units, or notional in quote.
        """
        if kind not in TARGET_KINDS:
            raise ValueError(f"kind must be one of {sorted(TARGET_KINDS)}, got {kind!r}")
        if self._target_kind not in (None, kind):
            raise ValueError(f"all targets of a run share one kind; have {self._target_kind!r}, got {kind!r}")
        times = self.decision_times
        if times is None:
            raise RuntimeError("set_targets() is for init(): decision times are not known yet")
        if isinstance(values, pd.Series):
            idx = pd.DatetimeIndex(values.index)
            idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
            series = pd.Series(values.to_numpy(np.float64), index=idx)
            arr = series.reindex(times, method="ffill").to_numpy(np.float64)
        else:
            arr = np.asarray(values, np.float64)
            if arr.shape != (len(times),):
                raise ValueError(f"targets for {market!r}: expected {len(times)} values (one per "
                                 f"decision time), got shape {arr.shape}")
        self._targets[market] = arr
        self._target_kind = kind

    @property
    def plan_only(self) -> bool:
        """True when the run can go in one kernel call (targets from init, no on_decision)."""
        return bool(self._targets) and type(self).on_decision is Strategy.on_decision
