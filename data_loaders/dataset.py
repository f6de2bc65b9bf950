"""`Dataset`: the bundle of canonical tables one backtest runs on."""
from __future__ import annotations

import json
import warnings
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import plausible
from .readers._common import reads_file
from .schemas import KINDS, empty_table
from .validate import DataError, conform, validate

_FILE = "dataset.json"

# file reads whose broken bytes (truncated, corrupt, not Parquet / JSON) raise a DataError naming the file
_read_parquet = reads_file(pq.read_table)
_read_json = reads_file(lambda path: json.loads(Path(path).read_text()))


def _ts_scalar(value) -> pa.Scalar | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return pa.scalar(ts.value, type=pa.timestamp("ns", tz="UTC"))


def _in_range(table: pa.Table, start, end) -> pa.Table:
    mask = None
    if start is not None:
        mask = pc.greater_equal(table.column("ts"), start)
    if end is not None:
        m = pc.less(table.column("ts"), end)
        mask = m if mask is None else pc.and_(mask, m)
    return table if mask is None else table.filter(mask)


#: decision grids whose prices ``Dataset.prices_at`` remembers, per kind and market
PRICES_AT_KEPT = 4


#: canonical tables validated already, by (id, kind, allow_extreme). Arrow tables are
#: immutable, so a table carried into a new Dataset unchanged (``dataclasses.replace``, a
#: scenario's copy of the data with one table changed) is not checked again; the entry goes
#: when the table does. A table that passed the strict checks passes the lenient ones too.
_VALID: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

#: pairs of (trades, oracle) tables found consistent already, by their ids; an entry is
#: dropped when either table is (``weakref.finalize``), so a recycled id never matches
_ORACLE_OK: dict = {}
#: the same for (trades, book or book_levels, kind)
_BOOK_OK: dict = {}


def _was_validated(table: pa.Table, kind: str, allow_extreme: bool) -> bool:
    return any(_VALID.get((id(table), kind, strict)) is table
               for strict in ((False, True) if allow_extreme else (False,)))


def _check_across(tables: dict, allow_extreme: bool) -> None:
    """The checks that need two tables: oracle prices near the trades (unless
    ``allow_extreme``), and every table overlapping the trades in time (a warning).

    The oracle check is memoised per (trades, oracle) pair: a Dataset rebuilt around the same
    two tables (a scenario that changes the latency trace, a slice of nothing) pays nothing.
    The overlap check is a min and max per table.
    """
    trades, oracle = tables["trades"], tables["oracle"]
    key = (id(trades), id(oracle))
    if not allow_extreme and trades.num_rows and oracle.num_rows and key not in _ORACLE_OK:
        _check_oracle(trades, oracle)
        _ORACLE_OK[key] = True
        weakref.finalize(trades, _ORACLE_OK.pop, key, None)
        weakref.finalize(oracle, _ORACLE_OK.pop, key, None)
    for kind in ("book", "book_levels"):
        table = tables[kind]
        key = (id(trades), id(table), kind)
        if allow_extreme or not trades.num_rows or not table.num_rows or key in _BOOK_OK:
            continue
        _check_book(trades, kind, table)
        _BOOK_OK[key] = True
        weakref.finalize(trades, _BOOK_OK.pop, key, None)
        weakref.finalize(table, _BOOK_OK.pop, key, None)
    for kind, first, last in plausible.disjoint_from_trades(tables):
        warnings.warn(f"Dataset.{kind} ({first} .. {last}) does not overlap the trades "
                      f"({_bound(trades, pc.min)} .. {_bound(trades, pc.max)}) in time: its rows never "
                      "meet a trade", plausible.DisjointTablesWarning, stacklevel=4)


def _check_book(trades: pa.Table, kind: str, table: pa.Table) -> None:
    found = plausible.book_outlier(trades, kind, table)
    if found is None:
        return
    row, quote, lo, hi = found
    ts = pd.Timestamp(table.column("ts")[row].value, tz="UTC")
    market = table.column("market")[row].as_py()
    column = "price" if kind == "book_levels" else "bid"
    raise DataError(f"Dataset.{kind}", "book far from the trades", column=column, row=row, value=quote,
                    expected=f"a book quote (mid, or the one shown side) within {plausible.MAX_BOOK_DEVIATION:.0%} "
                             f"of the {market} trades within {plausible.ORACLE_TRADE_WINDOW} of {ts} (they traded "
                             f"at {lo:g} .. {hi:g}; bound data_loaders.plausible.MAX_BOOK_DEVIATION; pass "
                             "allow_extreme=True for deliberate stress data)")


def _check_one_book_kind(book: pa.Table, levels: pa.Table) -> None:
    """A market has book-top rows or level rows, not both (docs/simulation.md, "Order book")."""
    if not book.num_rows or not levels.num_rows:
        return
    both = sorted(set(_unique(book, "market")) & set(_unique(levels, "market")))
    if both:
        market = both[0]
        row = int(np.argmax(pc.equal(levels.column("market").cast(pa.string()), market).to_numpy(
            zero_copy_only=False)))
        raise DataError("Dataset.book_levels", f"market {market!r} has rows in both book (the L1 top) and "
                        "book_levels; a market has one kind of book data", column="market", row=row, value=market,
                        expected="each market's book in one table (drop its book rows, or its book_levels rows)")


def _check_oracle(trades: pa.Table, oracle: pa.Table) -> None:
    found = plausible.oracle_outlier(trades, oracle)
    if found is None:
        return
    row, price, lo, hi = found
    ts = pd.Timestamp(oracle.column("ts")[row].value, tz="UTC")
    market = oracle.column("market")[row].as_py()
    raise DataError("Dataset.oracle", "oracle price far from the trades", column="price", row=row, value=price,
                    expected=f"within {plausible.MAX_ORACLE_DEVIATION:.0%} of the {market} trades within "
                             f"{plausible.ORACLE_TRADE_WINDOW} of {ts} (they traded at {lo:g} .. {hi:g}; "
                             "bound data_loaders.plausible.MAX_ORACLE_DEVIATION; pass allow_extreme=True "
                             "for deliberate stress data)")


@dataclass(frozen=True)
class Dataset:
    """The tables of one backtest: trades, funding, oracle, latency trace, book top or levels.

    Every table is validated against its canonical schema on construction (see
    :mod:`data_loaders.schemas`); absent tables are empty canonical tables, never ``None``.

    Parameters
    ----------
    trades, funding, oracle, latency, book, book_levels : pyarrow.Table or pandas.DataFrame, optional
        Canonical tables (DataFrames are converted with :func:`data_loaders.conform`). A market
        has ``book`` rows (the L1 top) or ``book_levels`` rows (L2 levels), not both.
    markets : dict, optional
        Per-market metadata, ``{"BTC-USD": {"tick_size": 1.0, ...}}``; free-form.
    meta : dict, optional
        Provenance of the bundle: what is real, what is generated, seeds.
    allow_extreme : bool
        Accept what the plausibility checks would reject as a mistake but stress data does on
        purpose: funding rates beyond the plausible bound and oracle prices far from the trades
        (see :mod:`data_loaders.plausible`). Scenarios that shock funding or prices set it on
        the data they return. ``dataclasses.replace`` carries it over.

    Notes
    -----
    Besides each table's own checks (:func:`data_loaders.validate`), construction checks the
    tables against each other: an oracle price more than
    :data:`~data_loaders.plausible.MAX_ORACLE_DEVIATION` away from every trade of its market
    near it in time is a :class:`~data_loaders.DataError`, so is a book quote (mid) more than
    :data:`~data_loaders.plausible.MAX_BOOK_DEVIATION` away from them or a market with both
    ``book`` and ``book_levels`` rows, and a funding, oracle or book table
    whose time range does not meet the trades' warns
    :class:`~data_loaders.plausible.DisjointTablesWarning`.

    Examples
    --------
    >>> from data_loaders import sample
    >>> ds = sample()
    >>> ds.markets_traded
    ['BTC-USD', 'ETH-USD']
    >>> day = ds.slice("2022-11-08", "2022-11-09")
    """

    trades: pa.Table = None
    funding: pa.Table = None
    oracle: pa.Table = None
    latency: pa.Table = None
    book: pa.Table = None
    book_levels: pa.Table = None
    markets: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    allow_extreme: bool = False

    def __post_init__(self):
        lenient = bool(self.allow_extreme)
        object.__setattr__(self, "allow_extreme", lenient)
        for kind in KINDS:
            value = getattr(self, kind)
            if value is None:
                value = empty_table(kind)
            elif isinstance(value, pd.DataFrame):
                value = conform(value, kind, source=f"Dataset.{kind} (DataFrame)", allow_extreme=lenient)
            elif not _was_validated(value, kind, lenient):
                validate(value, kind, source=f"Dataset.{kind}", allow_extreme=lenient)
            _VALID[(id(value), kind, lenient)] = value
            object.__setattr__(self, kind, value)
        _check_one_book_kind(self.book, self.book_levels)
        _check_across({k: getattr(self, k) for k in KINDS}, lenient)
        object.__setattr__(self, "_memo", {})  # derived arrays (market_prices), not a field

    @classmethod
    def _of_valid(cls, tables: dict, markets: dict, meta: dict) -> "Dataset":
        """A Dataset of canonical tables that were validated already (this package's own
        files: the sample cache); absent kinds are empty. Skips the second validation."""
        ds = object.__new__(cls)
        for kind in KINDS:
            table = tables[kind] if tables.get(kind) is not None else empty_table(kind)
            _VALID[(id(table), kind, False)] = table
            object.__setattr__(ds, kind, table)
        object.__setattr__(ds, "markets", markets)
        object.__setattr__(ds, "meta", meta)
        object.__setattr__(ds, "allow_extreme", False)
        object.__setattr__(ds, "_memo", {})
        return ds

    # ------------------------------------------------------------------ descriptions
    def table(self, kind: str) -> pa.Table:
        """The table of ``kind`` ('trades', 'funding', 'oracle', 'latency', 'book' or 'book_levels')."""
        if kind not in KINDS:
            raise ValueError(f"unknown table kind {kind!r}; expected one of {', '.join(KINDS)}")
        return getattr(self, kind)

    def market_prices(self, kind: str, market: str) -> tuple[np.ndarray, np.ndarray]:
        """``(ts, price)`` of one market's rows of ``kind`` ('trades' or 'oracle') as int64 ns
        and float64, in time order (stable within a timestamp).

        Computed once per dataset and market, then shared: many runs of a sweep read the same
        prices in their ``init``. The arrays are read-only.

        Examples
        --------
        >>> from data_loaders import sample
        >>> ts, px = sample().market_prices("trades", "BTC-USD")
        >>> bool((ts[1:] >= ts[:-1]).all()) and len(ts) == len(px)
        True
        """
        if kind not in ("trades", "oracle"):
            raise ValueError(f"market_prices: kind must be 'trades' or 'oracle', got {kind!r}")
        memo = self.__dict__.setdefault("_memo", {})
        key = ("prices", kind, market)
        if key not in memo:
            table = self.table(kind)
            if table.num_rows == 0:
                ts, px = np.zeros(0, np.int64), np.zeros(0)
            else:
                rows = _rows_of(table.column("market"), market)
                t = table if rows is None else table.filter(rows)  # one market's table: no copy
                ts = t.column("ts").cast(pa.int64()).to_numpy()
                px = t.column("price").to_numpy().astype(np.float64, copy=False)
                if len(ts) > 1 and not np.all(ts[1:] >= ts[:-1]):
                    order = np.argsort(ts, kind="stable")
                    ts, px = ts[order], px[order]
            memo[key] = (sealed(ts), sealed(px))
        ts, px = memo[key]
        return ts[:], px[:]  # views of sealed arrays: they cannot be made writable

    def prices_at(self, kind: str, market: str, times) -> np.ndarray:
        """The last price of ``kind`` ('trades' or 'oracle') of ``market`` at or before each of
        ``times`` (a DatetimeIndex, any unit, or int64 ns): what a decision at that time has
        seen. NaN before the first row. Read-only.

        Remembered for the last few DatetimeIndex objects (immutable): the runs of a sweep
        share their decision grid (one index object), so their ``init`` looks the prices up
        once.

        Examples
        --------
        >>> import pandas as pd
        >>> from data_loaders import sample
        >>> ds = sample()
        >>> t = pd.DatetimeIndex(["2022-11-08 12:00"], tz="UTC")
        >>> float(ds.prices_at("trades", "BTC-USD", t)[0]) > 0
        True
        """
        # only an immutable DatetimeIndex is remembered (by identity): an array could be
        # changed in place after the call
        remember = isinstance(times, pd.DatetimeIndex)
        memo = self.__dict__.setdefault("_memo", {})
        seen = memo.setdefault(("prices_at", kind, market), [])
        if remember:
            for owner, values in seen:
                if owner is times:
                    return values
        if isinstance(times, pd.DatetimeIndex):
            t = times.as_unit("ns").asi8  # pandas 3 indexes may hold us or s
        else:
            t = np.asarray(times, np.int64)
        ts, px = self.market_prices(kind, market)
        i = np.searchsorted(ts, t, side="right") - 1
        values = np.where(i >= 0, px[np.maximum(i, 0)], np.nan)
        values.setflags(write=False)
        if remember:
            seen.append((times, values))
            del seen[:-PRICES_AT_KEPT]
        return values

    def __getstate__(self):
        """Pickles and copies leave the per-process caches behind."""
        return {k: v for k, v in list(self.__dict__.items()) if k != "_memo"}

    @property
    def markets_traded(self) -> list[str]:
        """Sorted names of the markets that have trades."""
        return _unique(self.trades, "market")

    @property
    def venues(self) -> list[str]:
        """Sorted names of the venues that have a latency trace."""
        return _unique(self.latency, "venue")

    @property
    def start(self) -> pd.Timestamp | None:
        """Timestamp of the first trade (None without trades)."""
        return _bound(self.trades, pc.min)

    @property
    def end(self) -> pd.Timestamp | None:
        """Timestamp of the last trade (None without trades)."""
        return _bound(self.trades, pc.max)

    def summary(self) -> pd.DataFrame:
        """One row per table: rows, markets (or venues), first and last timestamp."""
        rows = []
        for kind in KINDS:
            t = self.table(kind)
            group = "venue" if kind == "latency" else "market"
            rows.append({"table": kind, "rows": t.num_rows, "keys": ", ".join(_unique(t, group)),
                         "first": _bound(t, pc.min), "last": _bound(t, pc.max)})
        return pd.DataFrame(rows).set_index("table")

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={self.table(k).num_rows:,}" for k in KINDS)
        return f"Dataset({counts}; markets={self.markets_traded}; {self.start} .. {self.end})"

    # ------------------------------------------------------------------ transforms
    def slice(self, start=None, end=None) -> "Dataset":
        """Rows with ``start <= ts < end`` of every table.

        The latency trace also keeps, per venue, the last row before ``start`` (re-stamped to
        ``start``), because that is the venue's state in force when the slice begins: a slice
        that starts inside an outage still starts down. A venue that already has a row at
        exactly ``start`` keeps that row alone (it is the state in force), and an empty range
        (``end <= start``) gives empty tables.

        ``book_levels`` is made self-contained the same way: its rows stamped ``<= start`` are
        replayed and the book in force at ``start`` opens the slice as snapshot groups stamped
        ``start`` (per market, bids then asks, best first; :func:`data_loaders.book.book_state`),
        followed by the rows with ``start < ts < end``. The rows stamped exactly ``start`` are
        in that snapshot rather than repeated after it (no order rests before the slice's first
        instant, so nothing can tell them apart). The L1 ``book`` table is cut like the others.
        """
        lo, hi = _ts_scalar(start), _ts_scalar(end)
        tables = {k: _in_range(self.table(k), lo, hi) for k in KINDS}
        nonempty = lo is None or hi is None or lo.value < hi.value  # [lo, hi) holds an instant
        if lo is not None and nonempty and self.latency.num_rows:
            tables["latency"] = _with_state_at(self.latency, tables["latency"], lo)
        if lo is not None and nonempty and self.book_levels.num_rows:
            tables["book_levels"] = _levels_at(self.book_levels, tables["book_levels"], lo)
        return replace(self, **tables, meta={**self.meta, "slice": [str(start), str(end)]})

    # ------------------------------------------------------------------ files
    def save(self, path) -> Path:
        """Write the tables as Parquet files plus ``dataset.json`` into directory ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for kind in KINDS:
            pq.write_table(self.table(kind), path / f"{kind}.parquet")
        info = {"markets": self.markets, "meta": self.meta}
        if self.allow_extreme:  # only then: files of ordinary datasets stay as they were
            info["allow_extreme"] = True
        (path / _FILE).write_text(json.dumps(info, indent=2, default=str))
        return path

    @classmethod
    def load(cls, path, *, require=()) -> "Dataset":
        """Read a directory written by :meth:`save` (missing tables are empty).

        Parameters
        ----------
        path : str or Path
            The directory.
        require : iterable of str
            Table kinds that must be there with at least one row (``backtester run`` requires
            ``"trades"``: without them there is nothing to replay).

        Raises
        ------
        DataError
            Naming the file: unreadable bytes, a table off its schema, a ``dataset.json`` that
            is not an object with ``markets`` and ``meta`` objects, or a required table that
            is missing or empty.

        Examples
        --------
        >>> ds = Dataset.load("synth/", require=("trades",))               # doctest: +SKIP
        """
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: not a dataset directory")
        info = _read_json(path / _FILE) if (path / _FILE).exists() else {}
        _check_info(info, path / _FILE)
        lenient = bool(info.get("allow_extreme", False))
        tables = {}
        for kind in KINDS:
            f = path / f"{kind}.parquet"
            if f.exists():
                tables[kind] = validate(_unify(_read_parquet(f)), kind, source=str(f), allow_extreme=lenient)
        for kind in require:
            f = path / f"{kind}.parquet"
            if kind not in tables:
                raise DataError(str(f), f"missing: the dataset {path} has no {kind} table, and it needs one")
            if tables[kind].num_rows == 0:
                raise DataError(str(f), f"no rows: the dataset {path} needs {kind}")
        return cls(**tables, markets=info.get("markets", {}), meta=info.get("meta", {}), allow_extreme=lenient)


def _check_info(info, source) -> None:
    """``dataset.json`` is an object whose ``markets`` (name -> object) and ``meta`` are objects."""
    if not isinstance(info, dict):
        raise DataError(str(source), f"expected a JSON object with 'markets' and 'meta', got "
                        f"{_json_type(info)}")
    for key in ("markets", "meta"):
        if not isinstance(info.get(key, {}), dict):
            raise DataError(str(source), f"{key!r} must be a JSON object, got {_json_type(info[key])}")
    for market, spec in info.get("markets", {}).items():
        if not isinstance(spec, dict):
            raise DataError(str(source), f"markets[{market!r}] must be a JSON object (tick size, fees, ...), "
                            f"got {_json_type(spec)}")


def _json_type(value) -> str:
    """What ``value`` is, in JSON's words."""
    for types, name in ((bool, "a boolean"), ((int, float), "a number"), (str, "a string"),
                        (list, "an array"), (type(None), "null")):
        if isinstance(value, types):
            return name
    return type(value).__name__


def sealed(a: np.ndarray) -> np.ndarray:
    """``a`` read-only for good: itself when nothing can make it writable again (its own data,
    now locked, or a view of Arrow's immutable buffers), else a locked copy (a view whose
    owner is writable: a view's flag could be set back). Hand out views of the result: an
    array owning its data can always be unlocked, a view of a locked owner cannot.

    Examples
    --------
    >>> a = sealed(np.arange(3.0))[:]
    >>> a.flags.writeable
    False
    """
    if a.flags.owndata:
        a.setflags(write=False)
        return a
    probe = a.view()
    try:
        probe.setflags(write=True)
    except ValueError:
        a.setflags(write=False)
        return a
    a = a.copy()
    a.setflags(write=False)
    return a


def _rows_of(column: pa.ChunkedArray, market: str):
    """Which rows of a market column are ``market``: a boolean array for ``Table.filter``, or
    None when all of them are (a one-market table needs no filtered copy). Dictionary columns
    are compared by their indices: casting ten million rows to strings costs more than the
    prices themselves."""
    masks = []
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            codes = np.flatnonzero(np.asarray(chunk.dictionary.to_pylist(), dtype=object) == market)
            idx = chunk.indices.to_numpy(zero_copy_only=False)
            masks.append(np.isin(idx, codes))
        else:
            masks.append(pc.equal(chunk.cast(pa.string()), market).to_numpy(zero_copy_only=False))
    mask = np.concatenate(masks) if masks else np.zeros(0, bool)
    return None if mask.all() else pa.array(mask)


def _unify(table: pa.Table) -> pa.Table:
    return table.unify_dictionaries().combine_chunks() if table.num_rows else table


def _unique(table: pa.Table, column: str) -> list[str]:
    if table.num_rows == 0:
        return []
    col = table.column(column)
    if pa.types.is_dictionary(col.type):
        col = col.cast(pa.string())
    return sorted(pc.unique(col).to_pylist())


def _bound(table: pa.Table, fn):
    if table.num_rows == 0:
        return None
    return pd.Timestamp(fn(table.column("ts")).value, tz="UTC")


def _with_state_at(full: pa.Table, sliced: pa.Table, lo: pa.Scalar) -> pa.Table:
    """``sliced`` preceded, per venue, by its last row before ``lo`` re-stamped to ``lo``.

    Venues that have a row at exactly ``lo`` in ``sliced`` get no carried row: their state in
    force at ``lo`` is that row. The schema (field nullability included) stays canonical.
    """
    before = full.filter(pc.less(full.column("ts"), lo))
    if before.num_rows == 0:
        return sliced
    at_lo = sliced.filter(pc.equal(sliced.column("ts"), lo)).column("venue").cast(pa.string())
    venues = before.column("venue").cast(pa.string()).to_numpy(zero_copy_only=False)
    names, first_from_end = np.unique(venues[::-1], return_index=True)
    last = len(venues) - 1 - first_from_end  # rows are in time order per venue
    keep = ~np.isin(names, np.asarray(at_lo.to_pylist(), dtype=object))
    if not keep.any():
        return sliced
    carry = before.take(pa.array(np.sort(last[keep]), type=pa.int64()))
    i = carry.schema.get_field_index("ts")
    stamps = pa.array(np.full(carry.num_rows, lo.value, "int64")).cast(lo.type)
    carry = carry.set_column(i, carry.schema.field(i), stamps)
    out = pa.concat_tables([carry, sliced], promote_options="none")
    return _unify(out)


def _levels_at(full: pa.Table, sliced: pa.Table, lo: pa.Scalar) -> pa.Table:
    """``sliced`` (level rows in ``[lo, hi)``) opened by the book in force at ``lo`` as snapshot
    groups, in place of its rows stamped exactly ``lo``."""
    from .book import book_state  # numba: imported only when there are level rows

    state = book_state(full, pd.Timestamp(lo.value, tz="UTC"))
    later = sliced.filter(pc.greater(sliced.column("ts"), lo))
    return _unify(pa.concat_tables([state, later.replace_schema_metadata(None)], promote_options="none"))
