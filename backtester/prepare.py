"""From a `Dataset` and a `SimConfig` to the kernel's `Inputs`.

One pass of numpy work per dataset: Arrow columns become contiguous numpy arrays (one copy,
always writable, so the kernel compiles once for one array type), markets and venues become
integer codes, oracle rows are derived from trades where a market has none, the rolling
traded volume for square-root impact is precomputed, and every static event is merged into one
stream sorted by (timestamp, event type, row).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from .kernel.book_nb import BK_SNAPSHOT_FIRST, BK_SNAPSHOT_MORE, BK_UPDATE
from .kernel.enums import (
    DOWNTIME_QUEUE,
    DOWNTIME_REJECT,
    EV_BOOK,
    EV_FUNDING,
    EV_ORACLE,
    EV_REORG,
    EV_TRACE,
    EV_TRADE,
)
from .kernel.enums import MODE_HOOK as E_MODE_HOOK
from .config import QUEUE_MODELS
from .kernel.fills_nb import rolling_volume_nb
from .kernel.state import (
    CF_LATENCY_SCALE,
    CF_LIQ_SPREAD,
    CF_MIN_TRADE,
    CF_N,
    CF_QUEUE_POWER,
    CF_REBALANCE_BAND,
    CI_BOOK_LEVELS,
    CI_QUEUE_MODEL,
    CI_BRIDGE_DELAY, CI_MARGIN_BANDS,
    CI_DOWNTIME,
    CI_END_TS,
    CI_FEED_LATENCY,
    CI_N,
    CI_SAMPLE_EVERY,
    CI_TARGET_MODE,
    Inputs,
)


@dataclass
class Layout:
    """Names behind the integer codes of a prepared run."""

    markets: list          # market names, index = market code
    venues: list           # venue names, index = venue code
    accounts: list         # account names, index = account code (insurance funds follow)
    market_specs: list     # the Market objects used
    start_ns: int
    end_ns: int
    #: per market: has the data any trade of it (None: not known, the engine counts the trades)
    traded: list | None = None

    def __post_init__(self):
        self.market_index = {m: i for i, m in enumerate(self.markets)}


def _ns(col: pa.ChunkedArray) -> np.ndarray:
    # zero-copy where Arrow allows (one chunk, no nulls): the kernel takes its inputs
    # read-only (kernel.state.conform), so a view of the table's own buffer is enough
    return np.ascontiguousarray(col.cast(pa.int64()).to_numpy(zero_copy_only=False), np.int64)


def _f64(col: pa.ChunkedArray) -> np.ndarray:
    return np.ascontiguousarray(col.to_numpy(zero_copy_only=False), np.float64)


def _codes(col: pa.ChunkedArray, names: list) -> np.ndarray:
    """Integer code of each row's name in ``names``."""
    lookup = {n: i for i, n in enumerate(names)}
    out = np.empty(len(col), np.int32)
    pos = 0
    for chunk in col.chunks:
        if pa.types.is_dictionary(chunk.type):
            table = np.array([lookup.get(v, -1) for v in chunk.dictionary.to_pylist()], np.int32)
            idx = chunk.indices.to_numpy(zero_copy_only=False)
            out[pos:pos + len(chunk)] = table[idx] if len(table) else idx
        else:
            out[pos:pos + len(chunk)] = [lookup.get(v, -1) for v in chunk.to_pylist()]
        pos += len(chunk)
    return out


def _names(table: pa.Table, column: str) -> list:
    if table.num_rows == 0:
        return []
    # distinct values first: casting a dictionary column to strings first builds every row's string
    return sorted(set(table.column(column).unique().cast(pa.string()).to_pylist()))


def _by_time(table: pa.Table) -> pa.Table:
    ts = _ns(table.column("ts"))
    if len(ts) < 2 or np.all(ts[1:] >= ts[:-1]):
        return table
    return table.take(pa.array(np.argsort(ts, kind="stable")))


def rolling_volume(ts: np.ndarray, market: np.ndarray, size: np.ndarray, window_ns: int) -> np.ndarray:
    """Traded size of each row's market over ``(ts - window, ts]`` up to and including the row
    (rows in time order; :func:`~backtester.kernel.fills_nb.rolling_volume_nb`)."""
    if len(ts) == 0:
        return np.zeros(0)
    top = int(market.max()) + 1
    if market.min() < 0:  # rows of a market outside the layout (code -1) form a group of their own
        market = np.where(market < 0, top, market)
        top += 1
    return rolling_volume_nb(ts, market, size, int(window_ns), top)


def _distinct_sorted(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` for int64 times, by a sort (a no-op on a time-ordered tape) and a
    mask: numpy 2.x's hash-based ``unique`` takes about 0.5 s on the sample's 517k trades,
    this about 10 ms."""
    v = np.asarray(values)
    if len(v) > 1 and not np.all(v[1:] >= v[:-1]):
        v = np.sort(v, kind="stable")
    if len(v) < 2:
        return v.copy()
    return v[np.concatenate(([True], v[1:] != v[:-1]))]


#: the equity-sample clocks "auto" chooses from, finest first
_SAMPLE_STEPS = pd.to_timedelta(["1min", "5min", "15min", "30min", "1h", "2h", "4h", "6h", "12h", "1D"]).as_unit("ns").asi8
#: most equity samples "auto" lets one run take
MAX_AUTO_SAMPLES = 100_000


def sample_every_ns(config, trade_ts: np.ndarray, layout: Layout) -> int:
    """The equity-sample clock of a run (ns): ``config.sample_every``, or for ``"auto"`` the
    finest of 1 min .. 1 day (then whole days) that is no finer than the median spacing of the
    distinct trade times and keeps the run under ``MAX_AUTO_SAMPLES`` samples
    (docs/simulation.md, "Equity samples"). It follows the data, not the strategy, so every
    strategy compared on one dataset is sampled on the same clock.

    Examples
    --------
    >>> import numpy as np, backtester as bt
    >>> from backtester.prepare import Layout
    >>> day = 86_400 * 10**9
    >>> bars = np.arange(0, 3650 * day, day // 4)          # ten years of daily bars, 4 points each
    >>> lay = Layout(["X"], ["v"], ["v"], [], 0, int(bars[-1]))
    >>> sample_every_ns(bt.SimConfig(), bars, lay) // 3_600_000_000_000   # hours
    6
    """
    if config.sample_every != "auto":
        return config.ns("sample_every")
    distinct = _distinct_sorted(trade_ts)
    spacing = float(np.median(np.diff(distinct))) if len(distinct) > 1 else 0.0
    need = max(spacing, (layout.end_ns - layout.start_ns) / MAX_AUTO_SAMPLES)
    fits = _SAMPLE_STEPS[_SAMPLE_STEPS >= need]
    if len(fits):
        return int(fits[0])
    day = int(_SAMPLE_STEPS[-1])
    return int(-(-need // day) * day)


def layout_for(dataset, config) -> Layout:
    traded = set(_names(dataset.trades, "market"))
    markets = sorted(traded | set(_names(dataset.oracle, "market")) | set(_names(dataset.funding, "market"))
                     | set(config.markets))
    if not markets:
        raise ValueError("the dataset has no trades, oracle or funding rows: nothing to simulate")
    specs = [config.market(m) for m in markets]
    venues = sorted({s.venue for s in specs} | set(_names(dataset.latency, "venue")))
    config.check_venues(venues)
    if config.margin_mode == "cross":
        accounts = list(venues)
    else:
        accounts = [f"{s.venue}/{s.name}" for s in specs]
    if dataset.trades.num_rows == 0:
        raise ValueError("the dataset has no trades: orders could never fill")
    start = dataset.trades.column("ts")
    ts = _ns(start)
    return Layout(markets, venues, accounts, specs, int(ts.min()), int(ts.max()), [m in traded for m in markets])


def prepare(dataset, config, layout: Layout | None = None, *, decision_ts=None, targets=None,
            target_mode: int = E_MODE_HOOK, reorgs=()) -> tuple[Inputs, Layout]:
    """Build the kernel inputs of one run.

    Parameters
    ----------
    dataset : data_loaders.Dataset
    config : SimConfig
    decision_ts : array of int64 ns, optional
        Decision times (sorted).
    targets : array (len(decision_ts), n_markets), optional
        Fast path: target per decision and market (NaN: none); with ``target_mode`` 0
        (position), 1 (leverage) or 2 (notional). ``MODE_HOOK`` (the default) calls the
        strategy's ``on_decision`` through ``backtester.hooks`` at each decision instead.
    reorgs : sequence of (timestamp, venue)
    """
    lay = layout or layout_for(dataset, config)
    M, V = len(lay.markets), len(lay.venues)
    venue_of = {v: i for i, v in enumerate(lay.venues)}

    # Tables are time-ordered per market; the kernel also wants them time-ordered overall (a
    # stable sort keeps the table order of equal timestamps, which is the processing order).
    tr = _by_time(dataset.trades)
    tr_ts, tr_m = _ns(tr.column("ts")), _codes(tr.column("market"), lay.markets)
    tr_px, tr_sz = _f64(tr.column("price")), _f64(tr.column("size"))
    tr_vol = rolling_volume(tr_ts, tr_m, tr_sz, config.ns("impact_window"))

    fu = _by_time(dataset.funding)
    if not config.funding:  # SimConfig(funding=False): nothing is paid (strategies still see rates)
        fu = fu.slice(0, 0)
    fu_ts, fu_m = _ns(fu.column("ts")), _codes(fu.column("market"), lay.markets)
    fu_rate = _f64(fu.column("rate"))
    fu_px = _f64(fu.column("oracle_price").fill_null(np.nan))

    orc = _by_time(dataset.oracle)
    or_ts, or_m, or_px = _ns(orc.column("ts")), _codes(orc.column("market"), lay.markets), _f64(orc.column("price"))
    derived = [m for m in range(M) if not np.any(or_m == m)]
    if derived:  # markets without oracle rows follow their trades oracle_delay later
        rows = np.flatnonzero(np.isin(tr_m, derived))
        delay = config.ns("oracle_delay")
        or_ts = np.concatenate([or_ts, tr_ts[rows] + delay])
        or_m = np.concatenate([or_m, tr_m[rows]]).astype(np.int32)
        or_px = np.concatenate([or_px, tr_px[rows]])
        o = np.lexsort((np.arange(len(or_ts)), or_ts))
        or_ts, or_m, or_px = or_ts[o], or_m[o], or_px[o]

    lt = dataset.latency
    lt_v = _codes(lt.column("venue"), lay.venues)
    order = np.argsort(lt_v, kind="stable")  # group by venue, keeping time order within venue
    lt_v = lt_v[order]
    lt_ts = _ns(lt.column("ts"))[order]
    lt_cols = [_ns(lt.column(c))[order] for c in ("order_latency", "ack_latency", "finality")]
    lt_up = np.ascontiguousarray(lt.column("up").to_numpy(zero_copy_only=False)[order], dtype=np.bool_)
    lt_gas = _f64(lt.column("gas_fee"))[order] * float(config.gas_scale)
    vt_start = np.searchsorted(lt_v, np.arange(V + 1)).astype(np.int64)

    ro_ts = np.array([pd.Timestamp(t).value if not isinstance(t, (int, np.integer)) else int(t)
                      for t, _ in reorgs], np.int64)
    for _, v in reorgs:
        if v not in venue_of:
            raise ValueError(f"reorg on unknown venue {v!r}; venues: {lay.venues}")
    ro_v = np.array([venue_of[v] for _, v in reorgs], np.int32)

    sl_ts, sl_val = _slippage_series(config.slippage_multiplier)

    bk = book_rows(dataset if config.book else None, lay)

    ev_ts = np.concatenate([lt_ts, fu_ts, or_ts, tr_ts, ro_ts, bk["bk_ts"]])
    ev_type = np.concatenate([np.full(len(lt_ts), EV_TRACE, np.int8), np.full(len(fu_ts), EV_FUNDING, np.int8),
                              np.full(len(or_ts), EV_ORACLE, np.int8), np.full(len(tr_ts), EV_TRADE, np.int8),
                              np.full(len(ro_ts), EV_REORG, np.int8), np.full(len(bk["bk_ts"]), EV_BOOK, np.int8)])
    ev_idx = np.concatenate([np.arange(len(a), dtype=np.int64) for a in (lt_ts, fu_ts, or_ts, tr_ts, ro_ts, bk["bk_ts"])])
    o = np.lexsort((ev_idx, ev_type, ev_ts))
    ev_ts, ev_type, ev_idx = ev_ts[o], ev_type[o], ev_idx[o]

    specs = lay.market_specs
    mk_venue = np.array([venue_of[s.venue] for s in specs], np.int32)
    if config.margin_mode == "cross":
        mk_account, ac_venue = mk_venue.copy(), np.arange(V, dtype=np.int32)
    else:
        mk_account, ac_venue = np.arange(M, dtype=np.int32), mk_venue.copy()

    cfg_f = np.zeros(CF_N)
    cfg_f[CF_LATENCY_SCALE] = config.latency_scale
    cfg_f[CF_LIQ_SPREAD] = config.liq_spread
    cfg_f[CF_MIN_TRADE] = config.min_trade_notional
    cfg_f[CF_REBALANCE_BAND] = config.rebalance_band
    cfg_i = np.zeros(CI_N, np.int64)
    cfg_i[CI_FEED_LATENCY] = config.ns("feed_latency")
    cfg_i[CI_DOWNTIME] = DOWNTIME_QUEUE if config.downtime_policy == "queue" else DOWNTIME_REJECT
    cfg_i[CI_SAMPLE_EVERY] = sample_every_ns(config, tr_ts, lay)
    cfg_i[CI_TARGET_MODE] = E_MODE_HOOK
    cfg_i[CI_END_TS] = lay.end_ns
    cfg_i[CI_BRIDGE_DELAY] = config.ns("bridge_delay")
    cfg_i[CI_MARGIN_BANDS] = 1
    cfg_i[CI_QUEUE_MODEL] = QUEUE_MODELS.index(config.queue_model)
    cfg_i[CI_BOOK_LEVELS] = bk.pop("levels")
    cfg_f[CF_QUEUE_POWER] = config.queue_power

    f = lambda name: np.array([getattr(s, name) for s in specs], np.float64)
    inp = Inputs(
        ev_ts=ev_ts, ev_type=ev_type, ev_idx=ev_idx,
        tr_ts=tr_ts, tr_market=tr_m, tr_price=tr_px, tr_size=tr_sz, tr_vol=tr_vol,
        fu_ts=fu_ts, fu_market=fu_m, fu_rate=fu_rate, fu_price=fu_px,
        or_ts=or_ts, or_market=or_m, or_price=or_px, **{k: v for k, v in bk.items() if k != "mk_book"},
        lt_ts=lt_ts, lt_order=lt_cols[0], lt_ack=lt_cols[1], lt_final=lt_cols[2], lt_up=lt_up,
        lt_gas=lt_gas, lt_venue=lt_v, vt_start=vt_start,
        ro_ts=ro_ts, ro_venue=ro_v, sl_ts=sl_ts, sl_val=sl_val,
        mk_venue=mk_venue, mk_account=mk_account, mk_imf=f("imf"), mk_mmf=f("mmf"),
        mk_taker=f("taker_fee"), mk_maker=f("maker_fee"), mk_half_spread=f("half_spread"),
        mk_impact=f("impact"), mk_liq_fee=f("liq_fee"), mk_book=bk["mk_book"], ac_venue=ac_venue,
        dc_ts=np.zeros(0, np.int64), tg_value=np.zeros((0, M)), cfg_f=cfg_f, cfg_i=cfg_i,
    )
    if decision_ts is not None or targets is not None or target_mode != E_MODE_HOOK:
        inp = with_decisions(inp, decision_ts, targets, target_mode)
    return inp, lay


def book_rows(dataset, layout: Layout) -> dict:
    """The kernel's book rows of ``dataset`` (docs/simulation.md, "Order book"): every top row
    becomes two one-level snapshot groups (bid, then ask; a side with size 0 or a NaN price is
    empty), followed by the level rows; then sorted by time, keeping that order within a time.

    Returns the ``bk_*`` input arrays, ``mk_book`` (per market: 1 with book data) and
    ``levels``: the most distinct prices one (market, side) ever shows, a bound on the levels
    it can hold at once (the kernel's level arrays are that wide).
    """
    M = len(layout.markets)
    if dataset is None:  # SimConfig(book=False): the trade-tape rules everywhere
        top = lv = pa.table({})
    else:
        top, lv = dataset.book, dataset.book_levels
    ts_parts, m_parts, side_parts, px_parts, sz_parts, snap_parts = [], [], [], [], [], []
    if top.num_rows:
        t = _ns(top.column("ts"))
        m = _codes(top.column("market"), layout.markets)
        n = len(t)
        for side, p, q in ((1, "bid", "bid_size"), (-1, "ask", "ask_size")):
            px, sz = _f64(top.column(p)), _f64(top.column(q))
            sz = np.where(np.isfinite(px) & (px > 0), sz, 0.0)
            ts_parts.append(t)
            m_parts.append(m)
            side_parts.append(np.full(n, side, np.int8))
            px_parts.append(np.where(np.isfinite(px), px, 0.0))
            sz_parts.append(sz)
            snap_parts.append(np.ones(n, bool))
        # interleave so each top row gives its bid group, then its ask group
        for parts in (ts_parts, m_parts, side_parts, px_parts, sz_parts, snap_parts):
            parts[:] = [np.stack(parts, axis=1).reshape(-1)]
    if lv.num_rows:
        ts_parts.append(_ns(lv.column("ts")))
        m_parts.append(_codes(lv.column("market"), layout.markets))
        side_parts.append(np.asarray(lv.column("side").to_numpy(zero_copy_only=False), np.int8))
        px_parts.append(_f64(lv.column("price")))
        sz_parts.append(_f64(lv.column("size")))
        snap_parts.append(np.asarray(lv.column("is_snapshot").to_numpy(zero_copy_only=False), bool))
    if not ts_parts:
        return {"bk_ts": np.zeros(0, np.int64), "bk_market": np.zeros(0, np.int32), "bk_side": np.zeros(0, np.int8),
                "bk_price": np.zeros(0), "bk_size": np.zeros(0), "bk_flag": np.zeros(0, np.int8),
                "mk_book": np.zeros(M, np.int8), "levels": 1}
    ts, mk, side, px, sz, snap = (np.concatenate(p) for p in (ts_parts, m_parts, side_parts, px_parts,
                                                                 sz_parts, snap_parts))
    o = np.argsort(ts, kind="stable")
    ts, mk, side, px, sz, snap = ts[o], mk[o], side[o], px[o], sz[o], snap[o]
    if top.num_rows and lv.num_rows:
        both = set(_names(top, "market")) & set(_names(lv, "market"))
        if both:
            raise ValueError(f"market(s) {sorted(both)} have both book-top and book-level rows; "
                             "a market's book comes from one of the two tables")
    # a snapshot row continues the group of the row before it when that is a snapshot row of
    # the same time, market and side; top rows are groups of one by construction. Judged before
    # the rows of markets outside the run are dropped: such a row between two runs still ends
    # the first (docs/simulation.md: a group is a run of consecutive rows)
    cont = np.zeros(len(ts), bool)
    cont[1:] = snap[1:] & snap[:-1] & (ts[1:] == ts[:-1]) & (mk[1:] == mk[:-1]) & (side[1:] == side[:-1])
    n_top = top.num_rows * 2 if top.num_rows else 0
    if n_top:  # the first n_top rows before the sort are the top rows
        cont &= o >= n_top
    keep = mk >= 0  # rows of markets outside the run (code -1) go now
    ts, mk, side, px, sz, snap, cont = ts[keep], mk[keep], side[keep], px[keep], sz[keep], snap[keep], cont[keep]
    mk_book = np.zeros(M, np.int8)
    mk_book[np.unique(mk)] = 1
    flag = np.where(~snap, BK_UPDATE, np.where(cont, BK_SNAPSHOT_MORE, BK_SNAPSHOT_FIRST)).astype(np.int8)
    # distinct (market, side, price) with a size: a bound on any side's levels at once
    r = 2 * mk.astype(np.int64) + (side < 0)
    live = sz > 0
    levels = 1
    if live.any():
        pairs = np.unique(np.stack([r[live].astype(np.float64), px[live]], axis=1), axis=0)
        levels = int(np.bincount(pairs[:, 0].astype(np.int64)).max())
    return {"bk_ts": ts, "bk_market": mk.astype(np.int32), "bk_side": side, "bk_price": px, "bk_size": sz,
            "bk_flag": flag, "mk_book": mk_book, "levels": levels}


def with_decisions(inp: Inputs, decision_ts=None, targets=None, target_mode: int = E_MODE_HOOK) -> Inputs:
    """``inp`` with the decision times, fast-path targets and decision mode of one strategy.

    Everything else is shared, not copied: one prepared market serves many strategies (the
    kernel never writes to its inputs), which is how :func:`backtester.compare` and sweeps give
    every run the very same arrays.
    """
    M = len(inp.mk_venue)
    dc = np.ascontiguousarray(decision_ts if decision_ts is not None else [], np.int64)
    tg = (np.full((len(dc), M), np.nan) if targets is None else np.ascontiguousarray(targets, np.float64))
    if tg.shape != (len(dc), M):
        raise ValueError(f"targets must have shape (decisions, markets) = {(len(dc), M)}, got {tg.shape}")
    if targets is not None and np.isinf(tg).any():  # the kernel's band would send nothing for them
        d, m = (int(x[0]) for x in np.nonzero(np.isinf(tg)))
        raise ValueError(f"targets: {int(np.isinf(tg).sum())} values are infinite, the first at decision {d}, "
                         f"market {m}; a target must be finite (NaN means no order at this decision)")
    cfg_i = inp.cfg_i.copy()
    cfg_i[CI_TARGET_MODE] = target_mode
    return inp._replace(dc_ts=dc, tg_value=tg, cfg_i=cfg_i)


def _slippage_series(value):
    if isinstance(value, pd.Series):
        idx = pd.DatetimeIndex(value.index)
        idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
        ts = idx.as_unit("ns").asi8
        if np.any(np.diff(ts) < 0):
            raise ValueError("slippage_multiplier series must be sorted by time")
        vals = value.to_numpy(np.float64)
        if np.any(~np.isfinite(vals)) or np.any(vals < 0):
            raise ValueError("slippage_multiplier values must be finite and >= 0")
        # before the first row the multiplier is 1.0
        return (np.concatenate([[np.iinfo(np.int64).min], ts]).astype(np.int64),
                np.concatenate([[1.0], vals]))
    v = float(value)
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"slippage_multiplier must be finite and >= 0, got {value!r}")
    return np.array([np.iinfo(np.int64).min], np.int64), np.array([v])
