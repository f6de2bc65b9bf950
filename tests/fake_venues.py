"""Local fake venues for the fetch tests: the dYdX v4 indexer, Hyperliquid's info API and the
Binance public-data dumps, served by the standard library's ``http.server`` on 127.0.0.1.

The rows are real values: the shipped Binance BTCUSDT trades and book top of 2024-08-08
(``data_loaders/data``) and the shipped real funding rates (dYdX v3 hourly, Binance 8-hourly
in ``tests/data/funding``). For dYdX and Hyperliquid the six real minutes of trades are
re-dated and stretched over each served day (prices, sizes and sides unchanged; one block a
second), and the real hourly rates are re-dated onto those days. When the project's shared
data folder (``../shared/data``) is there, the real dYdX v4 responses in it are served too
(their markets, and their trades, funding and candles of 2025-12-08).

Responses have the venues' formats and paging: dYdX newest first with ``limit`` and
``createdBeforeOrAt`` / ``createdBeforeOrAtHeight`` / ``effectiveBeforeOrAt`` / ``fromISO`` /
``toISO``; Hyperliquid ascending, at most 500 funding rows and 5000 candles an answer;
Binance ZIP files with ``.CHECKSUM`` files and an S3-style XML listing.

A CometBFT RPC (``/status``, ``/block``, ``/blockchain``) serves dYdX v4-like block headers:
one block about every second and a two-hour halt on the third day.

Faults on demand (:meth:`FakeVenues.inject`): ``429`` (with ``Retry-After``), ``500``,
``reset`` (the connection is aborted), ``truncate`` (half the body, then the connection
closes), ``slow`` (the answer waits ``delay`` seconds), ``shape`` (a JSON body of the wrong
shape), ``corrupt`` (a ZIP whose bytes no longer match its checksum), ``checksum`` (a wrong
``.CHECKSUM``).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import socket
import struct
import threading
import time
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DATA = ROOT / "data_loaders" / "data"
#: the project's shared data folder (``BACKTESTER_SHARED_DATA`` elsewhere, e.g. a missing
#: folder to check that the tests that need it skip)
SHARED = Path(os.environ.get("BACKTESTER_SHARED_DATA", ROOT.parent / "shared" / "data"))
DYDX_SAMPLES = SHARED / "dydx_v4_indexer_samples"
#: the real tape's day (Binance serves it as it is)
TAPE_DAY = pd.Timestamp("2024-08-08", tz="UTC")
#: days the dYdX and Hyperliquid fakes serve (the tape stretched over each)
DAYS = tuple(pd.date_range("2024-08-05", periods=4, freq="D", tz="UTC"))
#: first served block height (one block a second from the first day)
FIRST_HEIGHT = 20_000_000
NS = 1_000_000_000
DYDX_MAX_LIMIT = 1000
HL_FUNDING_MAX, HL_CANDLES_MAX, HL_RECENT = 500, 5000, 10
S3_PAGE = 1000
#: hours of the served chain halt; headers a /blockchain answer holds at most
CHAIN_HALT, CHAIN_PAGE = 2, 20


def _iso(ns: int) -> str:
    t = pd.Timestamp(int(ns), tz="UTC")
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _isos(ns: np.ndarray) -> list[str]:
    """ISO texts with milliseconds and Z of nanosecond epochs."""
    return [t + "Z" for t in np.datetime_as_string(np.asarray(ns, "datetime64[ns]"), unit="ms").tolist()]


def _times(rows: list, field: str) -> np.ndarray:
    return np.asarray(pd.to_datetime([r[field] for r in rows], utc=True, format="ISO8601").as_unit("ns").asi8)


def _real_tape() -> pd.DataFrame:
    """The shipped BTCUSDT trades with price and size as their original text."""
    return pd.read_csv(PACKAGE_DATA / "BTCUSDT-trades-2024-08-08-2354.csv.gz", dtype={"price": str, "qty": str})


def _stretched(tape: pd.DataFrame, day: pd.Timestamp) -> np.ndarray:
    """The tape's times (ms) spread over ``day`` (millisecond precision, order kept)."""
    t = tape["time"].to_numpy(np.int64)
    span = t[-1] - t[0]
    return (day.value // 1_000_000 + (t - t[0]) * (86_399_000 // span)).astype(np.int64)


def _real_rates(name: str, folder: Path = PACKAGE_DATA) -> list[str]:
    with gzip.open(folder / name, "rt") as fh:
        return [line.rsplit(",", 1)[1].strip() for line in fh.readlines()[1:]]


@dataclass
class Fault:
    kind: str
    match: str = ""
    times: int = 1
    delay: float = 0.0
    retry_after: int = 1


class FakeVenues:
    """The three fake venues on one server. ``url`` is its base URL.

    Attributes
    ----------
    dydx_trades : dict
        market -> list of trade objects as the indexer writes them, oldest first.
    log : list
        ``(method, path and query, body)`` of every request, in order.
    """

    def __init__(self, days=DAYS, shared: bool | None = None):
        self.days = tuple(days)
        self.shared = DYDX_SAMPLES.is_dir() if shared is None else shared
        self.faults: list[Fault] = []
        self.log: list = []
        self.lock = threading.Lock()
        self._build_dydx()
        self._build_hyperliquid()
        self._build_binance()
        self._build_chain()
        self.server = None

    # ------------------------------------------------------------------ data
    def _build_dydx(self):
        tape = _real_tape()
        rates = _real_rates("BTC-USDT_dydx_2022-01-01_2024-01-01_funding_history.csv.gz")
        trades, funding = [], []
        first_sec = self.days[0].value // NS
        sides = np.where(tape["is_buyer_maker"].to_numpy(), "SELL", "BUY")
        sizes, prices_text = tape["qty"].tolist(), tape["price"].tolist()
        prices = tape["price"].astype(float).to_numpy()
        for k, day in enumerate(self.days):
            ms = _stretched(tape, day)
            heights = FIRST_HEIGHT + ms // 1000 - first_sec
            stamps = _isos(ms * 1_000_000)
            trades.extend({"id": f"{h:08x}{i:016x}", "side": side, "size": size, "price": price, "type": "LIMIT",
                           "createdAt": at, "createdAtHeight": str(h)}
                          for i, (h, side, size, price, at) in enumerate(zip(heights.tolist(), sides, sizes,
                                                                              prices_text, stamps)))
            for hour in range(24):
                at = day.value + hour * 3600 * NS + 219_000_000  # the indexer stamps a few ms after the hour
                j = max(int(np.searchsorted(ms * 1_000_000, at)) - 1, 0)
                funding.append({"ticker": "BTC-USD", "rate": rates[k * 24 + hour], "price": f"{prices[j]:.1f}",
                                "effectiveAtHeight": str(FIRST_HEIGHT + at // NS - first_sec),
                                "effectiveAt": _iso(at)})
        self.dydx_trades = {"BTC-USD": trades}
        self.dydx_funding = {"BTC-USD": funding}
        self.dydx_markets = {t: {"clobPairId": str(i), "ticker": t, "status": "ACTIVE", "oraclePrice": "1",
                                 "initialMarginFraction": imf, "maintenanceMarginFraction": mmf, "tickSize": tick,
                                 "stepSize": step, "atomicResolution": -9, "marketType": "CROSS"}
                             for i, (t, imf, mmf, tick, step) in enumerate([
                                 ("BTC-USD", "0.02", "0.012", "1", "0.0001"), ("ETH-USD", "0.02", "0.012", "0.1", "0.001"),
                                 ("SOL-USD", "0.05", "0.03", "0.01", "0.1"), ("BTC-PERP-X", "0.2", "0.1", "1", "1")])}
        if self.shared:
            self._add_shared_samples()
        self.dydx_candles = {m: self._candles(rows, "1MIN") for m, rows in self.dydx_trades.items()}
        self.dydx_daily = {m: self._candles(rows, "1DAY") for m, rows in self.dydx_trades.items()}
        self.index()

    def index(self):
        """Time and height arrays of the served dYdX rows (call after changing them)."""
        self._trade_t = {m: _times(r, "createdAt") for m, r in self.dydx_trades.items()}
        self._trade_h = {m: np.array([int(x["createdAtHeight"]) for x in r], np.int64) for m, r in self.dydx_trades.items()}
        self._funding_t = {m: _times(r, "effectiveAt") for m, r in self.dydx_funding.items()}
        self._candle_t = {(res, m): _times(r, "startedAt") for res, table in
                          (("1MIN", self.dydx_candles), ("1DAY", self.dydx_daily)) for m, r in table.items()}

    def _add_shared_samples(self):
        """The real dYdX v4 responses of the shared folder: markets, and rows of 2025-12-08."""
        def result(name):
            return json.loads((DYDX_SAMPLES / name).read_text())["result"]
        self.dydx_markets = result("http_get_perpetual_markets.json")["markets"]
        real = sorted(result("http_get_trades.json")["trades"], key=lambda r: (int(r["createdAtHeight"]), r["id"]))
        self.dydx_trades["BTC-USD"] = self.dydx_trades["BTC-USD"] + real
        self.dydx_funding["BTC-USD"] = self.dydx_funding["BTC-USD"] + sorted(
            result("http_get_historical_funding.json")["historicalFunding"], key=lambda r: r["effectiveAt"])
        self.real_samples = {"trades": real}

    @staticmethod
    def _candles(trades: list, resolution: str) -> list:
        freq = {"1MIN": "1min", "1DAY": "1D"}[resolution]
        df = pd.DataFrame({"ts": pd.to_datetime([r["createdAt"] for r in trades], utc=True, format="ISO8601"),
                           "price": [float(r["price"]) for r in trades], "size": [float(r["size"]) for r in trades]})
        df["usd"] = df["price"] * df["size"]
        g = df.groupby(df["ts"].dt.floor(freq))
        bars = g.agg(low=("price", "min"), high=("price", "max"), open=("price", "first"), close=("price", "last"),
                     volume=("size", "sum"), usd=("usd", "sum"), n=("price", "size"))
        starts = _isos(bars.index.as_unit("ns").asi8)
        return [{"startedAt": at, "ticker": "BTC-USD", "resolution": resolution, "low": _num(lo), "high": _num(hi),
                 "open": _num(o), "close": _num(c), "baseTokenVolume": _num(round(v, 6)), "usdVolume": _num(round(u, 4)),
                 "trades": int(n)}
                for at, lo, hi, o, c, v, u, n in zip(starts, bars["low"], bars["high"], bars["open"], bars["close"],
                                                     bars["volume"], bars["usd"], bars["n"])]

    def _build_hyperliquid(self):
        rates = _real_rates("ETH-USDT_dydx_2022-01-01_2024-01-01_funding_history.csv.gz")
        self.hl_funding = {"BTC": [{"coin": "BTC", "fundingRate": rates[i], "premium": "0.0",
                                    "time": int(day.value // 1_000_000 + h * 3_600_000 + 37)}
                                   for i, (day, h) in enumerate((d, h) for d in self.days for h in range(24))]}
        candles = self.dydx_candles["BTC-USD"]
        starts = (_times(candles, "startedAt") // 1_000_000).tolist()
        end = (self.days[-1] + pd.Timedelta("1D")).value // 1_000_000
        self.hl_candles = {"BTC": [{"t": t, "T": t + 59_999, "s": "BTC", "i": "1m", "o": c["open"], "c": c["close"],
                                    "h": c["high"], "l": c["low"], "v": c["baseTokenVolume"], "n": c["trades"]}
                                   for t, c in zip(starts, candles) if t < end]}
        until = _iso((self.days[-1] + pd.Timedelta("1D")).value)
        last = [r for r in self.dydx_trades["BTC-USD"] if r["createdAt"] < until]
        self.hl_trades = {"BTC": [{"coin": "BTC", "side": "B" if r["side"] == "BUY" else "A", "px": r["price"],
                                   "sz": r["size"], "time": int(pd.Timestamp(r["createdAt"]).value // 1_000_000),
                                   "hash": "0x" + "0" * 64, "tid": int(r["id"][-12:], 16) + 1}
                                  for r in last[-HL_RECENT:]]}
        self.hl_meta = {"universe": [{"name": "BTC", "szDecimals": 5, "maxLeverage": 40},
                                     {"name": "ETH", "szDecimals": 4, "maxLeverage": 25},
                                     {"name": "SOL", "szDecimals": 2, "maxLeverage": 20}]}

    def _build_binance(self):
        self.files: dict[str, bytes] = {}
        raw = gzip.decompress((PACKAGE_DATA / "BTCUSDT-trades-2024-08-08-2354.csv.gz").read_bytes())
        self.add_binance_file("trades", "BTCUSDT", "2024-08-08", raw)
        book = gzip.decompress((PACKAGE_DATA / "BTCUSDT-bookTicker-2024-08-08-2354.csv.gz").read_bytes())
        self.add_binance_file("bookTicker", "BTCUSDT", "2024-08-08", book)
        tape = pd.read_csv(io.BytesIO(raw))
        key = (tape["price"].astype(str) + tape["is_buyer_maker"].astype(str) + tape["time"].astype(str))
        groups = (key != key.shift()).cumsum()
        agg = tape.groupby(groups).agg(price=("price", "first"), quantity=("qty", "sum"), first_trade_id=("id", "first"),
                                       last_trade_id=("id", "last"), transact_time=("time", "first"),
                                       is_buyer_maker=("is_buyer_maker", "first"))
        agg.insert(0, "agg_trade_id", np.arange(len(agg)) + 2_300_000_000)
        agg["quantity"] = agg["quantity"].round(3)
        agg["is_buyer_maker"] = agg["is_buyer_maker"].map({True: "true", False: "false"})
        self.add_binance_file("aggTrades", "BTCUSDT", "2024-08-08", agg.to_csv(index=False).encode())
        rates = _real_rates("BTC-USDT_binance_2020-01-01_2024-01-01_funding_history.csv.gz", ROOT / "tests/data/funding")
        start = pd.Timestamp("2024-08-01", tz="UTC").value // 1_000_000
        lines = ["calc_time,funding_interval_hours,last_funding_rate"] + [
            f"{start + i * 8 * 3_600_000 + 5},8,{rates[i]}" for i in range(31 * 3)]
        self.add_binance_file("fundingRate", "BTCUSDT", "2024-08", ("\n".join(lines) + "\n").encode(), monthly=True)

    def _build_chain(self):
        """dYdX v4 block headers: a block about every second (the chain's pace, jittered by up to
        300 ms), and one halt of ``CHAIN_HALT`` hours from 14:00 on the third day."""
        n = len(self.days) * 86_400
        jitter = np.random.default_rng(7).integers(0, 300_000_000, n)
        jitter[0] = 0  # the node serves from the first day's first instant
        times = self.days[0].value + np.arange(n, dtype=np.int64) * NS + jitter
        halt_from = int(np.searchsorted(times, (self.days[2] + pd.Timedelta("14h")).value))
        times[halt_from:] += int(CHAIN_HALT * 3600 * NS)
        self.chain_times = times
        self.chain_halt = (FIRST_HEIGHT + halt_from - 1, FIRST_HEIGHT + halt_from)  # last before, first after

    def chain_time(self, height: int) -> str:
        t = pd.Timestamp(int(self.chain_times[height - FIRST_HEIGHT]), tz="UTC")
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.value % NS:09d}Z"

    def _chain(self, path, q):
        first, last = FIRST_HEIGHT, FIRST_HEIGHT + len(self.chain_times) - 1
        if path == "/status":
            result = {"sync_info": {"earliest_block_height": str(first), "earliest_block_time": self.chain_time(first),
                                    "latest_block_height": str(last), "latest_block_time": self.chain_time(last)}}
        elif path == "/block":
            h = int(q["height"])
            if not first <= h <= last:
                return _json({"jsonrpc": "2.0", "id": -1, "error": {"code": -32603, "message": "height not available"}})
            result = {"block": {"header": {"chain_id": "dydx-mainnet-1", "height": str(h), "time": self.chain_time(h)}}}
        else:
            hi = min(int(q.get("maxHeight", last)), last)
            lo = max(int(q.get("minHeight", first)), first, hi - CHAIN_PAGE + 1)
            result = {"last_height": str(last), "block_metas": [
                {"header": {"height": str(h), "time": self.chain_time(h)}, "num_txs": "3"} for h in range(hi, lo - 1, -1)]}
        return _json({"jsonrpc": "2.0", "id": -1, "result": result})

    def add_binance_file(self, kind: str, symbol: str, date: str, csv: bytes, monthly: bool = False):
        """Serve ``csv`` as the dump ``SYMBOL-kind-date.zip`` with its ``.CHECKSUM``."""
        name = f"{symbol}-{kind}-{date}"
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"{name}.csv", csv)
        path = f"data/futures/um/{'monthly' if monthly else 'daily'}/{kind}/{symbol}/{name}.zip"
        self.files[path] = buf.getvalue()
        self.files[path + ".CHECKSUM"] = f"{hashlib.sha256(buf.getvalue()).hexdigest()}  {name}.zip\n".encode()

    # ------------------------------------------------------------------ server
    def start(self) -> "FakeVenues":
        owner = self

        class Handler(_Handler):
            venues = owner

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def inject(self, kind: str, match: str = "", times: int = 1, **kw) -> Fault:
        """Answer the next ``times`` requests whose path, query or body contains ``match``
        with fault ``kind`` (see the module docstring); ``times=-1``: every one."""
        fault = Fault(kind, match, times, **kw)
        with self.lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, text: str) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.match in text and f.times != 0:
                    f.times -= 1
                    return f
        return None

    # ------------------------------------------------------------------ answers
    def answer_get(self, path: str, query: dict):
        """(status, body bytes, content type) of a GET."""
        q = {k: v[0] for k, v in query.items()}
        if path.startswith("/v4/"):
            return self._dydx(path, q)
        if path in ("/status", "/block", "/blockchain"):
            return self._chain(path, q)
        if path == "/" and "prefix" in q:
            return self._listing(q)
        key = path.lstrip("/")
        if key in self.files:
            return 200, self.files[key], "application/zip"
        return 404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml"

    def _dydx(self, path, q):
        limit = int(q.get("limit", 100))
        if limit > DYDX_MAX_LIMIT:
            return 400, json.dumps({"errors": [{"msg": f"limit must be <= {DYDX_MAX_LIMIT}"}]}).encode(), "application/json"
        parts = path.split("/")
        if path == "/v4/perpetualMarkets":
            return _json({"markets": self.dydx_markets})
        market = parts[-1]
        if path.startswith("/v4/trades/perpetualMarket/"):
            rows = self.dydx_trades.get(market, [])
            n = len(rows)
            if rows and "createdBeforeOrAt" in q:
                n = min(n, int(np.searchsorted(self._trade_t[market], _ns(q["createdBeforeOrAt"]), "right")))
            if rows and "createdBeforeOrAtHeight" in q:
                n = min(n, int(np.searchsorted(self._trade_h[market], int(q["createdBeforeOrAtHeight"]), "right")))
            return _json({"trades": rows[max(n - limit, 0):n][::-1]})
        if path.startswith("/v4/historicalFunding/"):
            rows = self.dydx_funding.get(market, [])
            n = len(rows)
            if rows and "effectiveBeforeOrAt" in q:
                n = int(np.searchsorted(self._funding_t[market], _ns(q["effectiveBeforeOrAt"]), "right"))
            return _json({"historicalFunding": rows[max(n - limit, 0):n][::-1]})
        if path.startswith("/v4/candles/perpetualMarkets/"):
            res = q.get("resolution")
            table = {"1MIN": self.dydx_candles, "1DAY": self.dydx_daily}.get(res)
            if table is None:
                return 400, b'{"errors": [{"msg": "resolution"}]}', "application/json"
            rows = table.get(market, [])
            lo, n = 0, len(rows)
            if rows and "fromISO" in q:
                lo = int(np.searchsorted(self._candle_t[(res, market)], _ns(q["fromISO"]), "left"))
            if rows and "toISO" in q:
                n = int(np.searchsorted(self._candle_t[(res, market)], _ns(q["toISO"]), "right"))
            return _json({"candles": rows[max(n - limit, lo):n][::-1]})
        return 404, b'{"errors": [{"msg": "not found"}]}', "application/json"

    def answer_info(self, body: dict):
        kind = body.get("type")
        if kind == "meta":
            return _json(self.hl_meta)
        if kind == "fundingHistory":
            lo, hi = body["startTime"], body.get("endTime", 2**62)
            rows = [r for r in self.hl_funding.get(body["coin"], []) if lo <= r["time"] <= hi]
            return _json(rows[:HL_FUNDING_MAX])
        if kind == "candleSnapshot":
            req = body["req"]
            rows = [r for r in self.hl_candles.get(req["coin"], []) if req["startTime"] <= r["t"] <= req["endTime"]]
            return _json(rows[-HL_CANDLES_MAX:])
        if kind == "recentTrades":
            return _json(self.hl_trades.get(body["coin"], []))
        return 422, b"Failed to deserialize the JSON body", "text/plain"

    def _listing(self, q):
        """An S3 ListObjects answer: CommonPrefixes with a delimiter, else Keys, paged."""
        prefix, marker = q["prefix"], q.get("marker", "")
        keys = sorted(k for k in self.files if k.startswith(prefix))
        if "delimiter" in q:
            keys = sorted({prefix + k[len(prefix):].split("/", 1)[0] + "/" for k in keys})
        keys = [k for k in keys if k > marker]
        page, more = keys[:S3_PAGE], len(keys) > S3_PAGE
        tag = "CommonPrefixes><Prefix" if "delimiter" in q else "Contents><Key"
        close = "Prefix></CommonPrefixes" if "delimiter" in q else "Key></Contents"
        items = "".join(f"<{tag}>{escape(k)}</{close}>" for k in page)
        xml = (f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
               f"<Prefix>{escape(prefix)}</Prefix><IsTruncated>{'true' if more else 'false'}</IsTruncated>"
               f"{items}</ListBucketResult>")
        return 200, xml.encode(), "application/xml"


def _ns(text: str) -> int:
    return pd.Timestamp(text).value


def _num(x) -> str:
    return repr(float(x))


def _json(obj):
    return 200, json.dumps(obj).encode(), "application/json"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without TCP_NODELAY each small answer waits for
    # the client's delayed ACK (~40 ms)
    disable_nagle_algorithm = True
    venues: FakeVenues = None

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        url = urlparse(self.path)
        self._serve(self.path, lambda: self.venues.answer_get(url.path, parse_qs(url.query)))

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        self._serve(f"{self.path} {raw.decode(errors='replace')}",
                    lambda: self.venues.answer_info(body) if self.path == "/info" else (404, b"", "text/plain"))

    def _serve(self, text: str, answer):
        self.venues.log.append((self.command, text))
        fault = self.venues.take_fault(text)
        try:
            if fault is None:
                return self._send(*answer())
            kind = fault.kind
            if kind == "429":
                return self._send(429, b'{"error": "rate limited"}', "application/json",
                                  {"Retry-After": str(fault.retry_after)})
            if kind == "500":
                return self._send(500, b"internal error", "text/plain")
            if kind == "reset":
                return self._abort()
            if kind == "slow":
                time.sleep(fault.delay)
                return self._send(*answer())
            status, body, ctype = answer()
            if kind == "truncate":
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                return self._abort()
            if kind == "shape":
                return self._send(200, b'{"unexpected": []}', "application/json")
            if kind == "corrupt":
                bad = bytearray(body)
                bad[len(bad) // 2] ^= 0xFF
                return self._send(status, bytes(bad), ctype)
            if kind == "checksum":
                return self._send(status, b"0" * 64 + body[64:], ctype)
            raise ValueError(f"unknown fault {kind!r}")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send(self, status, body, ctype, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _abort(self):
        """Close with a TCP reset (SO_LINGER 0), as a crashed proxy does."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
