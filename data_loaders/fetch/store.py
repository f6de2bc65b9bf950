"""`Store`: a local, partitioned Parquet store of fetched venue data that runs read.

Layout (one folder per kind, venue, market and UTC day)::

    STORE/store.json                                  marks the folder as a store
    STORE/.fetch.lock                                 held by the fetch writing it (one at a time)
    STORE/_markets/dydx.json                          the venue's market parameters
    STORE/kind=trades/venue=dydx/market=BTC-USD/date=2024-08-08/data.parquet
    STORE/kind=trades/venue=dydx/market=BTC-USD/date=2024-08-08/_manifest.json

Each ``data.parquet`` holds the canonical columns of its kind (:mod:`data_loaders.schemas`;
candles: ``ts, market, open, high, low, close, volume, bar``) plus, for trades, the venue's
trade ``id`` as text. Files are written atomically: a temporary file in the same folder, then
``os.replace``; the manifest is written (the same way) after the data, so a partition whose
manifest is missing or does not match is fetched again. The manifest records the time range
covered, the row count, the source URL(s), the fetch time, the SHA-256 of ``data.parquet``
and ``complete``: true only when the partition covers its whole day. A day still in progress
(or older than the venue serves) is stored with ``complete: false`` and fetched again by the
next fetch that asks for it; a complete partition is never fetched twice.

The store writes only inside a folder that is new, empty or already a store (``store.json``)
and replaces only the files it wrote there; it deletes nothing else.

Examples
--------
>>> import data_loaders as dl
>>> store = dl.Store("data/")                                           # doctest: +SKIP
>>> store.fetch("dydx", ["BTC-USD"], ["trades", "funding"], "2024-08-08", "2024-08-09")  # doctest: +SKIP
>>> store.coverage()                                                    # doctest: +SKIP
>>> ds = store.dataset("BTC-USD", "2024-08-08", "2024-08-09")           # doctest: +SKIP
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import uuid
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .._lock import take_lock
from ..schemas import SCHEMAS, TS, DICT_STRING
from ..validate import DataError, validate
from ._http import NotFound, Policy
from .sources import CANDLES, STORE_KINDS, VENUE_MARKET, make_source

MARKER = "store.json"
#: held (flock) by the fetch writing the store
LOCK = ".fetch.lock"
MANIFEST = "_manifest.json"
DATA = "data.parquet"
FORMAT = "data_loaders.Store"
FORMAT_VERSION = 1
#: a day is complete only once it ended this long before the fetch: the indexer and the
#: dumps publish the last minutes of a day late
SETTLE = pd.Timedelta("10min")
#: rows per Parquet row group: small enough that a time range skips most of a day's groups
ROW_GROUP = 65_536
DAY = pd.Timedelta("1D")
#: close matches named for an unknown market
CLOSE_MATCHES = 5


class PartialDayWarning(UserWarning):
    """A dataset read from a store includes a day that is not complete there."""


class OutsideRowsWarning(UserWarning):
    """A fetched file held rows stamped outside the day (or month) it is for; they are left out."""


def _utc(value, what: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ValueError(f"{what} {value!r}: not a date or time (e.g. 2024-08-08 or 2024-08-08T12:00Z)") from None
    if ts is pd.NaT:
        raise ValueError(f"{what} {value!r}: not a date or time")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _days(start: pd.Timestamp, end: pd.Timestamp) -> list[pd.Timestamp]:
    """The UTC days that meet ``[start, end)``."""
    first = start.floor("D")
    return list(pd.date_range(first, end - pd.Timedelta(1), freq="D")) if end > start else []


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _atomic_write(path: Path, write) -> None:
    """``write(tmp)`` then rename onto ``path``; the temporary file goes if writing fails."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


#: the temporary files of _atomic_write: .<name>.<pid>.<8 hex>.tmp
_TEMP = re.compile(r"^\.(?:data\.parquet|_manifest\.json)\.(\d+)\.[0-9a-f]{8}\.tmp$")


def _take_lock(root: Path):
    """The store's lock: one fetch writes a store at a time (see :func:`.._lock.take_lock`)."""
    return take_lock(root / LOCK, f"store {root}: another fetch is writing it ({{holder}}); wait for it to finish")


def _sweep_stale(folder: Path) -> None:
    """Remove this store's temporary files left in ``folder`` by a process that died (a killed
    fetch); a file of a process still running, or of any other name, is left alone."""
    for f in folder.iterdir():
        match = _TEMP.match(f.name)
        if match is None or int(match.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            f.unlink(missing_ok=True)
        except OSError:  # alive under another user, or not ours to ask: leave it
            continue


def _names(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v).strip() for v in value]


class Store:
    """A folder of fetched venue data, partitioned by kind, venue, market and day.

    Parameters
    ----------
    path : str or Path
        The folder. Created on the first fetch; it must be new, empty or a store already.

    Examples
    --------
    >>> import tempfile, data_loaders as dl
    >>> store = dl.Store(tempfile.mkdtemp())
    >>> store.coverage().empty
    True
    """

    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # ------------------------------------------------------------------ layout
    def partition_dir(self, kind: str, venue: str, market: str, day) -> Path:
        """The folder of one partition."""
        return (self.path / f"kind={kind}" / f"venue={venue}" / f"market={market}"
                / f"date={pd.Timestamp(day):%Y-%m-%d}")

    def _check_folder(self) -> bool:
        """Whether ``path`` is a store already; ``ValueError`` for a folder with other
        people's files in it (checked before any request, so a wrong folder costs nothing)."""
        if (self.path / MARKER).exists():
            return True
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"store {self.path}: exists and is not a folder")
        if self.path.exists() and any(self.path.iterdir()):
            raise ValueError(f"store {self.path}: the folder has files and no {MARKER}, so it is not a store; "
                             "pick a new or empty folder (the store never writes among files it did not create)")
        return False

    def _claim(self) -> None:
        """Make ``path`` a store, refusing a folder with other people's files in it."""
        if self._check_folder():
            return
        marker = self.path / MARKER
        self.path.mkdir(parents=True, exist_ok=True)
        info = {"format": FORMAT, "version": FORMAT_VERSION, "created": pd.Timestamp.now("UTC").isoformat()}
        _atomic_write(marker, lambda tmp: tmp.write_text(json.dumps(info, indent=2)))

    def manifest(self, kind: str, venue: str, market: str, day) -> dict | None:
        """The manifest of a partition, or None if it is absent, unreadable or does not match
        its data file (size): such a partition counts as missing and is fetched again."""
        folder = self.partition_dir(kind, venue, market, day)
        try:
            info = json.loads((folder / MANIFEST).read_text())
        except (OSError, ValueError):
            return None
        data = folder / DATA
        if not isinstance(info, dict) or not data.exists() or data.stat().st_size != info.get("bytes"):
            return None
        return info

    def write_partition(self, kind: str, venue: str, market: str, day, table: pa.Table, *,
                        covered: tuple, source: str, extra: dict | None = None) -> dict:
        """Write one day's rows (atomically) and its manifest; return the manifest.

        ``covered`` is the ``[start, end)`` the rows are known to cover completely; the
        partition is complete when that is the whole day.
        """
        self._claim()
        day = pd.Timestamp(day).floor("D")
        lo, hi = (pd.Timestamp(t) for t in covered)
        folder = self.partition_dir(kind, venue, market, day)
        folder.mkdir(parents=True, exist_ok=True)
        _sweep_stale(folder)
        data = folder / DATA
        _atomic_write(data, lambda tmp: pq.write_table(table, tmp, row_group_size=ROW_GROUP, compression="zstd"))
        ts = table.column("ts")
        info = {
            "kind": kind, "venue": venue, "market": market, "date": f"{day:%Y-%m-%d}",
            "start": lo.isoformat(), "end": hi.isoformat(),
            "complete": bool(lo <= day and hi >= day + DAY),
            "rows": table.num_rows,
            "first_ts": None if not table.num_rows else pd.Timestamp(pc.min(ts).value, tz="UTC").isoformat(),
            "last_ts": None if not table.num_rows else pd.Timestamp(pc.max(ts).value, tz="UTC").isoformat(),
            "source": source, "fetched_at": pd.Timestamp.now("UTC").isoformat(),
            "sha256": _sha256(data), "bytes": data.stat().st_size, "format": FORMAT_VERSION,
            **(extra or {}),
        }
        _atomic_write(folder / MANIFEST, lambda tmp: tmp.write_text(json.dumps(info, indent=2)))
        return info

    def _manifests(self) -> list[dict]:
        out = []
        for m in sorted(self.path.glob(f"kind=*/venue=*/market=*/date=*/{MANIFEST}")):
            parts = {p.split("=", 1)[0]: p.split("=", 1)[1] for p in m.parent.relative_to(self.path).parts}
            info = self.manifest(parts["kind"], parts["venue"], parts["market"], parts["date"])
            if info is not None:
                out.append({**info, "path": str(m.parent / DATA)})
        return out

    def markets(self, venue: str) -> dict:
        """The market parameters last fetched from ``venue`` (``{}`` if none): plain dicts
        with ``imf``, ``mmf``, ``tick_size``, ``step_size`` where the venue gives them."""
        path = self.path / "_markets" / f"{venue}.json"
        if not path.exists():
            return {}
        return json.loads(path.read_text()).get("markets", {})

    def _save_markets(self, venue: str, specs: dict, source: str) -> None:
        self._claim()
        folder = self.path / "_markets"
        folder.mkdir(exist_ok=True)
        info = {"venue": venue, "source": source, "fetched_at": pd.Timestamp.now("UTC").isoformat(), "markets": specs}
        _atomic_write(folder / f"{venue}.json", lambda tmp: tmp.write_text(json.dumps(info, indent=2, sort_keys=True)))

    # ------------------------------------------------------------------ views
    def partitions(self) -> pd.DataFrame:
        """One row per stored partition: kind, venue, market, date, complete, rows, start,
        end (the range covered), source, fetched_at, sha256.

        Examples
        --------
        >>> import tempfile, data_loaders as dl
        >>> list(dl.Store(tempfile.mkdtemp()).partitions().columns)[:5]
        ['kind', 'venue', 'market', 'date', 'complete']
        """
        cols = ["kind", "venue", "market", "date", "complete", "rows", "start", "end", "source", "fetched_at",
                "sha256"]
        if not self.path.exists():  # a mistyped path is said so, not read as an empty store
            raise ValueError(f"store {self.path}: no such folder (backtester data fetch creates a store)")
        self._check_folder()  # a folder that is not a store is said so, not read as an empty one
        rows = [{c: m.get(c) for c in cols} for m in self._manifests()]
        df = pd.DataFrame(rows, columns=cols)
        if not df.empty:
            df["date"] = pd.to_datetime(df["date"]).dt.date
        return df

    def coverage(self) -> pd.DataFrame:
        """What the store holds, as runs of days per kind, venue and market, gaps included.

        Returns
        -------
        pandas.DataFrame
            Columns ``kind, venue, market, first, last`` (days, inclusive), ``days``, ``rows``
            and ``status``: ``complete`` (every day whole), ``partial`` (days fetched while
            in progress or not whole) or ``gap`` (days missing between stored ones).

        Examples
        --------
        >>> import tempfile, data_loaders as dl
        >>> list(dl.Store(tempfile.mkdtemp()).coverage().columns)
        ['kind', 'venue', 'market', 'first', 'last', 'days', 'rows', 'status']
        """
        cols = ["kind", "venue", "market", "first", "last", "days", "rows", "status"]
        parts = self.partitions()
        out = []
        for (kind, venue, market), g in parts.groupby(["kind", "venue", "market"], sort=True):
            by_day = {pd.Timestamp(d): (bool(c), int(r)) for d, c, r in zip(g["date"], g["complete"], g["rows"])}
            days = pd.date_range(min(by_day), max(by_day), freq="D")
            status = ["gap" if d not in by_day else "complete" if by_day[d][0] else "partial" for d in days]
            i = 0
            while i < len(days):
                j = i
                while j + 1 < len(days) and status[j + 1] == status[i]:
                    j += 1
                rows = sum(by_day.get(d, (0, 0))[1] for d in days[i:j + 1])
                out.append({"kind": kind, "venue": venue, "market": market, "first": days[i].date(),
                            "last": days[j].date(), "days": j - i + 1, "rows": rows, "status": status[i]})
                i = j + 1
        return pd.DataFrame(out, columns=cols)

    # ------------------------------------------------------------------ fetching
    def fetch(self, venue: str, markets, kinds, start, end, *, base_url: str | None = None,
              policy: Policy | None = None, dry_run: bool = False, progress: bool = False,
              now=None, **options) -> pd.DataFrame:
        """Fetch what the store lacks of ``kinds`` x ``markets`` over the days of ``[start, end)``.

        Parameters
        ----------
        venue : {'dydx', 'hyperliquid', 'binance'}
            The source (see :mod:`data_loaders.fetch`).
        markets, kinds : str or list of str
            Market names as the venue writes them (``BTC-USD``; Hyperliquid ``BTC``; Binance
            ``BTCUSDT``) and what to fetch (``trades``, ``funding``, ``candles``; Binance also
            ``agg_trades``, ``book``, or its own names ``aggTrades``, ``bookTicker``,
            ``fundingRate``). Comma-separated text is accepted.
        start, end : str or Timestamp
            UTC; ``end`` is exclusive. Whole days are fetched: the days that meet the range.
        base_url : str, optional
            The venue's address (default: its public one).
        policy : Policy, optional
            Retries, backoff, timeouts and the request rate (default: the venue's).
        dry_run : bool
            Only say what would be fetched (the venue's market list is still read, to check
            the markets).
        progress : bool
            Show a progress bar (days, with pages, rows and bytes).
        now : Timestamp, optional
            The current time (tests); days ending later than ``now - SETTLE`` are partial.
        **options
            Passed to the source: ``page_size`` (dYdX), ``resolution`` (candles).

        Returns
        -------
        pandas.DataFrame
            One row per (kind, market, day): ``action`` (``fetched``, ``skipped`` when
            complete already, ``would fetch``, ``not published``), ``rows``, ``complete``.

        Raises
        ------
        ValueError
            Before any data is requested: start not before end, an unknown kind, an unknown
            market (naming close matches from the venue's list), a range before the market's
            first day (naming it); or another fetch writing this store (naming its process).
        DataError
            A response of unexpected shape (naming the URL and what was expected) or a
            download whose checksum does not match.
        FetchError
            A request that failed after every retry.
        """
        start, end = _utc(start, "start"), _utc(end, "end")
        if start >= end:
            raise ValueError(f"start {start} is not before end {end} (end is exclusive: one day is "
                             f"--start {start:%Y-%m-%d} --end {start + DAY:%Y-%m-%d})")
        market_names, kind_names = _names(markets), _names(kinds)
        if not market_names:
            raise ValueError("no market given (e.g. BTC-USD)")
        self._check_folder()
        source = make_source(venue, base_url=base_url, policy=policy, **options)
        store_kinds = [source.kind(k) for k in kind_names] if kind_names else list(source.default_kinds)
        source.check(store_kinds)
        now = pd.Timestamp.now("UTC") if now is None else _utc(now, "now")
        specs = source.markets()
        unknown = [m for m in market_names if m not in specs]
        if unknown:
            m = unknown[0]
            close = difflib.get_close_matches(m, list(specs), n=CLOSE_MATCHES, cutoff=0.5)
            hint = f"; close matches: {', '.join(close)}" if close else f"; it lists {len(specs)} markets"
            raise ValueError(f"unknown {venue} market {m!r}{hint}")
        for m in market_names:
            for kind in store_kinds:
                if kind in source.VENUE_WIDE and m != market_names[0]:
                    continue
                first = source.first_day(m, kind)
                if first is not None and start.floor("D") < first:
                    whose = "the node's blocks start" if kind in source.VENUE_WIDE else "the market's data starts"
                    raise ValueError(f"{venue} {m} {kind}: the range starts {start:%Y-%m-%d}, before {whose} on "
                                     f"{first:%Y-%m-%d}; use --start {first:%Y-%m-%d} or later")
        if dry_run:
            return self._plan(venue, source, market_names, store_kinds, start, end, now, dry_run=True)
        self._claim()
        lock = _take_lock(self.path)
        try:
            self._save_markets(venue, {m: specs[m] for m in specs}, source.markets_source)
            return self._plan(venue, source, market_names, store_kinds, start, end, now, progress=progress)
        finally:
            if lock is not None:
                lock.close()  # closing releases the lock; the file stays (it is the store's own)

    def _plan(self, venue, source, market_names, store_kinds, start, end, now, *, dry_run=False, progress=False):
        """Find the days to fetch and (unless ``dry_run``) fetch them; the report."""
        available = now - SETTLE
        tasks, later = [], []
        pairs = [(m, k) for m in market_names for k in store_kinds if k not in source.VENUE_WIDE]
        pairs += [(VENUE_MARKET, k) for k in store_kinds if k in source.VENUE_WIDE]
        for m, kind in pairs:
            for day in _days(start, end):
                if day >= available:  # nothing of it can be fetched yet
                    later.append({"kind": kind, "venue": venue, "market": m, "date": day.date(),
                                  "action": "not yet available", "rows": 0, "complete": False})
                    continue
                info = self.manifest(kind, venue, m, day)
                want_end = min(day + DAY, available)
                done = info is not None and info.get("resolution") == source.resolution_of(kind) and (
                    info["complete"] or (pd.Timestamp(info["start"]) <= day and pd.Timestamp(info["end"]) >= want_end))
                tasks.append((kind, m, day, done))
        report = []
        todo = [t for t in tasks if not t[3]]
        for kind, m, day, done in tasks:
            if done or dry_run:
                report.append({"kind": kind, "venue": venue, "market": m, "date": day.date(),
                               "action": "skipped" if done else "would fetch", "rows": None,
                               "complete": True if done else None})
        if dry_run or not todo:
            return _report(report + later)
        from tqdm.auto import tqdm

        rows = 0
        bar = tqdm(total=len(todo), unit="day", desc=f"{venue} fetch", disable=not progress, dynamic_ncols=True)
        try:
            for kind, m, day, _ in todo:
                bar.set_description(f"{venue} {m} {kind} {day:%Y-%m-%d}")
                if self._complete(kind, venue, m, day):  # written meanwhile from a longer piece (a month)
                    report.append({"kind": kind, "venue": venue, "market": m, "date": day.date(),
                                   "action": "fetched", "rows": self.manifest(kind, venue, m, day)["rows"],
                                   "complete": True})
                    bar.update()
                    continue
                hi = min(day + DAY, available)
                try:
                    piece = source.fetch_day(kind, m, day, hi)
                except NotFound as exc:
                    warnings.warn(f"{venue} {m} {kind} {day:%Y-%m-%d}: not published by the venue ({exc}); "
                                  "left out (coverage shows it as a gap)", stacklevel=3)
                    report.append({"kind": kind, "venue": venue, "market": m, "date": day.date(),
                                   "action": "not published", "rows": 0, "complete": False})
                    bar.update()
                    continue
                covers = min(piece.covers or hi, available)
                begins = piece.begins or day
                outside = _outside(piece.table, begins, piece.covers or hi)
                if outside:
                    warnings.warn(f"{piece.source}: {outside} row(s) stamped outside {begins:%Y-%m-%d} .. "
                                  f"{piece.covers or hi} are left out (the next day's fetch brings its own)",
                                  OutsideRowsWarning, stacklevel=3)
                for pday, table in _split_days(piece.table, day, hi, covers):
                    p_hi = hi if pday == day else min(pday + DAY, covers)
                    if pday != day and self._complete(kind, venue, m, pday):
                        continue
                    p_lo = pday
                    if pday == day and "covered_from" in piece.extra:  # a source serving only recent rows
                        p_lo = min(max(pday, pd.Timestamp(piece.extra["covered_from"])), p_hi)
                        table, p_lo = self._merge_recent(kind, venue, m, day, table, p_lo)
                    info = self.write_partition(kind, venue, m, pday, table, covered=(p_lo, p_hi),
                                                source=piece.source,
                                                extra={"resolution": source.resolution_of(kind), **piece.extra})
                    if pday == day:
                        report.append({"kind": kind, "venue": venue, "market": m, "date": day.date(),
                                       "action": "fetched", "rows": info["rows"], "complete": info["complete"]})
                client = source.client
                rows += piece.table.num_rows
                bar.set_postfix(pages=client.requests, rows=f"{rows:,}", MB=f"{client.bytes / 1e6:,.1f}", refresh=False)
                bar.update()
        finally:
            bar.close()
        return _report(report + later)

    def _merge_recent(self, kind, venue, market, day, table: pa.Table, lo: pd.Timestamp):
        """The rows of a source that serves only its latest rows (Hyperliquid's trades) joined
        with the day's stored ones, by id: repeated fetches add up instead of replacing. The
        range covered reaches back to the stored start when the two ranges meet."""
        info = self.manifest(kind, venue, market, day)
        if info is None or "id" not in table.column_names:
            return table, lo
        old = pq.read_table(self.partition_dir(kind, venue, market, day) / DATA)
        if "id" not in old.column_names:
            return table, lo
        new_ids = set(table.column("id").to_pylist())
        keep = pa.array([i not in new_ids for i in old.column("id").to_pylist()])
        both = pa.concat_tables([old.filter(keep).cast(table.schema), table]).unify_dictionaries().combine_chunks()
        order = np.argsort(both.column("ts").cast(pa.int64()).to_numpy(), kind="stable")
        both = both.take(pa.array(order))
        if pd.Timestamp(info["end"]) >= lo:
            lo = min(lo, pd.Timestamp(info["start"]))
        return both, lo

    def _complete(self, kind, venue, market, day) -> bool:
        info = self.manifest(kind, venue, market, day)
        return bool(info and info["complete"])

    # ------------------------------------------------------------------ reading
    def read(self, kind: str, markets=None, start=None, end=None, *, venue: str | None = None,
             columns=None) -> pa.Table:
        """The stored rows of ``kind`` with ``start <= ts < end``, market by market and day by
        day in time order. Only the partitions of the range are opened and the range is pushed
        down into the Parquet scan (row groups outside it are skipped).

        Examples
        --------
        >>> import tempfile, data_loaders as dl
        >>> dl.Store(tempfile.mkdtemp()).read("trades").num_rows
        0
        """
        lo = None if start is None else _utc(start, "start")
        hi = None if end is None else _utc(end, "end")
        wanted = set(_names(markets))
        parts = [m for m in self._manifests() if m["kind"] == kind and (venue is None or m["venue"] == venue)
                 and (not wanted or m["market"] in wanted)]
        parts = [m for m in parts if (lo is None or pd.Timestamp(m["date"], tz="UTC") + DAY > lo)
                 and (hi is None or pd.Timestamp(m["date"], tz="UTC") < hi)]
        _check_one_venue(parts, kind)
        parts.sort(key=lambda m: (m["market"], m["date"]))
        tables = []
        for m in parts:
            day = pd.Timestamp(m["date"], tz="UTC")
            whole = (lo is None or lo <= day) and (hi is None or hi >= day + DAY)
            flt = None if whole else _range_filter(lo, hi)
            tables.append(pq.read_table(m["path"], columns=columns, filters=flt))
        if not tables:
            schema = _schema(kind)
            return schema.empty_table() if columns is None else schema.empty_table().select(columns)
        return pa.concat_tables(tables, promote_options="permissive").unify_dictionaries().combine_chunks()

    def dataset(self, markets=None, start=None, end=None, *, venue: str | None = None, oracle: bool = False,
                partial: str = "warn"):
        """A :class:`~data_loaders.Dataset` of the stored markets over ``[start, end)``.

        Trades come from ``trades``, else ``agg_trades``, else candles (expanded into a
        synthetic path by :func:`~data_loaders.readers.candles.candles_to_trades`, marked in
        ``meta``); funding and the book top from their kinds. The market parameters fetched
        from the venue are in ``Dataset.markets`` (plain dicts; ``backtester.venue_markets``
        turns them into ``bt.Market`` objects).

        Parameters
        ----------
        markets : str or list of str, optional
            Default: every market with trades or candles in the store.
        start, end : str or Timestamp, optional
            UTC bounds (``end`` exclusive); pushed down into the Parquet scan.
        venue : str, optional
            Only this venue's partitions (needed when two venues store a market of one name).
        oracle : bool
            Also give an oracle table from the funding rows' oracle prices (dYdX: hourly).
            Default False: the engine derives the oracle from the trades (SimConfig.oracle_delay).
        partial : {'warn', 'ignore', 'error'}
            What to do when the range includes days stored as not complete.

        Examples
        --------
        >>> ds = Store("data/").dataset("BTC-USD", "2024-08-08", "2024-08-09")  # doctest: +SKIP
        """
        from ..dataset import Dataset
        from ..readers.candles import candles_to_trades

        if partial not in ("warn", "ignore", "error"):
            raise ValueError(f"partial must be 'warn', 'ignore' or 'error', got {partial!r}")
        lo = None if start is None else _utc(start, "start")
        hi = None if end is None else _utc(end, "end")
        names = _names(markets)
        parts = self.partitions()
        if venue is not None:
            parts = parts[parts["venue"] == venue]
        if not names:
            names = sorted(set(parts.loc[parts["kind"].isin(["trades", "agg_trades", CANDLES]), "market"]))
        if not names:
            raise DataError(str(self.path), "the store holds no trades or candles" +
                            (f" of venue {venue!r}" if venue else "") + "; fetch some first (backtester data fetch)")
        meta = {"source": FORMAT, "store": str(self.path), "range": [str(lo), str(hi)], "real": [], "generated": []}
        trades, used = [], {"funding", "book"}
        for m in names:
            found = []  # (kind, rows) with rows, complete kinds first, then in order of fidelity
            for kind in ("trades", "agg_trades", CANDLES):
                # the trade ids stay in the store: a Dataset has no column for them
                t = self.read(kind, m, lo, hi, venue=venue,
                              columns=None if kind == CANDLES else SCHEMAS["trades"].names)
                if t.num_rows:
                    found.append((not self._whole(parts, kind, m, lo, hi), len(found), kind, t))
            kind, t = (min(found, key=lambda f: f[:2])[2:] if found else (None, SCHEMAS["trades"].empty_table()))
            if not t.num_rows:
                raise DataError(str(self.path), f"no trades, agg_trades or candles of market {m!r} in "
                                f"{lo} .. {hi}; " + _holdings(parts, m))
            used.add(kind)
            if kind == CANDLES:
                bar = pd.Timedelta(t.column("bar")[0].value, "ns")
                frame = t.select(["ts", "open", "high", "low", "close", "volume"]).to_pandas()
                t = candles_to_trades(frame, m, bar=bar, label="left", source=f"{self.path} candles {m}")
                meta["generated"].append(f"trades of {m}: a four-point path per {_bar_text(bar)} candle")
            else:
                meta["real"].append(f"{kind} of {m}")
                t = t.select(SCHEMAS["trades"].names).replace_schema_metadata(None)
            trades.append(t)
        funding = self.read("funding", names, lo, hi, venue=venue, columns=SCHEMAS["funding"].names)
        book = self.read("book", names, lo, hi, venue=venue, columns=SCHEMAS["book"].names)
        venues = sorted(set(parts.loc[parts["market"].isin(names), "venue"]))
        latency = [self.read("latency", VENUE_MARKET, lo, hi, venue=v) for v in venues]
        latency = [t for t in latency if t.num_rows]
        tables = {"trades": _concat(trades), "funding": funding, "book": book}
        if latency:
            tables["latency"] = pa.concat_tables(latency).unify_dictionaries().combine_chunks()
            meta["real"].append("latency (block headers)")
            used.add("latency")
        if funding.num_rows:
            meta["real"].append("funding")
        if book.num_rows:
            meta["real"].append("book")
        if oracle and funding.num_rows:
            has = pc.invert(pc.is_null(funding.column("oracle_price")))
            o = funding.filter(has)
            tables["oracle"] = pa.table({"ts": o.column("ts"), "market": o.column("market"),
                                         "price": o.column("oracle_price")})
        parts = parts[parts["kind"].isin(sorted(used))]
        self._check_partial(parts, names + [VENUE_MARKET], lo, hi, partial)
        for kind, t in tables.items():
            tables[kind] = validate(t, kind, source=f"{self.path} ({kind})")
        specs = {}
        for v in sorted(set(parts["venue"])):
            for m, spec in self.markets(v).items():
                if m in names:
                    specs[m] = {"venue": v, **spec}
        meta["partial_days"] = self._partial_days(parts, names + [VENUE_MARKET], lo, hi)
        return Dataset(**tables, markets=specs, meta=meta)

    @staticmethod
    def _whole(parts, kind, market, lo, hi) -> bool:
        """Every stored partition of ``kind`` and ``market`` meeting the range is complete."""
        sel = parts[(parts["kind"] == kind) & (parts["market"] == market)]
        days = pd.to_datetime(sel["date"]).dt.tz_localize("UTC")
        keep = np.ones(len(sel), bool)
        if lo is not None:
            keep &= (days + DAY > lo).to_numpy()
        if hi is not None:
            keep &= (days < hi).to_numpy()
        return bool(sel["complete"].astype(bool)[keep].all())

    @staticmethod
    def _partial_days(parts, names, lo, hi) -> list[str]:
        if parts.empty:
            return []
        days = pd.to_datetime(parts["date"]).dt.tz_localize("UTC")
        sel = parts["market"].isin(names) & ~parts["complete"].astype(bool)
        if lo is not None:
            sel &= days + DAY > lo
        if hi is not None:
            sel &= days < hi
        return sorted({f"{k} {m} {d}" for k, m, d in parts.loc[sel, ["kind", "market", "date"]].itertuples(index=False)})

    def _check_partial(self, parts, names, lo, hi, partial) -> None:
        found = self._partial_days(parts, names, lo, hi)
        if not found or partial == "ignore":
            return
        text = (f"{self.path}: {len(found)} partition(s) in the range are not complete days (fetched while the "
                f"day was in progress, or the venue serves only part of it): {', '.join(found[:5])}"
                + (" ..." if len(found) > 5 else ""))
        if partial == "error":
            raise DataError(str(self.path), text)
        warnings.warn(text, PartialDayWarning, stacklevel=3)

    def verify(self) -> list[str]:
        """Partitions whose ``data.parquet`` no longer matches its manifest's SHA-256 (empty:
        all match). They are fetched again by the next fetch only after you delete them.

        Examples
        --------
        >>> import tempfile, data_loaders as dl
        >>> dl.Store(tempfile.mkdtemp()).verify()
        []
        """
        return [m["path"] for m in self._manifests() if _sha256(Path(m["path"])) != m["sha256"]]


def _check_one_venue(parts: list[dict], kind: str) -> None:
    seen = {}
    for m in parts:
        other = seen.setdefault(m["market"], m["venue"])
        if other != m["venue"]:
            raise ValueError(f"market {m['market']!r} has {kind} from venues {other!r} and {m['venue']!r}; "
                             "pass venue=")


def _range_filter(lo, hi):
    import pyarrow.dataset as pds

    flt = None
    if lo is not None:
        flt = pds.field("ts") >= pa.scalar(lo.value, TS)
    if hi is not None:
        cond = pds.field("ts") < pa.scalar(hi.value, TS)
        flt = cond if flt is None else flt & cond
    return flt


def _schema(kind: str) -> pa.Schema:
    if kind == CANDLES:
        return CANDLE_SCHEMA
    base = SCHEMAS["trades" if kind == "agg_trades" else kind]
    return base.append(pa.field("id", pa.string())) if kind in ("trades", "agg_trades") else base


def _concat(tables: list[pa.Table]) -> pa.Table:
    if not tables:
        return SCHEMAS["trades"].empty_table()
    out = pa.concat_tables([t.cast(SCHEMAS["trades"]) for t in tables])
    return out.unify_dictionaries().combine_chunks()


def _split_days(table: pa.Table, day: pd.Timestamp, hi: pd.Timestamp, covers: pd.Timestamp):
    """``(day, rows)`` of the day fetched (rows in ``[day, hi)``), then of each later day a
    piece covers (a Binance month brings the days after the one asked for)."""
    ts = table.column("ts").cast(pa.int64()).to_numpy() if table.num_rows else np.zeros(0, np.int64)
    yield day, table.filter(pa.array((ts >= day.value) & (ts < hi.value))) if table.num_rows else table
    d = day + DAY
    while d < covers:
        mask = (ts >= d.value) & (ts < min(d + DAY, covers).value)
        yield d, table.filter(pa.array(mask)) if table.num_rows else table
        d += DAY


def _outside(table: pa.Table, lo: pd.Timestamp, hi: pd.Timestamp) -> int:
    if not table.num_rows:
        return 0
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    return int(((ts < lo.value) | (ts >= hi.value)).sum())


def _holdings(parts: pd.DataFrame, market: str) -> str:
    """What the store has of ``market`` (its trade-like kinds and their days), or its markets."""
    have = sorted(set(parts["market"]))
    mine = parts[(parts["market"] == market) & parts["kind"].isin(["trades", "agg_trades", CANDLES])]
    if len(mine):
        spans = [f"{kind} {g['date'].min()} .. {g['date'].max()}" for kind, g in mine.groupby("kind", sort=True)]
        return f"the store has {market} {', '.join(spans)} (days, inclusive)"
    close = difflib.get_close_matches(market, have, n=CLOSE_MATCHES, cutoff=0.5)
    return f"the store has markets {have}" + (f" (close matches: {', '.join(close)})" if close else "")


def _bar_text(bar: pd.Timedelta) -> str:
    """``1min``, ``4h``, ``1D``: a bar length as the resolutions write it."""
    for unit, text in (("1D", "D"), ("1h", "h"), ("1min", "min"), ("1s", "s")):
        if bar >= pd.Timedelta(unit) and bar % pd.Timedelta(unit) == pd.Timedelta(0):
            return f"{bar // pd.Timedelta(unit)}{text}"
    return str(bar)


def _report(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["kind", "venue", "market", "date", "action", "rows", "complete"])


#: stored candles: the bar start ``ts``, OHLCV in base units, and the bar length
CANDLE_SCHEMA = pa.schema([
    pa.field("ts", TS, nullable=False), pa.field("market", DICT_STRING, nullable=False),
    *(pa.field(k, pa.float64(), nullable=False) for k in ("open", "high", "low", "close", "volume")),
    pa.field("bar", pa.duration("ns"), nullable=False),
])

__all__ = ["Store", "STORE_KINDS", "PartialDayWarning", "OutsideRowsWarning", "CANDLE_SCHEMA"]
