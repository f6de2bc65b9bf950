"""Replaying ``book_levels`` rows into the order book in force at a time.

A ``book_levels`` table (:data:`data_loaders.schemas.BOOK_LEVELS`) is a sequence of level rows
per market. The rules are those of ``docs/simulation.md`` ("Order book"): an update row sets
the size of its level (``size = 0`` removes it); a *snapshot group*, a run of consecutive rows of
one market with ``is_snapshot`` true and the same ``ts`` and ``side``, clears that side first.

The replay runs in one numba loop per market over the market's rows. Prices are mapped to
indices of the market's sorted distinct prices, so a side is a dense array of sizes and the best
price is an index that moves only when the best level appears or disappears; clearing a side
visits only the levels set since it was last cleared. Millions of rows replay in about a second.

Public functions
----------------
:func:`book_at`
    The book of one market at a time, best first (for notebooks).
:func:`book_state`
    The whole book of every market at a time, as snapshot rows (what :meth:`Dataset.slice`
    puts at the start of a slice).
:func:`l1_to_levels`
    An L1 ``book`` table as level rows (both functions above take L1 books through it).
:func:`tops`
    Best bid and ask after every row (for checks: crossed books, books far from the trades).

Examples
--------
>>> import pandas as pd
>>> from data_loaders import conform
>>> from data_loaders.book import book_at
>>> t = pd.Timestamp("2024-01-01", tz="UTC")
>>> rows = pd.DataFrame({"ts": [t, t, t, t + pd.Timedelta("1s")], "market": "BTC-USD",
...                      "side": [1, 1, -1, 1], "price": [99.0, 98.0, 101.0, 99.0],
...                      "size": [1.0, 2.0, 3.0, 0.0], "is_snapshot": [True, True, True, False]})
>>> bids, asks = book_at(conform(rows, "book_levels"), "BTC-USD", "2024-01-01 00:00:01")
>>> bids.to_dict("list"), asks.to_dict("list")
({'price': [98.0], 'size': [2.0]}, {'price': [101.0], 'size': [3.0]})
"""
from __future__ import annotations

import weakref

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from .schemas import BOOK_LEVELS

#: side codes of the schema
BID, ASK = 1, -1


# --------------------------------------------------------------------------- the replay kernel
@njit(cache=True, nogil=True)
def _clear(sz, stack, on_stack, n_stack):
    for k in range(n_stack):
        p = stack[k]
        sz[p] = 0.0
        on_stack[p] = False
    return 0


@njit(cache=True, nogil=True)
def _replay_nb(side, pidx, size, snap, ts, n_grid, stop, want_tops):
    """Apply rows ``[0, stop)``; returns (bid sizes, ask sizes, best bid index per row, best ask
    index per row). Best indices are -1 for an empty side; they are filled only if
    ``want_tops`` (else length 0). ``ts`` is compared only between a row and the one before it
    (same value: the same snapshot group); :class:`_Market` passes its rows' run numbers in the
    whole table (:func:`_runs`), so a row of another market in between ends a group."""
    n = len(side)
    bid_sz = np.zeros(n_grid)
    ask_sz = np.zeros(n_grid)
    # levels set since the side was last cleared (each index once), so a snapshot clears fast
    bid_stack = np.empty(n_grid, np.int64)
    ask_stack = np.empty(n_grid, np.int64)
    bid_on = np.zeros(n_grid, np.bool_)
    ask_on = np.zeros(n_grid, np.bool_)
    nb = 0
    na = 0
    bid_count = 0  # levels with size > 0
    ask_count = 0
    best_bid = -1
    best_ask = n_grid
    m = n if want_tops else 0
    top_bid = np.full(m, -1, np.int64)
    top_ask = np.full(m, -1, np.int64)
    for i in range(stop):
        s = side[i]
        starts_group = snap[i] and not (i > 0 and snap[i - 1] and ts[i - 1] == ts[i] and side[i - 1] == s)
        if s > 0:
            if starts_group:
                nb = _clear(bid_sz, bid_stack, bid_on, nb)
                bid_count = 0
                best_bid = -1
            p = pidx[i]
            old = bid_sz[p]
            new = size[i]
            bid_sz[p] = new
            if not bid_on[p]:
                bid_on[p] = True
                bid_stack[nb] = p
                nb += 1
            if old == 0.0 and new > 0.0:
                bid_count += 1
                if p > best_bid:
                    best_bid = p
            elif old > 0.0 and new == 0.0:
                bid_count -= 1
                if bid_count == 0:
                    best_bid = -1
                elif p == best_bid:
                    q = p - 1
                    while bid_sz[q] == 0.0:
                        q -= 1
                    best_bid = q
        else:
            if starts_group:
                na = _clear(ask_sz, ask_stack, ask_on, na)
                ask_count = 0
                best_ask = n_grid
            p = pidx[i]
            old = ask_sz[p]
            new = size[i]
            ask_sz[p] = new
            if not ask_on[p]:
                ask_on[p] = True
                ask_stack[na] = p
                na += 1
            if old == 0.0 and new > 0.0:
                ask_count += 1
                if p < best_ask:
                    best_ask = p
            elif old > 0.0 and new == 0.0:
                ask_count -= 1
                if ask_count == 0:
                    best_ask = n_grid
                elif p == best_ask:
                    q = p + 1
                    while ask_sz[q] == 0.0:
                        q += 1
                    best_ask = q
        if want_tops:
            top_bid[i] = best_bid
            top_ask[i] = best_ask if best_ask < n_grid else -1
    return bid_sz, ask_sz, top_bid, top_ask


# --------------------------------------------------------------------------- per-market arrays
def _codes(col: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Market code per row and the names of the codes (dictionary chunks unified)."""
    if col.num_chunks == 1 and pa.types.is_dictionary(col.type):
        col = col.chunk(0)
    else:  # chunks may carry dictionaries of their own: one encoding over all rows
        col = pc.dictionary_encode(col.cast(pa.string()).combine_chunks())
    return col.indices.to_numpy(zero_copy_only=False).astype(np.int64), col.dictionary.to_pylist()


def _columns(table: pa.Table):
    def arr(name, dtype):
        return np.asarray(table.column(name).to_numpy(), dtype=dtype)
    return (table.column("ts").cast(pa.int64()).to_numpy(), arr("side", np.int8), arr("price", np.float64),
            arr("size", np.float64), arr("is_snapshot", np.bool_))


def _runs(codes, ts, side, snap) -> np.ndarray:
    """Run number of each row in the whole table: consecutive rows of one market, time and
    side share one (a snapshot group is a run of snapshot rows: docs/simulation.md, "a run of
    consecutive rows", so a row of another market in between starts a new group)."""
    start = np.ones(len(ts), bool)
    start[1:] = ~((codes[1:] == codes[:-1]) & (ts[1:] == ts[:-1]) & (side[1:] == side[:-1])
                  & snap[1:] & snap[:-1])
    return np.cumsum(start).astype(np.int64)


class _Market:
    """One market's rows (in table order) with their prices as grid indices."""

    def __init__(self, rows, ts, side, price, size, snap, runs):
        self.rows = rows
        self.ts, self.side, self.size, self.snap = ts[rows], side[rows], size[rows], snap[rows]
        self.runs = runs[rows]
        self.grid = np.unique(price[rows])
        self.pidx = np.searchsorted(self.grid, price[rows])

    def replay(self, stop: int, want_tops: bool):
        return _replay_nb(self.side, self.pidx, self.size, self.snap, self.runs, len(self.grid), stop, want_tops)


def _markets(table: pa.Table):
    """``{name: _Market}`` of a canonical book_levels table."""
    if table.num_rows == 0:
        return {}
    codes, names = _codes(table.column("market"))
    cols = _columns(table)
    ts, side, _, _, snap = cols
    runs = _runs(codes, ts, side, snap)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    out = {}
    for rows in np.split(order, bounds):
        out[names[codes[rows[0]]]] = _Market(rows, *cols, runs)
    return out


# --------------------------------------------------------------------------- tops
#: computed tops by table id; an entry goes when its table does (tables are immutable)
_TOPS: dict = {}


def tops(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Best bid and best ask price of each row's market after that row (NaN: empty side).

    Rows must be in time order per market (a validated table). Remembered per table.

    Examples
    --------
    >>> import pandas as pd
    >>> from data_loaders import conform
    >>> t = pd.Timestamp("2024-01-01", tz="UTC")
    >>> rows = conform(pd.DataFrame({"ts": [t, t], "market": "X", "side": [1, -1], "price": [9.0, 10.0],
    ...                              "size": [1.0, 1.0], "is_snapshot": False}), "book_levels")
    >>> tops(rows)
    (array([9., 9.]), array([nan, 10.]))
    """
    key = id(table)
    if key in _TOPS:
        return _TOPS[key]
    n = table.num_rows
    bid, ask = np.full(n, np.nan), np.full(n, np.nan)
    for mk in _markets(table).values():
        _, _, tb, ta = mk.replay(len(mk.rows), True)
        bid[mk.rows] = np.where(tb >= 0, mk.grid[np.maximum(tb, 0)], np.nan)
        ask[mk.rows] = np.where(ta >= 0, mk.grid[np.maximum(ta, 0)], np.nan)
    for a in (bid, ask):
        a.setflags(write=False)
    _TOPS[key] = (bid, ask)
    weakref.finalize(table, _TOPS.pop, key, None)
    return bid, ask


def group_ends(table: pa.Table) -> np.ndarray:
    """Whether each row is the last of its market at its timestamp (the book is checked there)."""
    n = table.num_rows
    if n == 0:
        return np.zeros(0, bool)
    codes, _ = _codes(table.column("market"))
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    order = np.lexsort((np.arange(n), codes))  # by market, then row
    c, t = codes[order], ts[order]
    last = np.ones(n, bool)
    last[:-1] = (c[1:] != c[:-1]) | (t[1:] != t[:-1])
    out = np.empty(n, bool)
    out[order] = last
    return out


def first_crossed(table: pa.Table) -> tuple[int, float, float] | None:
    """``(row, best bid, best ask)`` at the first timestamp whose rebuilt book is crossed
    (best bid >= best ask after all of a market's rows of that timestamp), or None.

    ``row`` is the row of that market and timestamp that set the crossing price: the last row
    of the timestamp writing the best bid (a bid row at that price) or the best ask, whichever
    comes later, so its price is the crossing one (not a deeper level written after it).

    Examples
    --------
    >>> import pandas as pd
    >>> from data_loaders import conform
    >>> t = pd.Timestamp("2024-01-01", tz="UTC")
    >>> rows = pd.DataFrame({"ts": [t] * 3, "market": "X", "side": [1, -1, -1], "price": [11657.08, 11657.07, 11657.5],
    ...                      "size": 1.0, "is_snapshot": False})
    >>> first_crossed(pa.Table.from_pandas(rows).cast(BOOK_LEVELS))
    (1, 11657.08, 11657.07)
    """
    bid, ask = tops(table)
    with np.errstate(invalid="ignore"):
        bad = group_ends(table) & (bid >= ask)
    if not bad.any():
        return None
    last = int(np.argmax(bad))
    best_bid, best_ask = float(bid[last]), float(ask[last])
    codes, _ = _codes(table.column("market"))
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    side = np.asarray(table.column("side").to_numpy(), np.int8)
    price = np.asarray(table.column("price").to_numpy(), np.float64)
    upto = np.arange(last + 1)
    group = (codes[upto] == codes[last]) & (ts[upto] == ts[last])
    sets = group & (((side[upto] == BID) & (price[upto] == best_bid)) | ((side[upto] == ASK) & (price[upto] == best_ask)))
    row = int(np.flatnonzero(sets)[-1]) if sets.any() else last
    return row, best_bid, best_ask


# --------------------------------------------------------------------------- the book at a time
def _ts_ns(value) -> int:
    t = pd.Timestamp(value)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return int(t.as_unit("ns").value)


def _levels(mk: _Market, stop: int):
    """(bid prices, bid sizes, ask prices, ask sizes), best first, after rows ``[0, stop)``."""
    bid_sz, ask_sz, _, _ = mk.replay(stop, False)
    b = np.flatnonzero(bid_sz > 0)[::-1]
    a = np.flatnonzero(ask_sz > 0)
    return mk.grid[b], bid_sz[b], mk.grid[a], ask_sz[a]


def l1_to_levels(book: pa.Table) -> pa.Table:
    """A canonical ``book`` table (the L1 top) as ``book_levels`` rows: each row one level a
    side, written as a bid snapshot group then an ask group at its time, so it replaces the
    whole book as an L1 row does. A side of size 0 is one row of size 0 (an empty side).

    Examples
    --------
    >>> import pandas as pd
    >>> from data_loaders import conform
    >>> top = conform(pd.DataFrame({"ts": [pd.Timestamp("2024-01-01", tz="UTC")], "market": "X", "bid": [99.0],
    ...                             "bid_size": [2.0], "ask": [101.0], "ask_size": [0.0]}), "book")
    >>> l1_to_levels(top).to_pandas()[["side", "price", "size", "is_snapshot"]].values.tolist()
    [[1, 99.0, 2.0, True], [-1, 101.0, 0.0, True]]
    """
    n = book.num_rows
    pick = pa.array(np.repeat(np.arange(n), 2))
    both = lambda a, b: np.column_stack([np.asarray(book.column(a).to_numpy(), np.float64),  # noqa: E731
                                         np.asarray(book.column(b).to_numpy(), np.float64)]).ravel()
    return pa.Table.from_arrays(
        [book.column("ts").take(pick).cast(BOOK_LEVELS.field("ts").type),
         book.column("market").take(pick).cast(pa.string()).dictionary_encode().cast(BOOK_LEVELS.field("market").type),
         pa.array(np.tile(np.array([BID, ASK], np.int8), n)), pa.array(both("bid", "ask")),
         pa.array(both("bid_size", "ask_size")), pa.array(np.ones(2 * n, bool))], schema=BOOK_LEVELS)


#: what book_at and book_state take, for their errors
_ACCEPTS = ("a book_levels table (ts, market, side, price, size, is_snapshot), a book table (the L1 top: "
            "ts, market, bid, bid_size, ask, ask_size) or a Dataset")


def _levels_table(table, who: str) -> pa.Table:
    """The level rows of a Dataset (its ``book_levels`` and its L1 ``book`` as levels), an L1
    ``book`` table as levels, or a ``book_levels`` table as it is."""
    if hasattr(table, "book_levels") and hasattr(table, "book") and not isinstance(table, pa.Table):  # a Dataset
        if table.book is None or table.book.num_rows == 0:
            return table.book_levels
        top = l1_to_levels(table.book)
        if table.book_levels is None or table.book_levels.num_rows == 0:
            return top
        return pa.concat_tables([table.book_levels, top], promote_options="permissive")
    if not isinstance(table, pa.Table):
        raise TypeError(f"{who}: expected {_ACCEPTS}; got a {type(table).__name__}")
    names = set(table.column_names)
    if {f.name for f in BOOK_LEVELS} <= names:
        return table
    if {"ts", "market", "bid", "bid_size", "ask", "ask_size"} <= names:
        return l1_to_levels(table)
    raise ValueError(f"{who}: expected {_ACCEPTS}; got a table with columns {table.column_names}")


def book_at(table, market: str, ts, depth: int | None = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The book of ``market`` in force at ``ts``: every row stamped ``<= ts`` applied.

    Parameters
    ----------
    table : pyarrow.Table or Dataset
        A canonical ``book_levels`` table, a canonical ``book`` table (the L1 top: one level a
        side, converted by :func:`l1_to_levels`), or a Dataset (its ``book_levels`` and its
        ``book``).
    market : str
    ts : str, datetime or Timestamp
        Naive means UTC.
    depth : int or None
        Levels per side (None: all).

    Returns
    -------
    (bids, asks) : two pandas.DataFrame
        Columns ``price`` and ``size``, best first (bids descending, asks ascending). Empty
        before the market's first row.

    Raises
    ------
    ValueError
        If the table has no rows of ``market``, or is neither kind of book table.

    Examples
    --------
    >>> from data_loaders import synthetic
    >>> ds = synthetic(days=0.01, markets=["BTC-USD"], seed=1, book_levels=5)
    >>> bids, asks = book_at(ds, "BTC-USD", "2024-01-01 00:05", depth=3)
    >>> len(bids), bool(bids.price.iloc[0] < asks.price.iloc[0])
    (3, True)
    """
    table = _levels_table(table, "book_at")
    if depth is not None and depth < 1:
        raise ValueError(f"book_at: depth must be >= 1 or None, got {depth!r}")
    markets = _markets(table)
    if market not in markets:
        raise ValueError(f"book_at: no book rows of market {market!r}; have {sorted(markets)}")
    mk = markets[market]
    stop = int(np.searchsorted(mk.ts, _ts_ns(ts), side="right"))
    bp, bs, ap, asz = _levels(mk, stop)
    k = slice(None) if depth is None else slice(0, depth)
    return (pd.DataFrame({"price": bp[k], "size": bs[k]}), pd.DataFrame({"price": ap[k], "size": asz[k]}))


def book_state(table, ts) -> pa.Table:
    """The whole book of every market after its rows stamped ``<= ts``, as canonical snapshot
    rows stamped ``ts``: per market a bid snapshot group then an ask group, best first. A side
    that is empty then has no rows (a book replayed from nothing starts empty anyway).

    ``table`` is what :func:`book_at` takes: a ``book_levels`` table, an L1 ``book`` table
    (one level a side) or a Dataset (both its book tables).

    Examples
    --------
    >>> from data_loaders import synthetic
    >>> ds = synthetic(days=0.01, markets=["BTC-USD"], seed=1, book_levels=5)
    >>> state = book_state(ds, "2024-01-01 00:05")
    >>> state.num_rows, set(state.column("is_snapshot").to_pylist())
    (10, {True})
    >>> book_state(synthetic(days=0.01, markets=["BTC-USD"], seed=1, book=True), "2024-01-01 00:05").num_rows
    2
    """
    table = _levels_table(table, "book_state")
    t = _ts_ns(ts)
    names, sides, prices, sizes = [], [], [], []
    for name, mk in sorted(_markets(table).items()):
        stop = int(np.searchsorted(mk.ts, t, side="right"))
        if stop == 0:
            continue
        bp, bs, ap, asz = _levels(mk, stop)
        names += [name] * (len(bp) + len(ap))
        sides += [np.full(len(bp), BID, np.int8), np.full(len(ap), ASK, np.int8)]
        prices += [bp, ap]
        sizes += [bs, asz]
    n = len(names)
    cat = (lambda parts, dtype: np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype))
    market = pa.array(names, pa.string()).dictionary_encode().cast(BOOK_LEVELS.field("market").type)
    return pa.Table.from_arrays(
        [pa.array(np.full(n, t, np.int64)).cast(BOOK_LEVELS.field("ts").type), market,
         pa.array(cat(sides, np.int8)), pa.array(cat(prices, np.float64)), pa.array(cat(sizes, np.float64)),
         pa.array(np.ones(n, bool))], schema=BOOK_LEVELS)
