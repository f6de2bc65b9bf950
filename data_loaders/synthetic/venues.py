"""Venue profiles, outages and the synthetic latency trace.

A trace has one row per venue every ``trace_every`` (from the dataset start) plus, for each
outage, a row at its exact start (``up=False``) and one at its exact end (``up=True``); regular
rows inside ``[start, end)`` are marked down. Values per row (``c`` a slow log-congestion AR(1)
shared by the columns, ``Z`` independent standard normals)::

    order_latency = order_latency_median * exp(order_jitter * Z1 + c) * recovery
    ack_latency   = ack_latency_median   * exp(ack_jitter * Z2 + c)   * recovery
    finality      = max(finality_median  * exp(finality_jitter * Z3 + c), block_time)
    gas_fee       = gas_fee_median       * exp(gas_jitter * Z4 + 2 c) * recovery

``recovery = 1 + 3 * 2**(-(t - outage_end) / 10 min)`` after each outage (the backlog of a
restarted chain or sequencer). Outage rows carry the values of the regular row in force.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from ..validate import conform
from ._common import (DAY_NS, HOUR_NS, NS, dict_array, dur_array, halflife_phi, is_offset,
                      merge_order, stationary_ar1, stream, to_ns, to_timestamp, ts_array)

RECOVERY_BOOST = 3.0
RECOVERY_HALFLIFE_NS = 600 * NS


@dataclass(frozen=True)
class VenueProfile:
    """Plumbing of one venue; times in seconds, fees in quote currency (USD).

    Parameters
    ----------
    label : str
        Free-form description, copied into the dataset metadata.
    block_time : float
        Seconds per block; the floor of ``finality``.
    order_latency, order_jitter : float
        Median submit -> matching-engine latency and the log-sd of its lognormal jitter.
    ack_latency, ack_jitter : float
        Median engine -> trader-sees-it latency and its log-sd.
    finality, finality_jitter : float
        Median fill -> irreversible time and its log-sd.
    gas_fee, gas_jitter : float
        Median fee per transaction and its log-sd (``gas_fee=0`` gives no gas).
    congestion_sd, congestion_halflife : float
        Log-sd and half-life (s) of the slow congestion factor common to all columns.
    outage_every_days : float
        ``outages="random"``: mean days between outages (at least one per venue is drawn).
        A stress knob, not a measured frequency (dYdX v4 halted twice in 2024-2025).
    outage_hours : (float, float)
        ``outages="random"``: durations are uniform in this range, hours.
    """

    label: str = "venue"
    block_time: float = 1.0
    order_latency: float = 0.7
    order_jitter: float = 0.35
    ack_latency: float = 0.3
    ack_jitter: float = 0.35
    finality: float = 1.6
    finality_jitter: float = 0.25
    gas_fee: float = 0.0
    gas_jitter: float = 0.0
    congestion_sd: float = 0.25
    congestion_halflife: float = 1800.0
    outage_every_days: float = 7.0
    outage_hours: tuple = (1.0, 10.0)

    def __post_init__(self):
        for name in ("block_time", "order_latency", "order_jitter", "ack_latency", "ack_jitter", "finality",
                     "finality_jitter", "gas_fee", "gas_jitter", "congestion_sd", "congestion_halflife"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"VenueProfile.{name}: expected a finite value >= 0, got {v!r}")
        lo, hi = self.outage_hours
        if not (0 < lo <= hi) or not self.outage_every_days > 0:
            raise ValueError("VenueProfile: outage_hours must be 0 < low <= high and outage_every_days > 0")


#: dYdX v4-like app-chain: ~1 s blocks (0.64 s measured 2025-12), orders reach the proposer's
#: book in ~0.5-1 s, single-slot finality within a couple of seconds, no gas on trades.
APP_CHAIN = VenueProfile(label="app-chain (dYdX v4-like)", block_time=1.0, order_latency=0.7,
                         order_jitter=0.35, ack_latency=0.3, ack_jitter=0.35, finality=1.6,
                         finality_jitter=0.25, gas_fee=0.0, gas_jitter=0.0)

#: Arbitrum-like optimistic rollup: 0.25 s blocks, sub-second sequencer soft confirmation,
#: finality when the batch is final on L1 (median 15 min, heavy jitter), gas ~0.05-0.3 USD.
OPTIMISTIC_ROLLUP = VenueProfile(label="optimistic rollup (Arbitrum-like)", block_time=0.25,
                                 order_latency=0.3, order_jitter=0.4, ack_latency=0.25, ack_jitter=0.4,
                                 finality=900.0, finality_jitter=0.5, gas_fee=0.12, gas_jitter=0.5)


@dataclass(frozen=True)
class Outage:
    """A venue outage (sequencer down or chain halted) over ``[start, start + duration)``.

    Parameters
    ----------
    venue : str
        A key of the ``venues`` argument.
    start : Timestamp, str or Timedelta
        A timestamp (naive means UTC), or an offset from the dataset start (a Timedelta, a
        duration string such as ``"5h"``, or seconds).
    duration : Timedelta, str or float
        Length (``"3h"``, a Timedelta, or seconds); must be positive.

    Examples
    --------
    >>> Outage("dydx", "2024-01-02 03:00", "9h30min")      # dYdX's 2024-04-08 upgrade halt, ~9.5 h
    Outage(venue='dydx', start='2024-01-02 03:00', duration='9h30min')
    >>> Outage("arbitrum", "6h", "3h")                     # 6 h after the dataset start
    Outage(venue='arbitrum', start='6h', duration='3h')
    """

    venue: str
    start: object
    duration: object

    def bounds(self, origin_ns: int) -> tuple[int, int]:
        """(start, end) in ns for a dataset starting at ``origin_ns``."""
        if is_offset(self.start):
            s = origin_ns + to_ns(self.start, "Outage.start")
        else:
            s = to_timestamp(self.start, "Outage.start").value
        d = to_ns(self.duration, "Outage.duration")
        if d <= 0:
            raise ValueError(f"Outage.duration: expected a positive duration, got {self.duration!r}")
        return s, s + d


def _merge(intervals):
    """Union of half-open [s, e) intervals, sorted."""
    out = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [tuple(x) for x in out]


def random_outages(venue: str, profile: VenueProfile, start_ns: int, end_ns: int, seed: int):
    """Outages drawn from the seed: ``max(1, Poisson(days / outage_every_days))`` of them, starts
    uniform over the dataset (whole seconds), durations uniform in ``outage_hours``."""
    rng = stream(seed, "outages", venue)
    days = (end_ns - start_ns) / DAY_NS
    count = max(1, int(rng.poisson(days / profile.outage_every_days)))
    span_s = max((end_ns - start_ns) // NS, 1)
    starts = start_ns + rng.integers(0, span_s, count) * NS
    lo, hi = profile.outage_hours
    durs = np.round(rng.uniform(lo, hi, count) * 3600.0).astype(np.int64) * NS
    return [(int(s), int(s + d)) for s, d in zip(starts, durs)]


def resolve_outages(outages, venues: dict, start_ns: int, end_ns: int, seed: int) -> dict:
    """venue -> merged list of (start_ns, end_ns)."""
    out = {v: [] for v in venues}
    if outages is None:
        return out
    if isinstance(outages, str):
        if outages != "random":
            raise ValueError(f"outages: expected None, 'random' or a list of Outage, got {outages!r}")
        return {v: _merge(random_outages(v, p, start_ns, end_ns, seed)) for v, p in venues.items()}
    if isinstance(outages, Outage):
        outages = [outages]
    for o in outages:
        if not isinstance(o, Outage):
            raise TypeError(f"outages: expected Outage(venue, start, duration) items, got {o!r}")
        if o.venue not in venues:
            raise ValueError(f"outages: unknown venue {o.venue!r}; venues are {sorted(venues)}")
        out[o.venue].append(o.bounds(start_ns))
    return {v: _merge(x) for v, x in out.items()}


def _venue_rows(profile: VenueProfile, grid: np.ndarray, every_ns: int, outages, end_ns: int, rng):
    m = len(grid)
    c = stationary_ar1(rng, m, halflife_phi(profile.congestion_halflife * NS / every_ns), profile.congestion_sd)
    z = rng.standard_normal((4, m))
    base = {
        "order_latency": profile.order_latency * np.exp(profile.order_jitter * z[0] + c),
        "ack_latency": profile.ack_latency * np.exp(profile.ack_jitter * z[1] + c),
        "finality": np.maximum(profile.finality * np.exp(profile.finality_jitter * z[2] + c), profile.block_time),
        "gas_fee": profile.gas_fee * np.exp(profile.gas_jitter * z[3] + 2.0 * c),
    }
    extra = [t for s, e in outages for t in (max(s, grid[0]), e) if grid[0] <= t < end_ns and e > grid[0]]
    ts = np.unique(np.concatenate([grid, np.asarray(extra, dtype=np.int64)]))
    src = np.searchsorted(grid, ts, side="right") - 1
    up = np.ones(len(ts), dtype=bool)
    recovery = np.ones(len(ts))
    for s, e in outages:
        up &= ~((ts >= s) & (ts < e))
        after = ts >= e
        recovery[after] += RECOVERY_BOOST * np.exp2(-(ts[after] - e) / RECOVERY_HALFLIFE_NS)
    cols = {name: v[src] for name, v in base.items()}
    for name in ("order_latency", "ack_latency", "gas_fee"):
        cols[name] = cols[name] * recovery
    return ts, up, cols


def latency_table(venues: dict, start_ns: int, end_ns: int, every_ns: int, seed: int, outages: dict) -> pa.Table:
    """Canonical latency trace of every venue, rows interleaved in time order."""
    names = list(venues)
    grid = np.arange(start_ns, end_ns, every_ns, dtype=np.int64)
    parts = [_venue_rows(venues[v], grid, every_ns, outages.get(v, []), end_ns, stream(seed, "latency", v))
             for v in names]
    ts = np.concatenate([p[0] for p in parts])
    code = np.repeat(np.arange(len(names)), [len(p[0]) for p in parts])
    order = merge_order(ts, code)

    def col(name):
        return np.concatenate([p[2][name] for p in parts])[order]

    def dur(seconds):
        return dur_array(np.round(seconds * NS).astype(np.int64))

    table = pa.table({
        "ts": ts_array(ts[order]),
        "venue": dict_array(code[order], names),
        "order_latency": dur(col("order_latency")),
        "ack_latency": dur(col("ack_latency")),
        "finality": dur(col("finality")),
        "up": pa.array(np.concatenate([p[1] for p in parts])[order]),
        "gas_fee": pa.array(col("gas_fee")),
    })
    return conform(table, "latency", source="data_loaders.synthetic (latency)")


def check_venues(venues) -> dict:
    if venues is None:
        return {"dydx": APP_CHAIN}
    if isinstance(venues, VenueProfile):
        return {"venue": venues}
    if not isinstance(venues, dict) or not venues:
        raise TypeError("venues: expected a non-empty dict of venue name -> VenueProfile")
    for k, v in venues.items():
        if not isinstance(k, str) or not k:
            raise TypeError(f"venues: names must be non-empty strings, got {k!r}")
        if not isinstance(v, VenueProfile):
            raise TypeError(f"venues[{k!r}]: expected a VenueProfile, got {type(v).__name__}")
    return dict(venues)


def describe(venues: dict, outages: dict) -> dict:
    """JSON-able description of the venues and resolved outages, for dataset metadata."""
    iso = lambda ns: pd.Timestamp(int(ns), tz="UTC").isoformat()  # noqa: E731
    return {
        "venues": {k: asdict(v) for k, v in venues.items()},
        "outages": [{"venue": v, "start": iso(s), "end": iso(e), "hours": round((e - s) / HOUR_NS, 4)}
                    for v, lst in outages.items() for s, e in lst],
    }
