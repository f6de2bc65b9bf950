"""What every scenario shares: :class:`Setup`, :class:`Scenario`, composition, :func:`apply`,
and the time conventions.

Times
-----
A time argument (``start``, ``at``) is either

* **absolute**: a ``str``, ``datetime`` or ``pandas.Timestamp``, read as UTC when it has no
  zone (``"2022-11-10 14:00"``); or
* **an offset from the data's first trade**: a ``pandas.Timedelta`` or ``datetime.timedelta``
  (``pd.Timedelta("2D14h")``), resolved when the scenario is applied. Strings are always
  absolute and must start with a date, so ``"2h"`` or ``"14:00"`` is an error rather than a
  silent guess.

Durations (``duration``, ``gap``, ``delay``) are anything ``pandas.Timedelta`` accepts
(``"3h"``, ``"90s"``). A window ``[start, start + duration)`` must start inside the data (first
to last trade); it may run past the end.

Examples
--------
>>> import data_loaders as dl
>>> from backtester import scenarios as sc
>>> setup = sc.apply(sc.Outage("2022-11-10 14:00", "3h") + sc.Slippage(2.0), dl.sample())
>>> setup.config.slippage_multiplier
2.0
"""
from __future__ import annotations

import datetime as _dt
import numbers
import re
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np
import pandas as pd

from data_loaders import Dataset

from ..config import SimConfig
from ..prepare import layout_for
from . import _tables as T


# ============================================================================ setup
@dataclass(frozen=True)
class Setup:
    """Everything one run receives: the dataset, the config and the reorg events.

    Parameters
    ----------
    data : data_loaders.Dataset
    config : SimConfig
    reorgs : tuple of (pandas.Timestamp, str)
        ``(time, venue)`` pairs, as :func:`backtester.run` takes them.

    Examples
    --------
    >>> import data_loaders as dl
    >>> s = Setup(dl.sample("btcusdt-tape"), SimConfig())
    >>> s.reorgs
    ()
    """

    data: Dataset
    config: SimConfig = field(default_factory=SimConfig)
    reorgs: tuple = ()

    def __post_init__(self):
        if not isinstance(self.data, Dataset):
            raise TypeError(f"Setup.data: expected a data_loaders.Dataset, got {type(self.data).__name__}")
        if not isinstance(self.config, SimConfig):
            raise TypeError(f"Setup.config: expected a bt.SimConfig, got {type(self.config).__name__}")
        object.__setattr__(self, "reorgs", tuple(self.reorgs))

    def with_(self, **changes) -> "Setup":
        """A copy with ``changes`` (``data``, ``config`` or ``reorgs``)."""
        return replace(self, **changes)

    def run(self, strategy, **kwargs):
        """``bt.run(strategy, data, config, reorgs=reorgs)`` on this setup.

        Examples
        --------
        >>> import data_loaders as dl
        >>> from strategies import BuyAndHold
        >>> res = Setup(dl.sample("btcusdt-tape"), SimConfig()).run(BuyAndHold())  # doctest: +SKIP
        """
        from ..driver import run

        return run(strategy, self.data, self.config, reorgs=self.reorgs, **kwargs)


# ============================================================================ scenarios
class Scenario:
    """Base class of the stress scenarios: a named, deterministic transform of a :class:`Setup`.

    Subclasses are frozen dataclasses whose fields are the scenario's parameters; they define
    :attr:`name` and :meth:`apply`. ``a + b`` composes (``a`` first, then ``b``).

    Attributes
    ----------
    name : str
        Short label shown in results, e.g. ``"outage 3h @ 2022-11-10 14:00"``.
    random : bool
        True when :meth:`apply` draws from its generator (compare then runs several seeds).

    Examples
    --------
    >>> from backtester import scenarios as sc
    >>> (sc.Slippage(3.0) + sc.BridgeDelay("2h")).name
    'slippage x3 + bridge delay 2h'
    """

    random: ClassVar[bool] = False

    @property
    def name(self) -> str:
        raise NotImplementedError

    def apply(self, setup: Setup, rng: np.random.Generator) -> Setup:
        """The transformed setup (never mutates ``setup``)."""
        raise NotImplementedError

    @property
    def parts(self) -> tuple:
        """The scenarios applied in order (itself for a single one)."""
        return (self,)

    def __add__(self, other) -> "Scenario":
        return compose(self, other)

    def __radd__(self, other) -> "Scenario":
        if isinstance(other, int) and other == 0:  # sum([a, b, c])
            return self
        return compose(other, self)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Normal(Scenario):
    """The identity: the data and config as they are. Use the instance :data:`NORMAL`.

    Examples
    --------
    >>> NORMAL.name
    'normal'
    """

    @property
    def name(self) -> str:
        return "normal"

    @property
    def parts(self) -> tuple:
        return ()

    def apply(self, setup, rng):
        return setup


#: the identity scenario ("normal"); neutral in composition (``NORMAL + a`` is ``a``)
NORMAL = Normal()


@dataclass(frozen=True)
class Composed(Scenario):
    """Several scenarios applied left to right, named ``"a + b"``. Build with ``a + b``.

    Later parts see what earlier ones produced (two outages on one venue both apply; two
    ``policy`` settings: the last wins). Each part draws from the one generator in turn.

    Examples
    --------
    >>> from backtester import scenarios as sc
    >>> c = sc.Slippage(2.0) + sc.Slippage(3.0)
    >>> c.name, len(c.parts)
    ('slippage x2 + slippage x3', 2)
    """

    steps: tuple

    @property
    def name(self) -> str:
        return " + ".join(p.name for p in self.steps)

    @property
    def random(self) -> bool:  # type: ignore[override]
        return any(p.random for p in self.steps)

    @property
    def parts(self) -> tuple:
        return self.steps

    def apply(self, setup, rng):
        for part in self.steps:
            setup = part.apply(setup, rng)
        return setup


def as_scenario(value) -> Scenario:
    """``None`` -> :data:`NORMAL`, a list -> their composition, a Scenario -> itself."""
    if value is None:
        return NORMAL
    if isinstance(value, Scenario):
        return value
    if isinstance(value, (list, tuple)):
        return compose(*value)
    raise TypeError(f"expected a Scenario, a list of Scenarios or None, got {type(value).__name__}")


def compose(*scenarios) -> Scenario:
    """Compose scenarios left to right (nested compositions are flattened; NORMAL drops out).

    Examples
    --------
    >>> from backtester import scenarios as sc
    >>> compose(sc.NORMAL, sc.Slippage(2.0)).name
    'slippage x2'
    >>> compose().name
    'normal'
    """
    steps = []
    for s in scenarios:
        if not isinstance(s, Scenario):
            raise TypeError(f"can only compose Scenarios, got {type(s).__name__}")
        steps.extend(s.parts)
    if not steps:
        return NORMAL
    return steps[0] if len(steps) == 1 else Composed(tuple(steps))


def apply(scenario, data: Dataset, config: SimConfig | None = None, seed: int = 0) -> Setup:
    """Apply ``scenario`` to ``data`` and ``config``; deterministic given ``seed``.

    Parameters
    ----------
    scenario : Scenario, list of Scenario, or None
        ``None`` is :data:`NORMAL`; a list is composed left to right.
    data : data_loaders.Dataset
    config : SimConfig, optional
        Defaults to ``SimConfig()``.
    seed : int
        Seed of the generator random scenarios draw from.

    Returns
    -------
    Setup
        The transformed data, config and reorgs; the inputs are never modified.

    Examples
    --------
    >>> import data_loaders as dl
    >>> from backtester import scenarios as sc
    >>> ds = dl.sample("btcusdt-tape")
    >>> apply(None, ds).data is ds
    True
    """
    setup = Setup(data, config if config is not None else SimConfig())
    return as_scenario(scenario).apply(setup, np.random.default_rng(seed))


# ============================================================================ times
_OFFSET_TYPES = (pd.Timedelta, _dt.timedelta, np.timedelta64)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def moment(value, what: str):
    """Normalise a time argument: a UTC ``Timestamp`` (absolute) or a ``Timedelta`` (offset)."""
    if isinstance(value, _OFFSET_TYPES):
        return pd.Timedelta(value)
    if isinstance(value, str) and not _DATE.match(value.strip()):
        raise ValueError(f"{what}: a time string must start with a date ('2022-11-10 14:00', UTC); "
                         f"for an offset from the first trade pass pd.Timedelta({value!r}), got {value!r}")
    if isinstance(value, (str, _dt.datetime, pd.Timestamp, np.datetime64)):
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError):
            ts = pd.NaT
        if ts is pd.NaT:
            raise ValueError(f"{what}: expected a UTC time such as '2022-11-10 14:00' or a "
                             f"pd.Timedelta offset from the first trade, got {value!r}")
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    raise TypeError(f"{what}: expected a time (str or pd.Timestamp, UTC) or a pd.Timedelta offset "
                    f"from the data's first trade, got {type(value).__name__}")


def unitless(value) -> bool:
    """A duration given as a number without a unit (``6``, ``"6"``, ``" 1.5 "``; zero is
    zero in any unit): pandas would read it as nanoseconds, so durations refuse it.

    Examples
    --------
    >>> unitless("6"), unitless(6.0), unitless("6h"), unitless(0), unitless(pd.Timedelta(6))
    (True, True, False, False, False)
    """
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return False
    elif isinstance(value, (numbers.Real, np.number)) and not isinstance(value, (bool, np.timedelta64)):
        number = float(value)
    else:
        return False
    return number != 0


def span(value, what: str, *, zero: bool = False) -> pd.Timedelta:
    """Normalise a duration argument (``> 0``, or ``>= 0`` with ``zero=True``; a number needs
    a unit, see :func:`unitless`)."""
    if unitless(value):
        raise ValueError(f"{what}: expected a duration with a unit such as '3h' or '90s', got {value!r}")
    try:
        td = pd.Timedelta(value)
    except (ValueError, TypeError):
        td = pd.NaT
    if td is pd.NaT:
        raise ValueError(f"{what}: expected a duration such as '3h' or '90s', got {value!r}")
    if td < pd.Timedelta(0) or (td == pd.Timedelta(0) and not zero):
        raise ValueError(f"{what}: must be {'>=' if zero else '>'} 0, got {value!r}")
    return td


def factor(value, what: str, *, zero: bool = False) -> float:
    """Normalise a multiplier argument: a finite number ``> 0`` (``>= 0`` with ``zero=True``)."""
    x = float(value)
    if not (np.isfinite(x) and (x > 0 or (zero and x == 0))):
        raise ValueError(f"{what}: expected a finite number {'>=' if zero else '>'} 0, got {value!r}")
    return x


def bounds(data: Dataset) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last trade of ``data`` (the range scenario times must fall in)."""
    if data.start is None:
        raise ValueError("the dataset has no trades: scenario times are relative to its trades")
    return data.start, data.end


def resolve(value, data: Dataset, what: str) -> int:
    """A normalised time as int ns, checked to lie within the data's trades."""
    first, last = bounds(data)
    ts = first + value if isinstance(value, pd.Timedelta) else value
    if not first <= ts <= last:
        raise ValueError(f"{what} {ts} is outside the data ({first} .. {last})")
    return int(ts.value)


def window(start, duration, data: Dataset, what: str) -> tuple[int | None, int]:
    """``(s, e)`` ns of a window; ``(None, NS_MAX)`` for the whole run, ``e = NS_MAX`` if open.

    A window that began before the first trade and is still in force at it (an outage under way
    when a slice of the data starts, as a walk-forward's windows cut it) starts at the first
    trade; one that ended before it, or starts after the last trade, is outside the data.
    """
    if start is None:
        return None, T.NS_MAX
    first, _ = bounds(data)
    if isinstance(start, pd.Timestamp) and start < first and (duration is None or start + duration > first):
        s = int(first.value)
        return s, (T.NS_MAX if duration is None else int(start.value) + int(duration.value))
    s = resolve(start, data, f"{what}.start")
    return s, (T.NS_MAX if duration is None else s + int(duration.value))


def earliest(data: Dataset) -> int:
    """The earliest timestamp in any table (where added trace rows may be anchored)."""
    firsts = [int(T.ts_ns(t).min()) for t in (data.trades, data.funding, data.oracle, data.latency,
                                               data.book) if t.num_rows]
    return min(firsts)


# ============================================================================ names in the data
def venues_of(setup: Setup) -> list[str]:
    """The venues a run on this setup has (traces plus the venues of its markets)."""
    return layout_for(setup.data, setup.config).venues


def markets_of(data: Dataset) -> list[str]:
    """Markets named in any market table of ``data``."""
    found = set()
    for t in (data.trades, data.funding, data.oracle, data.book):
        found.update(T.names(t, "market"))
    return sorted(found)


def pick(given, known: list[str], what: str, owner: str) -> list[str]:
    """``given`` (None = all ``known``) checked against ``known``."""
    if given is None:
        return list(known)
    unknown = [g for g in given if g not in known]
    if unknown:
        raise ValueError(f"{owner}: unknown {what} {unknown[0]!r}; the data has {', '.join(known) or 'none'}")
    return list(given)


def as_names(value, what: str):
    """None, one name or a sequence of names -> None or a tuple of str."""
    if value is None:
        return None
    names = (value,) if isinstance(value, str) else tuple(value)
    if not names or not all(isinstance(n, str) for n in names):
        raise TypeError(f"{what}: expected a name or a list of names, got {value!r}")
    return names


# ============================================================================ labels
def fmt_duration(td: pd.Timedelta) -> str:
    """Compact duration: ``3h``, ``9h30min``, ``2min52.5s``, ``250ms``.

    Examples
    --------
    >>> fmt_duration(pd.Timedelta("9.5h")), fmt_duration(pd.Timedelta("172.5s"))
    ('9h30min', '2min52.5s')
    """
    ns = int(td.value)
    if ns == 0:
        return "0s"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:g}ms"
    out = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        n, ns = divmod(ns, size * 1_000_000_000)
        if n:
            out.append(f"{n}{unit}")
    if ns:
        out.append(f"{round(ns / 1e9, 3):g}s")
    return "".join(out)


def fmt_moment(value) -> str:
    """``2022-11-10 14:00`` (seconds and milliseconds only when present) or ``start+2d14h``."""
    if isinstance(value, pd.Timedelta):
        return f"start+{fmt_duration(value)}"
    if value.nanosecond == 0 and value.microsecond == 0:
        return value.strftime("%Y-%m-%d %H:%M" if value.second == 0 else "%Y-%m-%d %H:%M:%S")
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def fmt_window(start, duration) -> str:
    """`` 3h @ 2022-11-10 14:00``, `` from 2022-11-10 14:00`` (open-ended) or ``''`` (whole run)."""
    if start is None:
        return ""
    if duration is None:
        return f" from {fmt_moment(start)}"
    return f" {fmt_duration(duration)} @ {fmt_moment(start)}"


def fmt_factor(x: float) -> str:
    """``x3``, ``x0.5``."""
    return f"x{x:g}"


def set_attr(obj, name, value):
    """Normalise a field of a frozen dataclass in ``__post_init__``."""
    object.__setattr__(obj, name, value)
