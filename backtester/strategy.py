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
>>> Flip(every="15min").every         # every strategy takes its cadence as a parameter
'15min'
"""
from __future__ import annotations

import hashlib
import inspect
import numbers

import numpy as np
import pandas as pd

from ._names import check_names
from .cadence import check_every
from .kernel.enums import TARGET_KIND_NAMES

#: attributes every strategy instance sets itself (a parameter of that name would be shadowed)
_INSTANCE_ATTRIBUTES = ("decision_times", "params")
#: longest parameter value shown in a label before it is abbreviated
_LABEL_WIDTH = 24


def _same(a, b) -> bool:
    """Equality that never raises and never returns an array (params may hold arrays, Series,
    DataFrames or callables)."""
    if a is b:
        return True
    if isinstance(a, (np.ndarray, pd.Series, pd.DataFrame, pd.Index)) or \
            isinstance(b, (np.ndarray, pd.Series, pd.DataFrame, pd.Index)):
        if type(a) is not type(b):
            return False
        try:
            return bool(a.equals(b)) if hasattr(a, "equals") else bool(np.array_equal(a, b, equal_nan=True))
        except (TypeError, ValueError):
            return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - an exotic __eq__ or an ambiguous truth value: not equal
        return False


def _digest(value) -> str:
    """A short, stable fingerprint of an array-like's contents (equal data, equal label)."""
    h = hashlib.blake2b(digest_size=3)
    try:
        if isinstance(value, (pd.Series, pd.DataFrame, pd.Index)):
            h.update(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes())
        else:
            arr = np.ascontiguousarray(value)
            h.update(str(arr.dtype).encode() + str(arr.shape).encode())
            h.update(arr.tobytes() if arr.dtype != object else repr(arr.tolist()).encode())
    except Exception:  # noqa: BLE001 - unhashable contents: the label still must not raise
        h.update(repr(type(value)).encode())
    return h.hexdigest()


def label(value) -> str:
    """A short, stable text for a parameter value in labels, for any value.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> label(0.5), label("1h"), label(np.arange(3)).startswith("ndarray[3]#")
    ('0.5', '1h', True)
    >>> label(pd.Series([1.0, 2.0], name="signal")).startswith("Series[2]#")
    True
    >>> label(len)
    'len'
    """
    if value is None or isinstance(value, (bool, numbers.Number, str)):
        text = str(value)
        return text if len(text) <= _LABEL_WIDTH else text[: _LABEL_WIDTH - 3] + "..."
    if isinstance(value, (np.ndarray, pd.Series, pd.DataFrame, pd.Index)):
        shape = "x".join(str(n) for n in np.shape(value))
        return f"{type(value).__name__}[{shape}]#{_digest(value)}"
    if callable(value) and not isinstance(value, type):
        return getattr(value, "__qualname__", None) or getattr(value, "__name__", None) or type(value).__name__
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not break a label
        return type(value).__name__
    if len(text) <= _LABEL_WIDTH:
        return text
    size = f"[{len(value)}]" if isinstance(value, (list, tuple, dict, set)) else ""
    h = hashlib.blake2b(text.encode(), digest_size=3).hexdigest()  # long containers: told apart by content
    return f"{type(value).__name__}{size}#{h}"

#: target kind -> the kernel's code of it (``TG_*``)
TARGET_KINDS = {name: code for code, name in enumerate(TARGET_KIND_NAMES)}


class Strategy:
    """Base class of every strategy.

    Class attributes
    ----------------
    params : dict
        Parameter defaults; the constructor overrides them by keyword and rejects unknown
        names with a close-match suggestion. Parameters read as attributes (``self.fast``).
        A parameter may hold anything (arrays, Series, callables). Its name must not clash
        with an attribute of the class (``name``, ``init``, a method of your own, ...): that is
        a ``TypeError`` when the class is created, never a silently ignored value.
    every : str, or a sequence of timestamps
        Decision cadence (:mod:`backtester.cadence`): a duration counted from the epoch, UTC
        (``"1h"`` decides on the hour; whole weeks on Mondays), a calendar frequency (``"MS"``),
        or explicit times. Every strategy also takes it as a constructor keyword
        (``MaCross(every="5min")``) and may list it in ``params``.

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

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("params") or {}
        if not isinstance(own, dict):
            raise TypeError(f"{cls.__name__}.params must be a dict of defaults, got {type(own).__name__}")
        if "every" in cls.__dict__:  # a class-level cadence fails with the class, not mid-run
            check_every(cls.__dict__["every"])
        merged = cls._defaults()
        for key in merged:
            if not isinstance(key, str) or not key.isidentifier():
                raise TypeError(f"{cls.__name__}.params: parameter names must be identifiers, got {key!r}")
            if key == "every":
                check_every(merged[key])
                continue
            # a parameter is read through __getattr__, which only runs when normal lookup fails:
            # a class or instance attribute of the same name would win and the parameter be ignored
            if key in _INSTANCE_ATTRIBUTES:
                raise TypeError(f"{cls.__name__}.params: parameter {key!r} clashes with the attribute "
                                f"Strategy.{key}; rename the parameter")
            for klass in cls.__mro__:
                if key in klass.__dict__ and klass is not object:
                    raise TypeError(f"{cls.__name__}.params: parameter {key!r} clashes with the attribute "
                                    f"{klass.__name__}.{key}; rename the parameter")
        if "__init__" not in cls.__dict__:  # shift-tab in a notebook shows the parameters
            every = inspect.Parameter("every", inspect.Parameter.KEYWORD_ONLY, default=merged.get("every", cls.every))
            cls.__signature__ = inspect.Signature(
                [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v) for k, v in merged.items()
                 if k != "every"] + [every])

    def __init__(self, **overrides):
        defaults = self._defaults()
        check_names(type(self).__name__, "parameter", overrides, list(defaults) + ["every"])
        self.params = {**defaults, **overrides}
        if "every" in self.params:
            check_every(self.params["every"])  # a bad cadence fails here, not mid-run
            self.every = self.params["every"]
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
        args = ", ".join(f"{k}={v!r}" if v is None or isinstance(v, (bool, numbers.Number, str)) else f"{k}={label(v)}"
                         for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    @property
    def name(self) -> str:
        """Label in comparison tables: class name plus the parameters that differ from defaults
        (short, stable and never raising, whatever the parameters hold)."""
        defaults = self._defaults()
        if "every" not in defaults:
            defaults["every"] = type(self).every
        diff = {k: v for k, v in self.params.items() if k not in defaults or not _same(defaults[k], v)}
        return type(self).__name__ + (f"({', '.join(f'{k}={label(v)}' for k, v in diff.items())})" if diff else "")

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
            have their length. NaN means "no order at this decision"; an infinite value is a
            ``ValueError`` here, when the plan is built (it would otherwise trade nothing).
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
        infinite = np.flatnonzero(np.isinf(arr))
        if len(infinite):
            i = int(infinite[0])
            raise ValueError(f"targets for {market!r} ({kind}): {len(infinite)} of {len(arr)} values are infinite, "
                             f"the first {arr[i]} at decision {i} ({times[i]}); a target must be finite "
                             "(NaN means no order at this decision)")
        self._targets[market] = arr
        self._target_kind = kind

    @property
    def planned_targets(self) -> tuple[dict, str | None]:
        """What :meth:`set_targets` planned: ``({market: values per decision time}, kind)``
        (``({}, None)`` before ``init`` or when nothing was planned). A copy of the mapping; a
        wrapper strategy replays it (``strategies.guarded.Guarded``).

        Examples
        --------
        >>> Strategy().planned_targets
        ({}, None)
        """
        return dict(self._targets), self._target_kind

    def clear_targets(self) -> None:
        """Forget the planned targets (before ``init`` runs again, as a new run does)."""
        self._targets, self._target_kind = {}, None

    @property
    def plan_only(self) -> bool:
        """True when the run can go in one kernel call (targets from init, no on_decision)."""
        return bool(self._targets) and type(self).on_decision is Strategy.on_decision
