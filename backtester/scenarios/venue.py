"""Venue scenarios: outage, latency spike, oracle delay, reorg, bridge delay.

The latency trace is a step function per venue (the row in force at ``t`` is the last with
``ts <= t``; before its first row, its first row: docs/simulation.md, "Trace lookup"). A window
``[start, end)`` is edited by adding a row at ``start`` (a copy of the row in force) and a row
at ``end`` (a copy of the original row in force there), then editing the rows in between, so
the trace outside the window is unchanged. A venue without trace rows (zero latency, always up)
gets rows created: a zero row at the data's earliest timestamp, the window's rows, and a zero
row at its end.

Examples
--------
>>> import data_loaders as dl
>>> from backtester import scenarios as sc
>>> s = sc.apply(sc.Outage("2022-11-10 14:00", "3h", policy="reject"), dl.sample())
>>> s.config.downtime_policy
'reject'
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa

from data_loaders.schemas import LATENCY, ORACLE

from . import _tables as T
from .base import (Scenario, as_names, earliest, factor, fmt_duration, fmt_factor, fmt_moment, fmt_window,
                   moment, pick, resolve, set_attr, span, venues_of, window)

_LATENCIES = ("order_latency", "ack_latency", "finality")


def _venue_label(venues) -> str:
    return "" if venues is None else " on " + ",".join(venues)


# ============================================================================ trace edits
def _blank_trace(venues: list[str], at: int) -> pa.Table:
    """One row per venue with what "no trace" means: zero latencies and gas, up."""
    n = len(venues)
    zeros = pa.array(np.zeros(n, np.int64)).cast(pa.duration("ns"))
    return pa.Table.from_arrays([
        pa.array(np.full(n, at, np.int64)).cast(LATENCY.field("ts").type),
        pa.array(venues, pa.string()).dictionary_encode().cast(LATENCY.field("venue").type),
        zeros, zeros, zeros, pa.array(np.ones(n, bool)), pa.array(np.zeros(n)),
    ], schema=LATENCY)


def edit_trace(setup, venues: list[str], s: int, e: int, edit) -> pa.Table:
    """The latency table with ``edit(table, mask)`` applied to ``venues`` on ``[s, e)``.

    ``edit`` receives the rebuilt table and the mask of the rows in force inside the window and
    returns the edited table.
    """
    data = setup.data
    lt = data.latency
    floor = earliest(data)
    missing = [v for v in venues if v not in T.names(lt, "venue")]
    if missing:
        lt = pa.concat_tables([lt, _blank_trace(missing, min(floor, s))]).combine_chunks()
    ts = T.ts_ns(lt)
    takes, stamps, flags = [], [], []
    for v in T.names(lt, "venue"):
        p = T.group_rows(lt, "venue", v)
        if v in venues:
            tk, st, fl = T.step_window(ts[p], p, s, e, floor)
        else:
            tk, st, fl = p, ts[p], np.zeros(len(p), bool)
        takes.append(tk), stamps.append(st), flags.append(fl)
    out, order = T.rebuild(lt, np.concatenate(takes), np.concatenate(stamps))
    return edit(out, np.concatenate(flags)[order])


def _set_down(table: pa.Table, mask: np.ndarray) -> pa.Table:
    up = np.array(table.column("up").to_numpy(zero_copy_only=False), bool)
    up[mask] = False
    return T.set_column(table, "up", pa.array(up))


def _slow_down(factor: float):
    def edit(table: pa.Table, mask: np.ndarray) -> pa.Table:
        for name in _LATENCIES:
            ns = T.durations(table, name)
            ns[mask] = np.round(ns[mask] * factor).astype(np.int64)
            table = T.set_column(table, name, pa.array(ns).cast(pa.duration("ns")))
        return table
    return edit


# ============================================================================ scenarios
@dataclass(frozen=True)
class Outage(Scenario):
    """Venue down on ``[start, start + duration)``: no matching, no liquidation, orders queued
    or rejected.

    Parameters
    ----------
    start : str, Timestamp or Timedelta
        Absolute UTC time, or an offset from the data's first trade.
    duration : str or Timedelta
    venue : str or list of str, optional
        Default: every venue of the run (trace venues and the venues of its markets).
    policy : {'queue', 'reject'}, optional
        Sets ``SimConfig.downtime_policy``, which is global to the run: it also governs any
        other downtime in the data (the sample's own outage included). None keeps the config's.

    Notes
    -----
    Rows of the trace inside the window get ``up=False``; a row copying the latencies in force
    is added at ``start`` and a row restoring the original row in force at the end. Latencies
    and gas are unchanged; an outage overlapping an existing one simply extends the downtime.

    Examples
    --------
    >>> Outage("2022-11-10 14:00", "3h").name
    'outage 3h @ 2022-11-10 14:00'
    >>> Outage(pd.Timedelta("2D14h"), "90min", venue="dydx", policy="reject").name
    'outage 1h30min @ start+2d14h on dydx (reject)'
    """

    start: object
    duration: object
    venue: object = None
    policy: str | None = None

    def __post_init__(self):
        set_attr(self, "start", moment(self.start, "Outage.start"))
        set_attr(self, "duration", span(self.duration, "Outage.duration"))
        set_attr(self, "venue", as_names(self.venue, "Outage.venue"))
        if self.policy not in (None, "queue", "reject"):
            raise ValueError(f"Outage.policy: expected 'queue', 'reject' or None, got {self.policy!r}")

    @property
    def name(self) -> str:
        policy = f" ({self.policy})" if self.policy else ""
        return f"outage{fmt_window(self.start, self.duration)}{_venue_label(self.venue)}{policy}"

    def apply(self, setup, rng):
        s, e = window(self.start, self.duration, setup.data, "Outage")
        venues = pick(self.venue, venues_of(setup), "venue", "Outage")
        latency = edit_trace(setup, venues, s, e, _set_down)
        config = setup.config if self.policy is None else setup.config.with_(downtime_policy=self.policy)
        return setup.with_(data=replace(setup.data, latency=latency), config=config)


@dataclass(frozen=True)
class LatencySpike(Scenario):
    """Order, acknowledgement and finality latency multiplied by ``multiplier`` on a window.

    Parameters
    ----------
    start : str, Timestamp or Timedelta
    duration : str or Timedelta
    multiplier : float
        ``> 0`` (below 1 speeds the venue up).
    venue : str or list of str, optional
        Default: every venue.

    Notes
    -----
    Same row technique as :class:`Outage`; ``up`` and gas are unchanged. A venue without a
    trace has zero latency, which no multiplier changes.

    Examples
    --------
    >>> LatencySpike("2023-12-15 15:30", "3h", 30).name
    'latency x30 3h @ 2023-12-15 15:30'
    """

    start: object
    duration: object
    multiplier: float
    venue: object = None

    def __post_init__(self):
        set_attr(self, "start", moment(self.start, "LatencySpike.start"))
        set_attr(self, "duration", span(self.duration, "LatencySpike.duration"))
        set_attr(self, "venue", as_names(self.venue, "LatencySpike.venue"))
        set_attr(self, "multiplier", factor(self.multiplier, "LatencySpike.multiplier"))

    @property
    def name(self) -> str:
        return f"latency {fmt_factor(self.multiplier)}{fmt_window(self.start, self.duration)}{_venue_label(self.venue)}"

    def apply(self, setup, rng):
        s, e = window(self.start, self.duration, setup.data, "LatencySpike")
        venues = pick(self.venue, venues_of(setup), "venue", "LatencySpike")
        latency = edit_trace(setup, venues, s, e, _slow_down(self.multiplier))
        return setup.with_(data=replace(setup.data, latency=latency))


@dataclass(frozen=True)
class OracleDelay(Scenario):
    """A stale oracle: its updates arrive ``delay`` late, over the whole run or on a window.

    Parameters
    ----------
    delay : str or Timedelta
    start : str, Timestamp or Timedelta, optional
        Window start; None = the whole run.
    duration : str or Timedelta, optional
        Window length; None with a ``start`` = to the end.

    Notes
    -----
    Whole run: every oracle row is stamped ``delay`` later, and for markets whose oracle is
    derived from trades (no oracle rows) ``SimConfig.oracle_delay`` grows by ``delay``.
    On a window: inside it the oracle in force at ``t`` is the original one at ``t - delay``
    (rows added at the window's edges keep the table a step function with the original values
    outside); markets without oracle rows first get their derived oracle written out as rows
    (trade times plus the config's ``oracle_delay``), so that a window can apply.
    Funding rows carry their own ``oracle_price`` and are not changed.

    Examples
    --------
    >>> OracleDelay("30s").name
    'oracle delay 30s'
    >>> OracleDelay("10min", "2022-11-10 04:00", "1h").name
    'oracle delay 10min 1h @ 2022-11-10 04:00'
    """

    delay: object
    start: object = None
    duration: object = None

    def __post_init__(self):
        set_attr(self, "delay", span(self.delay, "OracleDelay.delay"))
        if self.start is None and self.duration is not None:
            raise ValueError("OracleDelay: a duration needs a start")
        if self.start is not None:
            set_attr(self, "start", moment(self.start, "OracleDelay.start"))
        if self.duration is not None:
            set_attr(self, "duration", span(self.duration, "OracleDelay.duration"))

    @property
    def name(self) -> str:
        return f"oracle delay {fmt_duration(self.delay)}{fmt_window(self.start, self.duration)}"

    def apply(self, setup, rng):
        data, config = setup.data, setup.config
        s, e = window(self.start, self.duration, data, "OracleDelay")
        d = int(self.delay.value)
        oracle = data.oracle
        derived = [m for m in T.names(data.trades, "market") if m not in T.names(oracle, "market")]
        if derived and s is None:
            config = config.with_(oracle_delay=pd.Timedelta(config.ns("oracle_delay") + d, "ns"))
        elif derived:
            oracle = pa.concat_tables([oracle, _derived_oracle(data, derived, config.ns("oracle_delay"))])
            oracle = oracle.combine_chunks()
        if oracle.num_rows:
            oracle = _delayed(oracle, s, e, d)
        return setup.with_(data=replace(data, oracle=oracle), config=config)


def _derived_oracle(data, markets: list[str], delay: int) -> pa.Table:
    """The oracle rows the engine would derive from trades (trade time + delay, trade price)."""
    tr = data.trades.filter(pa.array(T.in_groups(data.trades, "market", markets)))
    stamps = pa.array(T.ts_ns(tr) + delay).cast(ORACLE.field("ts").type)
    market = tr.column("market").combine_chunks().cast(ORACLE.field("market").type)
    return pa.Table.from_arrays([stamps, market, tr.column("price").combine_chunks()], schema=ORACLE)


def _delayed(oracle: pa.Table, s, e, d) -> pa.Table:
    ts = T.ts_ns(oracle)
    takes, stamps = [], []
    for m in T.names(oracle, "market"):
        p = T.group_rows(oracle, "market", m)
        tk, st = T.shift_window(ts[p], p, s, e, d)
        takes.append(tk), stamps.append(st)
    return T.rebuild(oracle, np.concatenate(takes), np.concatenate(stamps))[0]


@dataclass(frozen=True)
class Reorg(Scenario):
    """A reorg at ``at``: fills on the venue still pending then are reverted (``bt.run(reorgs=)``).

    Parameters
    ----------
    at : str, Timestamp or Timedelta
    venue : str, optional
        Default: every venue (one reorg event per venue).

    Examples
    --------
    >>> Reorg("2022-11-10 14:00:03").name
    'reorg @ 2022-11-10 14:00:03'
    """

    at: object
    venue: str | None = None

    def __post_init__(self):
        set_attr(self, "at", moment(self.at, "Reorg.at"))
        if self.venue is not None and not isinstance(self.venue, str):
            raise TypeError(f"Reorg.venue: expected a venue name or None, got {self.venue!r}")

    @property
    def name(self) -> str:
        return f"reorg @ {fmt_moment(self.at)}" + ("" if self.venue is None else f" on {self.venue}")

    def apply(self, setup, rng):
        at = pd.Timestamp(resolve(self.at, setup.data, "Reorg.at"), tz="UTC")
        venues = pick(None if self.venue is None else [self.venue], venues_of(setup), "venue", "Reorg")
        return setup.with_(reorgs=setup.reorgs + tuple((at, v) for v in venues))


@dataclass(frozen=True)
class BridgeDelay(Scenario):
    """Collateral moved between venues takes ``delay`` to arrive (``SimConfig.bridge_delay``).

    Examples
    --------
    >>> BridgeDelay("6h").name
    'bridge delay 6h'
    """

    delay: object

    def __post_init__(self):
        set_attr(self, "delay", span(self.delay, "BridgeDelay.delay", zero=True))

    @property
    def name(self) -> str:
        return f"bridge delay {fmt_duration(self.delay)}"

    def apply(self, setup, rng):
        return setup.with_(config=setup.config.with_(bridge_delay=self.delay))
