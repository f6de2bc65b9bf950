"""When a strategy decides: the decision grid of ``Strategy.every`` (docs/simulation.md,
"Decisions"). The one home of the rule; the driver, the analysis frames and the ready-made
strategies all ask here.

``every`` is one of

- a fixed duration (``"1min"``, ``"1h"``, ``"1D"``): its multiples counted from the epoch, UTC,
  as pandas ``floor`` does; durations of whole weeks are counted from Monday 1970-01-05, so
  ``"1W"`` (and a bare ``"W"``) decides on Mondays at midnight UTC (1970-01-01 was a
  Thursday); a bare number has no unit and is an error;
- a calendar frequency pandas knows (``"MS"`` month starts, ``"W-FRI"``, ``"QS"``, ``"BMS"``):
  the dates of ``pandas.date_range`` with that frequency;
- explicit times: any sorted sequence of tz-aware timestamps (or int64 nanoseconds, UTC).

Examples
--------
>>> import pandas as pd
>>> from backtester.cadence import decision_times
>>> start, end = pd.Timestamp("2024-01-03 10:20", tz="UTC").value, pd.Timestamp("2024-01-17", tz="UTC").value
>>> [t.strftime("%a %d") for t in decision_times("1W", start, end)]
['Mon 08', 'Mon 15']
>>> decision_times("6h", start, pd.Timestamp("2024-01-04", tz="UTC").value).strftime("%H:%M").tolist()
['12:00', '18:00', '00:00']
>>> decision_times("MS", pd.Timestamp("2024-01-15", tz="UTC").value, pd.Timestamp("2024-04-01", tz="UTC").value).strftime("%m-%d").tolist()
['02-01', '03-01', '04-01']
"""
from __future__ import annotations

import functools
import numbers

import numpy as np
import pandas as pd

_WEEK_NS = 7 * 24 * 3600 * 10**9
#: most decision times one grid may have. A run holds about 8 bytes a decision plus 8 per market
#: (fast-path targets), so 50 million is a few hundred MB: deciding every second for a year and a
#: half. ``every="1ns"`` on six minutes of data would be 3.6e11 decisions (terabytes). Raise it
#: (``backtester.cadence.MAX_DECISIONS = ...``) to allow longer grids.
MAX_DECISIONS = 50_000_000
#: Monday 1970-01-05 00:00 UTC: the origin of week-multiple cadences
_MONDAY_NS = 4 * 24 * 3600 * 10**9


def _as_times(every) -> np.ndarray | None:
    """int64 ns of an explicit sequence of times, or None when ``every`` is not one."""
    if isinstance(every, (str, pd.Timedelta, np.timedelta64, numbers.Number)) or np.isscalar(every):
        return None
    try:
        idx = pd.DatetimeIndex(every)
    except (TypeError, ValueError):
        values = np.asarray(every)
        if values.dtype.kind not in "iu":
            raise ValueError(f"every: expected a duration ('1h'), a calendar frequency ('MS') or sorted "
                             f"UTC timestamps, got {type(every).__name__}") from None
        idx = pd.DatetimeIndex(values.astype(np.int64), tz="UTC")
    if len(idx) and idx.tz is None:
        if np.asarray(every).dtype.kind in "iu":
            idx = idx.tz_localize("UTC")
        else:
            raise ValueError("every: explicit decision times must be timezone-aware (e.g. tz='UTC')")
    ns = idx.as_unit("ns").asi8 if len(idx) else np.zeros(0, np.int64)
    if len(ns) > 1 and np.any(np.diff(ns) < 0):
        row = int(np.flatnonzero(np.diff(ns) < 0)[0]) + 1
        raise ValueError(f"every: explicit decision times must be sorted; time {row} "
                         f"({idx[row]}) is before the one before it")
    return ns


def _fixed(every):
    """``every`` as a fixed duration when it is one: a bare ``"W"`` is the week (Mondays), as
    ``"1W"``, not pandas' Sunday-anchored ``W-SUN``."""
    if isinstance(every, str) and every.strip().upper() == "W":
        return pd.Timedelta(_WEEK_NS, "ns")
    return every


def _calendar(every):
    """The pandas offset of a calendar frequency string, or None for fixed durations."""
    every = _fixed(every)
    if isinstance(every, (bool, numbers.Number)):  # a bare number would silently mean nanoseconds
        raise ValueError(f"every: {every!r} has no unit; write a duration such as '5min' or '1h'")
    try:
        pd.Timedelta(every)
        return None
    except (TypeError, ValueError):
        pass
    try:
        return pd.tseries.frequencies.to_offset(every)
    except (TypeError, ValueError):
        raise ValueError(f"every: expected a duration such as '1min' or '1h', a calendar frequency "
                         f"such as 'MS', or sorted timestamps, got {every!r}") from None


def check_every(every) -> None:
    """Raise ``ValueError`` for an ``every`` that cannot make a decision grid (at construction,
    not mid-run).

    Examples
    --------
    >>> check_every("1h"); check_every("MS"); check_every(["2024-01-01T00:00Z"])
    >>> check_every("-1h")
    Traceback (most recent call last):
    ...
    ValueError: every must be a positive duration, got '-1h'
    """
    if _as_times(every) is not None:
        return
    if _calendar(every) is None and pd.Timedelta(_fixed(every)).value <= 0:
        raise ValueError(f"every must be a positive duration, got {every!r}")


def decision_times(every, start_ns: int, end_ns: int) -> pd.DatetimeIndex:
    """Decision times of ``every`` within ``[start_ns, end_ns]`` (explicit times are kept as
    given, in or out of that range).

    Parameters
    ----------
    every : str, Timedelta or sequence of timestamps
        See the module docstring.
    start_ns, end_ns : int
        First and last trade time (ns since the epoch, UTC).

    Returns
    -------
    pandas.DatetimeIndex
        UTC.

    Raises
    ------
    ValueError
        For a bad ``every``, or a grid of more than :data:`MAX_DECISIONS` times.
    """
    check_every(every)
    explicit = _as_times(every)
    if explicit is not None:
        return pd.DatetimeIndex(explicit.view("datetime64[ns]"), tz="UTC")
    # before the cache, so a lowered MAX_DECISIONS also applies to a grid built earlier
    _check_count(every, int(start_ns), int(end_ns))
    try:
        hash(every)
    except TypeError:
        return _grid(every, int(start_ns), int(end_ns))
    return _shared_grid(every, int(start_ns), int(end_ns))


@functools.lru_cache(maxsize=64)
def _shared_grid(every, start_ns: int, end_ns: int) -> pd.DatetimeIndex:
    """:func:`_grid`, one index object per (every, span): the runs of a sweep share it, so
    what strategies compute per decision time is computed once (``Dataset.prices_at``). A
    DatetimeIndex is immutable."""
    return _grid(every, start_ns, end_ns)


def _first_and_step(every, start_ns: int) -> tuple[int, int]:
    """First decision time at or after ``start_ns`` of a fixed-duration ``every``, and its step."""
    step = pd.Timedelta(_fixed(every)).value
    origin = _MONDAY_NS if step % _WEEK_NS == 0 else 0
    return origin + -(-(start_ns - origin) // step) * step, step


def _check_count(every, start_ns: int, end_ns: int) -> None:
    """``ValueError`` when a fixed-duration grid would hold more than :data:`MAX_DECISIONS`
    times: counted, not built (calendar frequencies step by a business hour at the finest)."""
    if _calendar(every) is not None:
        return
    first, step = _first_and_step(every, start_ns)
    count = (end_ns - first) // step + 1 if first <= end_ns else 0
    if count > MAX_DECISIONS:
        span = pd.Timedelta(end_ns - start_ns, "ns")
        raise ValueError(f"every={every!r} gives {count:,} decision times over the data's {span}, more than "
                         f"backtester.cadence.MAX_DECISIONS = {MAX_DECISIONS:,}; choose a coarser cadence, or raise "
                         "MAX_DECISIONS if the run really needs that many")


def _grid(every, start_ns: int, end_ns: int) -> pd.DatetimeIndex:
    offset = _calendar(every)
    if offset is not None:
        return pd.date_range(pd.Timestamp(start_ns, tz="UTC"), pd.Timestamp(end_ns, tz="UTC"),
                             freq=offset).as_unit("ns")
    first, step = _first_and_step(every, start_ns)
    return pd.DatetimeIndex(np.arange(first, end_ns + 1, step, dtype=np.int64).view("datetime64[ns]"), tz="UTC")
