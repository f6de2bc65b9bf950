"""Dated venue incidents, their replay on any dataset, and the preset stress suite.

The incidents are the public facts listed in ``../shared/data/README.md`` ("Facts worth
knowing"). Where the source gives no time of day, an incident is replayed from
:data:`UNKNOWN_TIME` (12:00 UTC); its record keeps ``start=None`` so nobody mistakes the
placement for history.

Examples
--------
>>> import data_loaders as dl
>>> from backtester import scenarios as sc
>>> halt = sc.INCIDENTS[0]
>>> halt.title
'dYdX halt 2024-04-08 (9.5h)'
>>> halt.replay(dl.sample()).name
'dYdX halt 2024-04-08 (9.5h) replayed @ 2022-11-10 12:00'
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import _tables as T
from .base import Scenario, bounds, compose, fmt_duration, moment, set_attr
from .market import FundingShock, LiquidityDrought, PriceShock, Slippage
from .venue import LatencySpike, OracleDelay, Outage, Reorg

#: where an incident whose time of day the source does not give is replayed (UTC)
UNKNOWN_TIME = _dt.time(12, 0)


@dataclass(frozen=True)
class Incident:
    """A dated venue incident from a public source.

    Parameters
    ----------
    name : str
        Short name (``"dYdX halt"``).
    date : str
        UTC day it began (``"2024-04-08"``).
    start : datetime.time or None
        UTC time of day it began; None when the source does not say.
    duration : Timedelta
        Length of the outage or slowdown.
    kind : {'outage', 'latency'}
        Replayed as an :class:`Outage` or a :class:`LatencySpike` of ``multiplier``.
    source : str
        The source's words.
    label : str
        How long it was, as the title shows it (``"9.5h"``).
    multiplier : float
        Latency multiplier of a ``'latency'`` incident.
    stale_oracle : Timedelta
        After an outage, how long the oracle stays stale. Modelled as an :class:`OracleDelay`
        of the outage's length on that period: at restart the oracle shows the price from when
        the venue stopped, and it lags by the outage's length until the period ends.

    Examples
    --------
    >>> INCIDENTS[2].kind, round(INCIDENTS[2].multiplier, 1)
    ('latency', 30.1)
    """

    name: str
    date: str
    start: _dt.time | None
    duration: pd.Timedelta
    kind: str
    source: str
    label: str
    multiplier: float = 1.0
    stale_oracle: pd.Timedelta = pd.Timedelta(0)

    def __post_init__(self):
        if self.kind not in ("outage", "latency"):
            raise ValueError(f"Incident.kind: expected 'outage' or 'latency', got {self.kind!r}")
        set_attr(self, "duration", pd.Timedelta(self.duration))
        set_attr(self, "stale_oracle", pd.Timedelta(self.stale_oracle))

    @property
    def title(self) -> str:
        """``"<name> <date> (<label>)"``."""
        return f"{self.name} {self.date} ({self.label})"

    @property
    def total(self) -> pd.Timedelta:
        """Outage (or slowdown) plus stale-oracle period."""
        return self.duration + self.stale_oracle

    def days(self, data) -> list[pd.Timestamp]:
        """Days of ``data`` on which the incident, at its time of day, fits between the first and
        last trade without meeting (overlapping or abutting) downtime already in its latency trace."""
        first, last = bounds(data)
        tod = pd.Timedelta(hours=(self.start or UNKNOWN_TIME).hour, minutes=(self.start or UNKNOWN_TIME).minute)
        out = []
        for day in pd.date_range(first.normalize(), last.normalize(), freq="D"):
            a = day + tod
            if first <= a and a + self.total <= last and not _down_during(data, a, a + self.total):
                out.append(day)
        return out

    def replay(self, data, day=None, *, scale: float | None = None, venue=None) -> "Replay":
        """The incident as a scenario on ``data``.

        Parameters
        ----------
        data : data_loaders.Dataset
        day : str or Timestamp, optional
            UTC day to replay it on, at its time of day. Default: the middle one (the earlier of
            two) of :meth:`days`, the days where it fits whole without meeting existing
            downtime.
        scale : float, optional
            For data shorter than the incident: every duration times ``scale`` (in ``(0, 1]``),
            starting a quarter of the way into the data (the time of day cannot be kept).
        venue : str or list of str, optional
            Venue(s) hit; default every venue of the run.

        Raises
        ------
        ValueError
            When the incident does not fit (the message suggests ``scale=``).

        Examples
        --------
        >>> import data_loaders as dl
        >>> r = INCIDENTS[0].replay(dl.sample("btcusdt-tape"), scale=0.005)
        >>> r.name
        'dYdX halt 2024-04-08 (9.5h) replayed @ 2024-08-08 23:55, scaled to 2min51s'
        """
        first, last = bounds(data)
        if scale is not None:
            scale = float(scale)
            if not 0 < scale <= 1:
                raise ValueError(f"{self.title}: scale must be in (0, 1], got {scale!r}")
            at = _round_time(first + (last - first) / 4, last - first)
            if at + _scaled(self.total, scale) > last:
                raise ValueError(f"{self.title}: scaled to {fmt_duration(_scaled(self.total, scale))} it still does "
                                 f"not fit in the data ({first} .. {last}); use a smaller scale")
            return Replay(self, at, scale, venue)
        tod = self.start or UNKNOWN_TIME
        if day is not None:
            d = moment(str(pd.Timestamp(day).date()), f"{self.title}: day").normalize()
            if d not in self.days(data):
                raise ValueError(f"{self.title} does not fit whole on {d.date()} at {tod:%H:%M} UTC in the data "
                                 f"({first} .. {last}) without meeting its downtime; days that fit: "
                                 f"{[str(x.date()) for x in self.days(data)]}")
            return Replay(self, d + pd.Timedelta(hours=tod.hour, minutes=tod.minute), 1.0, venue)
        days = self.days(data)
        if not days:
            raise ValueError(f"{self.title} ({fmt_duration(self.total)} from {tod:%H:%M} UTC) fits on no day of the "
                             f"data ({first} .. {last}); pass scale= to replay it compressed")
        d = days[(len(days) - 1) // 2]
        return Replay(self, d + pd.Timedelta(hours=tod.hour, minutes=tod.minute), 1.0, venue)


def _scaled(td: pd.Timedelta, scale: float) -> pd.Timedelta:
    """``td * scale``, rounded so names stay readable: to the second from 10 s, to 0.1 s from
    1 s, else to the millisecond (at least 1 ms)."""
    if scale == 1.0:
        return td
    ns = td.value * scale
    unit = 1e9 if ns >= 10e9 else 1e8 if ns >= 1e9 else 1e6
    return pd.Timedelta(int(max(1, round(ns / unit)) * unit), "ns")


def _round_time(ts: pd.Timestamp, length: pd.Timedelta) -> pd.Timestamp:
    """``ts`` floored to a round unit for ``length`` of data (hour, minute or second)."""
    unit = "1h" if length >= pd.Timedelta("2D") else "1min" if length >= pd.Timedelta("2h") else "1s"
    return ts.floor(unit)


def _down_during(data, a: pd.Timestamp, b: pd.Timestamp) -> bool:
    """True when some venue's trace is down at any time in ``[a, b]``."""
    lt = data.latency
    if lt.num_rows == 0:
        return False
    ts = T.ts_ns(lt)
    up = np.asarray(lt.column("up").to_numpy(zero_copy_only=False), bool)
    for v in T.names(lt, "venue"):
        p = T.group_rows(lt, "venue", v)
        i = max(np.searchsorted(ts[p], a.value, side="right") - 1, 0)  # the row in force at a
        j = np.searchsorted(ts[p], b.value, side="right")  # [a, b]: an abutting outage would merge
        if not up[p[i:max(j, i + 1)]].all():
            return True
    return False


@dataclass(frozen=True)
class Replay(Scenario):
    """An :class:`Incident` placed at ``at`` (durations times ``scale``). Build with
    :meth:`Incident.replay`.

    Examples
    --------
    >>> r = Replay(INCIDENTS[1], pd.Timestamp("2022-11-09 21:35", tz="UTC"))
    >>> [p.name for p in r.expand().parts]
    ['outage 6h25min @ 2022-11-09 21:35', 'oracle delay 6h25min 1h35min @ 2022-11-10 04:00']
    """

    incident: Incident
    at: object
    scale: float = 1.0
    venue: object = None

    def __post_init__(self):
        set_attr(self, "at", moment(self.at, "Replay.at"))

    @property
    def name(self) -> str:
        # where it was placed belongs in the name: the incident's own date is outside the data
        text = f"{self.incident.title} replayed @ {self.at:%Y-%m-%d %H:%M}"
        if self.scale != 1.0:
            text += f", scaled to {fmt_duration(_scaled(self.incident.total, self.scale))}"
        return text

    def expand(self) -> Scenario:
        """The outage or latency spike (plus stale oracle) this replay applies."""
        inc = self.incident
        length = _scaled(inc.duration, self.scale)
        if inc.kind == "latency":
            return LatencySpike(self.at, length, inc.multiplier, venue=self.venue)
        parts = [Outage(self.at, length, venue=self.venue)]
        if inc.stale_oracle > pd.Timedelta(0):
            parts.append(OracleDelay(length, self.at + length, _scaled(inc.stale_oracle, self.scale)))
        return compose(*parts)

    def apply(self, setup, rng):
        return self.expand().apply(setup, rng)


_README = "../shared/data/README.md, 'Facts worth knowing'"

#: the dated incidents of the data README, oldest first by source line
INCIDENTS: tuple[Incident, ...] = (
    Incident("dYdX halt", "2024-04-08", None, pd.Timedelta("9.5h"), "outage",
             f"{_README}: dYdX v4 chain halts: 2024-04-08 about 9.5 h (upgrade).", "9.5h"),
    # The README gives both "21:35 UTC to about 04:00 UTC next day" (6 h 25 min) and "about 8 h,
    # stale oracle after restart": the explicit times bound the halt, the rest of the 8 h is
    # the stale-oracle period after the restart.
    Incident("dYdX halt", "2025-10-10", _dt.time(21, 35), pd.Timedelta("6h25min"), "outage",
             f"{_README}: dYdX v4 chain halt 2025-10-10 21:35 UTC to about 04:00 UTC next day (about 8 h, "
             "stale oracle after restart).", "8h, stale oracle", stale_oracle=pd.Timedelta("1h35min")),
    Incident("Arbitrum slowdown", "2023-12-15", _dt.time(15, 30), pd.Timedelta("3h"), "latency",
             f"{_README}: Arbitrum One on 2023-12-15 block production collapsed from about 15:30 to 18:30 UTC "
             "(up to 782 s per 100 blocks against about 26 s normally).", "3h, latency x30",
             multiplier=782 / 26),
    Incident("Arbitrum outage", "2022-01-09", None, pd.Timedelta("7h"), "outage",
             f"{_README}: Arbitrum One 2022-01-09 sequencer outage about 7 h.", "7h"),
    Incident("OP Mainnet stall", "2024-02-15", None, pd.Timedelta("2h"), "outage",
             f"{_README}: OP Mainnet 2024-02-15 unsafe-head stall, about 2 h.", "2h"),
)


def stress_suite(data=None) -> list[Scenario]:
    """The preset stress scenarios for ``data``: the dated incidents replayed on it, plus
    market and venue shocks.

    Parameters
    ----------
    data : data_loaders.Dataset, optional
        Default: ``data_loaders.sample()``.

    Returns
    -------
    list of Scenario
        With distinct names: the :data:`INCIDENTS` replayed (outages, a latency spike, a stale
        oracle), slippage x3, a funding flip (only when the data has funding rows), a -20 %
        crash with a 5-minute gap at mid-data, a 6-hour liquidity drought at 60 % of the data,
        a 30 s oracle delay, and a reorg on every venue 3 s after a round time at 70 % of the
        data (when fills of decisions on the round time are typically still pending).

    Notes
    -----
    Each incident is replayed at its time of day when it fits on some day of the data
    (:meth:`Incident.replay`). Short data: an incident that fits on no day is replayed a quarter
    of the way into the data, and on data shorter than twice the longest incident (9.5 h)
    every incident placed so and every window (the crash's gap, the drought) is compressed by
    one factor, ``0.5 * data length / 9.5 h``, so the longest incident spans half the data (on
    the 6-minute tape: about 1/200). Delays (oracle delay, latency multiplier) are not scaled.

    Examples
    --------
    >>> import data_loaders as dl
    >>> names = [s.name for s in stress_suite(dl.sample("btcusdt-tape"))]
    >>> len(names) == len(set(names))
    True
    """
    if data is None:
        import data_loaders as dl

        data = dl.sample()
    first, last = bounds(data)
    length = last - first
    factor = min(1.0, 0.5 * length / max(inc.total for inc in INCIDENTS))

    def anchor(frac):
        return max(first, _round_time(first + length * frac, length))

    suite: list[Scenario] = [inc.replay(data) if inc.days(data) else inc.replay(data, scale=factor)
                             for inc in INCIDENTS]
    suite.append(Slippage(3.0))
    if data.funding.num_rows:
        suite.append(FundingShock(flip=True))
    suite += [
        # past a 3x long's liquidation distance (about -32 % at BTC's 1.2 % MMF): the gap
        # leaves no time to de-lever, which is the point of the test
        PriceShock(anchor(0.5), -0.35, gap=_scaled(pd.Timedelta("5min"), factor)),
        LiquidityDrought(anchor(0.6), _scaled(pd.Timedelta("6h"), factor)),
        OracleDelay("30s"),
        Reorg(anchor(0.7) + pd.Timedelta("3s")),
    ]
    return suite


def by_name(names, data=None) -> list[Scenario]:
    """Scenarios by the names the command line takes: ``"normal"`` (:data:`NORMAL`),
    ``"stress"`` (all of :func:`stress_suite`), or a suite scenario by its slug or a prefix of it
    (``"dydx-halt"``), in the order given, each once.

    Parameters
    ----------
    names : str or sequence of str
    data : data_loaders.Dataset, optional
        The data the stress suite is built for (default: ``data_loaders.sample()``).

    Raises
    ------
    ValueError
        A name that matches nothing, listing the names there are.

    Examples
    --------
    >>> import data_loaders as dl
    >>> tape = dl.sample("btcusdt-tape")
    >>> [s.name for s in by_name(["normal", "slippage"], tape)]
    ['normal', 'slippage x3']
    """
    from ..report import slug  # the file-name slug the report gives every scenario
    from .base import NORMAL

    out, suite = [], None
    for name in [names] if isinstance(names, str) else names:
        if name == "normal":
            out.append(NORMAL)
            continue
        suite = suite if suite is not None else stress_suite(data)
        if name == "stress":
            out.extend(suite)
            continue
        hits = [s for s in suite if slug(s.name).startswith(slug(name))]
        if not hits:
            known = ", ".join(["normal", "stress"] + [slug(s.name) for s in suite])
            raise ValueError(f"unknown scenario {name!r}; choose from: {known}")
        out.extend(hits)
    seen, unique = set(), []
    for s in out:
        if s.name not in seen:
            seen.add(s.name)
            unique.append(s)
    return unique
