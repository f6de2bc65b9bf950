"""Binance public data dumps (USD-M futures): daily ``trades``, ``aggTrades``, ``bookTicker``
and monthly ``fundingRate`` ZIP files, each verified against its ``.CHECKSUM`` (SHA-256).

Files live at ``{base}/data/futures/um/{daily|monthly}/{type}/{SYMBOL}/{SYMBOL}-{type}-{date}.zip``
next to ``... .zip.CHECKSUM`` (``<sha256 hex>  <file name>``). A download whose SHA-256 does
not match is fetched once more, then reported as a :class:`~data_loaders.DataError` naming
the URL and both digests. The symbols and the first day of each dump come from the bucket's
S3 listing (``listing_url``; with a ``base_url`` of your own, that address answers both).

Conversion: ``trades`` and ``bookTicker`` by :mod:`data_loaders.readers.binance`;
``aggTrades`` (``agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,
is_buyer_maker``) into trades, one row per aggregate trade; ``fundingRate``
(``calc_time,funding_interval_hours,last_funding_rate``) into funding with the file's interval
(8 h for most symbols) and no oracle price. A monthly file fills every day of its month.

Examples
--------
>>> from data_loaders.fetch.binance import dump_path
>>> dump_path("trades", "BTCUSDT", "2024-08-08")
'/data/futures/um/daily/trades/BTCUSDT/BTCUSDT-trades-2024-08-08.zip'
"""
from __future__ import annotations

import hashlib
import io
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..readers import binance as rb
from ..readers._common import Origin, conform_at, parse_bool, parse_epoch, parse_float, parse_int
from ..validate import DataError
from ._http import Client, NotFound, expect
from .sources import Piece, Source

LISTING_URL = "https://s3-ap-northeast-1.amazonaws.com/data.binance.vision"
#: store kind -> (Binance's name, daily or monthly files)
DUMPS = {"trades": ("trades", "daily"), "agg_trades": ("aggTrades", "daily"), "book": ("bookTicker", "daily"),
         "funding": ("fundingRate", "monthly")}
AGG_COLUMNS = ("agg_trade_id", "price", "quantity", "first_trade_id", "last_trade_id", "transact_time",
               "is_buyer_maker")
FUNDING_COLUMNS = ("calc_time", "funding_interval_hours", "last_funding_rate")
NS_PER_HOUR = 3_600_000_000_000
#: downloads of one file before a checksum mismatch is reported
CHECKSUM_ATTEMPTS = 2
_S3 = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def dump_path(kind: str, symbol: str, date: str, frequency: str = "daily") -> str:
    """The path of a dump file under the base URL."""
    return f"/data/futures/um/{frequency}/{kind}/{symbol}/{symbol}-{kind}-{date}.zip"


class BinanceSource(Source):
    """Binance USD-M futures public data (see the module docstring).

    Parameters
    ----------
    base_url : str, optional
        Default ``https://data.binance.vision``.
    policy : Policy, optional
        Default: 5 requests a second.
    listing_url : str, optional
        The S3 listing of the bucket; default the public one, or ``base_url`` when that is given.
    """

    VENUE = "binance"
    BASE_URL = "https://data.binance.vision"
    RATE = 5.0
    KINDS = {"trades": "trades", "aggTrades": "agg_trades", "agg_trades": "agg_trades", "bookTicker": "book",
             "book": "book", "fundingRate": "funding", "funding": "funding"}

    def __init__(self, base_url=None, policy=None, *, listing_url: str | None = None):
        super().__init__(base_url, policy)
        self.listing = Client(listing_url or base_url or LISTING_URL, self.client.policy)
        self._dates = {}
        self._month = {}

    @property
    def markets_source(self) -> str:
        return self.listing.url("/", {"prefix": "data/futures/um/daily/trades/", "delimiter": "/"})

    def _list(self, prefix: str, delimiter: bool) -> list[str]:
        """Keys (or, with the delimiter, sub-folders) under ``prefix``, every page."""
        out, marker = [], None
        while True:
            params = {"prefix": prefix, "delimiter": "/" if delimiter else None, "marker": marker}
            url = self.listing.url("/", params)
            try:
                root = ET.fromstring(self.listing.get("/", params))
            except ET.ParseError as exc:
                raise DataError(url, f"expected an S3 ListBucketResult XML document ({exc})") from None
            expect(root.tag.endswith("ListBucketResult"), url, "an S3 ListBucketResult", root.tag)
            tag = f"{_S3}CommonPrefixes/{_S3}Prefix" if delimiter else f"{_S3}Contents/{_S3}Key"
            page = [e.text for e in root.findall(tag)]
            out.extend(page)
            if (root.findtext(f"{_S3}IsTruncated") or "false") != "true" or not page:
                return out
            marker = page[-1]

    def markets(self) -> dict:
        if self._markets is None:
            prefix = "data/futures/um/daily/trades/"
            self._markets = {p[len(prefix):].strip("/"): {"source": "Binance public data (USD-M futures)"}
                             for p in self._list(prefix, delimiter=True)}
        return self._markets

    def dates(self, market: str, kind: str) -> list[pd.Timestamp]:
        """The days (monthly dumps: month starts) the listing has files of."""
        if (market, kind) not in self._dates:
            name, freq = DUMPS[kind]
            keys = self._list(f"data/futures/um/{freq}/{name}/{market}/", delimiter=False)
            stamps = []
            for k in keys:
                if k.endswith(".zip"):
                    text = k[:-4].rsplit(f"-{name}-", 1)[-1]
                    try:
                        stamps.append(pd.Timestamp(text + ("-01" if freq == "monthly" else ""), tz="UTC"))
                    except ValueError:
                        continue  # a file of another layout: not ours to judge
            self._dates[(market, kind)] = sorted(stamps)
        return self._dates[(market, kind)]

    def first_day(self, market, kind):
        dates = self.dates(market, kind)
        return dates[0] if dates else None

    def download(self, path: str) -> tuple[bytes, str]:
        """The bytes of a dump and its SHA-256, checked against its ``.CHECKSUM``."""
        url = self.client.url(path)
        for attempt in range(CHECKSUM_ATTEMPTS):
            data = self.client.get(path)
            text = self.client.get(path + ".CHECKSUM").decode("ascii", "replace").split()
            expect(bool(text) and len(text[0]) == 64, url + ".CHECKSUM", "'<sha256 hex>  <file name>'", " ".join(text))
            got = hashlib.sha256(data).hexdigest()
            if got == text[0].lower():
                return data, got
        raise DataError(url, f"SHA-256 mismatch after {CHECKSUM_ATTEMPTS} downloads (corrupted download or "
                        "wrong .CHECKSUM)", value=got, expected=f"{text[0]} (from {url}.CHECKSUM)")

    def fetch_day(self, kind, market, day, hi) -> Piece:
        name, freq = DUMPS[kind]
        if freq == "monthly":
            return self._monthly(kind, market, day)
        path = dump_path(name, market, f"{day:%Y-%m-%d}")
        table, digest = self._convert(kind, market, path)
        return Piece(table, self.client.url(path), extra={"sha256_zip": digest})

    def _monthly(self, kind, market, day) -> Piece:
        name, _ = DUMPS[kind]
        month = day.floor("D") - pd.Timedelta(days=day.day - 1)
        key = (kind, market, month)
        if key not in self._month:
            path = dump_path(name, market, f"{month:%Y-%m}", "monthly")
            table, digest = self._convert(kind, market, path)
            self._month = {key: (table, self.client.url(path), digest)}  # one month kept at a time
        table, url, digest = self._month[key]
        end = month + pd.offsets.MonthBegin(1)
        return Piece(table, url, covers=end, begins=month, extra={"sha256_zip": digest})

    def _convert(self, kind: str, market: str, path: str) -> tuple[pa.Table, str]:
        data, digest = self.download(path)
        url = self.client.url(path)
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                members = [m for m in zf.namelist() if m.endswith(".csv")]
                expect(len(members) == 1, url, "a ZIP holding one CSV file", zf.namelist())
                with tempfile.TemporaryDirectory() as tmp:
                    csv = Path(zf.extract(members[0], tmp))
                    return _READERS[kind](csv, market), digest
        except zipfile.BadZipFile as exc:
            raise DataError(url, f"not a readable ZIP file ({exc})") from None


def _trades(csv: Path, market: str) -> pa.Table:
    table = rb.read_binance_trades(csv, market=market)
    raw, origin = rb._read(csv, rb.TRADES_COLUMNS)
    ids = parse_int(raw.column("id"), "id", origin).cast(pa.string())
    return table.append_column("id", ids).replace_schema_metadata(None)


def _book(csv: Path, market: str) -> pa.Table:
    return rb.read_binance_book_ticker(csv, market=market).replace_schema_metadata(None)


def _agg_trades(csv: Path, market: str) -> pa.Table:
    raw, origin = rb._read(csv, AGG_COLUMNS)
    maker_bought = parse_bool(raw.column("is_buyer_maker"), "is_buyer_maker", origin)
    ts, unit = rb._epoch(raw, "transact_time", origin, "auto")
    columns = {"ts": ts, "market": rb._market_column(market, raw.num_rows),
               "price": parse_float(raw.column("price"), "price", origin),
               "size": parse_float(raw.column("quantity"), "quantity", origin),
               "side": pc.if_else(maker_bought, pa.scalar(-1, pa.int8()), pa.scalar(1, pa.int8()))}
    table = rb._finish(columns, raw, "trades", "agg_trade_id", origin, False, False, unit)
    ids = parse_int(raw.column("agg_trade_id"), "agg_trade_id", origin).cast(pa.string())
    return table.append_column("id", ids).replace_schema_metadata(None)


def _funding(csv: Path, market: str) -> pa.Table:
    raw, origin = rb._read(csv, FUNDING_COLUMNS)
    ts, _ = parse_epoch(raw.column("calc_time"), "calc_time", origin, "auto", units=rb.TIME_UNITS,
                        param="time_unit")
    hours = parse_float(raw.column("funding_interval_hours"), "funding_interval_hours", origin).to_numpy()
    n = raw.num_rows
    table = pa.table({
        "ts": ts, "market": rb._market_column(market, n),
        "rate": parse_float(raw.column("last_funding_rate"), "last_funding_rate", origin),
        "interval": pa.array(np.round(hours * NS_PER_HOUR).astype(np.int64)).cast(pa.duration("ns")),
        "oracle_price": pa.nulls(n, pa.float64()),
    })
    return conform_at(table, "funding", Origin(str(csv), line_offset=origin.line_offset)).replace_schema_metadata(None)


_READERS = {"trades": _trades, "agg_trades": _agg_trades, "book": _book, "funding": _funding}

__all__ = ["BinanceSource", "dump_path", "NotFound"]
SOURCE = BinanceSource
