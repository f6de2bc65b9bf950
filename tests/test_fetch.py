"""`backtester data fetch` and `data_loaders.Store` against local fake venues (tests/fake_venues.py).

Nothing here leaves 127.0.0.1: every request goes to a ``http.server`` started by a fixture, and
in-process connections anywhere else fail the test. Backoff waits are a millisecond or so
(``POLICY``); the one ``Retry-After`` served asks for one second.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import backtester as bt
import data_loaders as dl
from backtester.cli import main
from backtester.venue_markets import venue_markets
from data_loaders import DataError, Store
from data_loaders.fetch import FetchError, OutsideRowsWarning, PartialDayWarning, Policy
from tests.fake_venues import DAYS, DYDX_SAMPLES, FakeVenues

#: tiny waits so faults cost milliseconds; a read timeout of half a second for the slow answer
POLICY = Policy(total=5, backoff=0.001, backoff_max=0.01, jitter=0.001, timeout=0.5, rate=0)
START, END = "2024-08-05", "2024-08-09"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def venues():
    fake = FakeVenues().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(venues, monkeypatch):
    """The fake venues with no faults and an empty log; connections elsewhere are refused."""
    venues.faults.clear()
    venues.log.clear()
    real = socket.socket.connect

    def local_only(self, address):
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"a test tried to reach {address}")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)
    return venues


def served_trades(fake, day_lo=START, day_hi=END):
    lo, hi = pd.Timestamp(day_lo).strftime("%Y-%m-%d"), pd.Timestamp(day_hi).strftime("%Y-%m-%d")
    return [r for r in fake.dydx_trades["BTC-USD"] if lo <= r["createdAt"][:10] < hi]


def fetch(store, fake, venue="dydx", markets="BTC-USD", kinds="trades", start=START, end=END, **kw):
    return store.fetch(venue, markets, kinds, start, end, base_url=fake.url, policy=POLICY, **kw)


def data_requests(fake, word="/v4/trades"):
    return [p for _, p in fake.log if word in p]


# ---------------------------------------------------------------------------- dYdX: exact rows
def test_dydx_full_fetch_equals_the_served_rows(fake, tmp_path):
    store = Store(tmp_path / "s")
    report = fetch(store, fake, kinds="trades,funding,candles")
    assert set(report["action"]) == {"fetched"} and report["complete"].all()
    served = served_trades(fake)
    t = store.read("trades", "BTC-USD")
    assert t.column("id").to_pylist() == [r["id"] for r in served]            # none missing, none twice, in order
    assert t.column("price").to_pylist() == [float(r["price"]) for r in served]
    assert t.column("size").to_pylist() == [float(r["size"]) for r in served]
    assert t.column("side").to_pylist() == [1 if r["side"] == "BUY" else -1 for r in served]
    stamps = pd.to_datetime([r["createdAt"] for r in served], utc=True, format="ISO8601").as_unit("ns")
    assert (t.column("ts").cast("int64").to_numpy() == stamps.asi8).all()
    f = store.read("funding", "BTC-USD")
    rows = [r for r in fake.dydx_funding["BTC-USD"] if START <= r["effectiveAt"][:10] < END]
    assert f.column("rate").to_pylist() == [float(r["rate"]) for r in rows]
    assert f.column("oracle_price").to_pylist() == [float(r["price"]) for r in rows]
    c = store.read("candles", "BTC-USD")
    bars = [b for b in fake.dydx_candles["BTC-USD"] if START <= b["startedAt"][:10] < END]
    assert c.column("close").to_pylist() == [float(b["close"]) for b in bars]
    assert c.column("volume").to_pylist() == [float(b["baseTokenVolume"]) for b in bars]
    info = store.manifest("trades", "dydx", "BTC-USD", "2024-08-06")
    assert info["complete"] and info["rows"] == len(served_trades(fake, "2024-08-06", "2024-08-07"))
    assert info["source"].startswith(fake.url) and len(info["sha256"]) == 64
    assert store.verify() == []


def test_pages_ending_inside_blocks_lose_nothing(fake, tmp_path):
    served = served_trades(fake, "2024-08-06", "2024-08-07")
    biggest = pd.Series([r["createdAtHeight"] for r in served]).value_counts().max()   # a real burst: ~1000
    store = Store(tmp_path / "s")
    fetch(store, fake, start="2024-08-06", end="2024-08-07", page_size=biggest + 1)
    assert store.read("trades").column("id").to_pylist() == [r["id"] for r in served]
    assert len(data_requests(fake)) > len(served) / (biggest + 1)     # blocks were left to the next page


def test_a_block_larger_than_a_page_is_named(fake, tmp_path):
    with pytest.raises(DataError, match=r"block \d+ holds more trades than a page of 100"):
        fetch(Store(tmp_path / "s"), fake, start="2024-08-06", end="2024-08-07", page_size=100)


def test_venue_parameters_become_markets(fake, tmp_path):
    store = Store(tmp_path / "s")
    fetch(store, fake, start="2024-08-06", end="2024-08-07")
    specs = store.markets("dydx")
    sol = specs["SOL-USD"]
    assert (sol["imf"], sol["mmf"]) == (0.05, 0.03)
    markets = venue_markets({"SOL-USD": {"venue": "dydx", **sol}})
    assert markets["SOL-USD"].imf == 0.05 and markets["SOL-USD"].tier == "given"


# ---------------------------------------------------------------------------- faults
@pytest.mark.parametrize("fault", ["429", "500", "reset", "truncate", "slow"])
def test_transient_faults_are_survived(fake, tmp_path, fault):
    fake.inject(fault, "/v4/trades", times=2, delay=1.0)
    store = Store(tmp_path / "s")
    fetch(store, fake, start="2024-08-06", end="2024-08-07")
    assert store.read("trades").column("id").to_pylist() == [r["id"] for r in served_trades(fake, "2024-08-06",
                                                                                          "2024-08-07")]
    pages = -(-len(served_trades(fake, "2024-08-06", "2024-08-07")) // 1000)
    assert len(data_requests(fake)) >= pages + 2          # the two faulty answers were retried


def test_persistent_failure_is_reported_and_stores_nothing(fake, tmp_path):
    fake.inject("500", "/v4/trades", times=-1)
    store = Store(tmp_path / "s")
    with pytest.raises(FetchError, match=r"/v4/trades/perpetualMarket/BTC-USD.*failed after 6 attempts.*500"):
        fetch(store, fake, start="2024-08-06", end="2024-08-07")
    assert store.read("trades").num_rows == 0 and store.coverage().empty


def test_unexpected_shape_names_the_url_and_what_was_expected(fake, tmp_path):
    fake.inject("shape", "/v4/historicalFunding")
    with pytest.raises(DataError, match=r"historicalFunding/BTC-USD\?.*expected an object with a list 'historicalFunding'"):
        fetch(Store(tmp_path / "s"), fake, kinds="funding", start="2024-08-06", end="2024-08-07")


def test_a_response_that_is_not_json_is_a_data_error(fake, tmp_path):
    fake.inject("corrupt", "/v4/perpetualMarkets")
    with pytest.raises(DataError, match=r"/v4/perpetualMarkets: expected a JSON body"):
        fetch(Store(tmp_path / "s"), fake, start="2024-08-06", end="2024-08-07")


# ---------------------------------------------------------------------------- wrong input, before any request
def test_start_after_end_is_refused_before_any_request(fake, tmp_path):
    with pytest.raises(ValueError, match="is not before end"):
        fetch(Store(tmp_path / "s"), fake, start="2024-08-07", end="2024-08-06")
    assert fake.log == []


def test_unknown_market_names_close_matches(fake, tmp_path):
    with pytest.raises(ValueError, match=r"unknown dydx market 'BTC-USDT'; close matches: BTC-USD"):
        fetch(Store(tmp_path / "s"), fake, markets="BTC-USDT")
    assert data_requests(fake) == []


def test_range_before_the_market_existed_says_when_it_starts(fake, tmp_path):
    with pytest.raises(ValueError, match=r"before the market's data starts on 2024-08-05"):
        fetch(Store(tmp_path / "s"), fake, start="2024-07-01")
    assert data_requests(fake) == []


def test_unknown_kind_and_venue(tmp_path):
    with pytest.raises(ValueError, match="dydx has no kind 'bookTicker'"):
        Store(tmp_path).fetch("dydx", "BTC-USD", "bookTicker", START, END, base_url="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="unknown venue 'dydxx'.*did you mean 'dydx'"):
        Store(tmp_path).fetch("dydxx", "BTC-USD", "trades", START, END)


# ---------------------------------------------------------------------------- resuming, partial days
def test_a_second_fetch_asks_only_for_what_is_missing(fake, tmp_path):
    store = Store(tmp_path / "s")
    fetch(store, fake, start="2024-08-05", end="2024-08-07")
    fake.log.clear()
    report = fetch(store, fake, start="2024-08-05", end="2024-08-09")
    assert list(report["action"]) == ["skipped", "skipped", "fetched", "fetched"]
    assert not any("2024-08-05" in p or "2024-08-06" in p for p in data_requests(fake))
    fake.log.clear()
    fetch(store, fake)
    assert data_requests(fake) == []
    assert store.read("trades").column("id").to_pylist() == [r["id"] for r in served_trades(fake)]


def test_a_day_in_progress_is_partial_until_fetched_whole(fake, tmp_path):
    store = Store(tmp_path / "s")
    fetch(store, fake, start="2024-08-07", end="2024-08-09", now="2024-08-08 12:00")
    info = store.manifest("trades", "dydx", "BTC-USD", "2024-08-08")
    assert not info["complete"] and info["end"] == "2024-08-08T11:50:00+00:00"
    assert pd.Timestamp(info["last_ts"]) < pd.Timestamp(info["end"])
    cov = store.coverage()
    assert list(cov["status"]) == ["complete", "partial"]
    with pytest.warns(PartialDayWarning, match="trades BTC-USD 2024-08-08"):
        store.dataset("BTC-USD")
    with pytest.raises(DataError, match="not complete"):
        store.dataset("BTC-USD", partial="error")
    report = fetch(store, fake, start="2024-08-07", end="2024-08-09")
    assert list(report["action"]) == ["skipped", "fetched"] and report["complete"].all()
    assert store.read("trades").column("id").to_pylist() == [r["id"] for r in served_trades(fake, "2024-08-07")]


def test_coverage_shows_gaps(fake, tmp_path):
    store = Store(tmp_path / "s")
    fetch(store, fake, start="2024-08-05", end="2024-08-06")
    fetch(store, fake, start="2024-08-08", end="2024-08-09")
    cov = store.coverage()
    assert list(cov["status"]) == ["complete", "gap", "complete"]
    assert list(cov["days"]) == [1, 2, 1]


def test_kill_and_resume_ends_with_exactly_the_served_rows(fake, tmp_path):
    """A fetch killed mid-way (SIGKILL, no clean-up), then run again, holds every served trade once."""
    fake.inject("slow", "/v4/trades", times=-1, delay=0.03)
    path = tmp_path / "s"
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
            "from data_loaders import Store\nfrom data_loaders.fetch import Policy\n"
            f"Store({str(path)!r}).fetch('dydx', 'BTC-USD', 'trades', {START!r}, {END!r}, base_url={fake.url!r}, "
            "policy=Policy(total=5, backoff=0.001, backoff_max=0.01, jitter=0.001, timeout=5, rate=0))\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    store = Store(path)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if len(store.partitions()) >= 1:
                    break
            except ValueError:  # the fetch has not made the folder a store yet
                pass
            time.sleep(0.02)
        assert proc.poll() is None, "the fetch ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    done = store.partitions()
    assert 1 <= len(done) < len(DAYS)
    fake.faults.clear()
    fake.log.clear()
    report = fetch(store, fake)
    assert (report["action"] == "skipped").sum() == len(done)
    ids = store.read("trades").column("id").to_pylist()
    assert len(ids) == len(set(ids))
    assert not list(store.path.rglob("*.tmp"))                # the killed fetch's temporary files are gone
    assert ids == [r["id"] for r in served_trades(fake)]


# ---------------------------------------------------------------------------- the store
def test_store_refuses_a_folder_with_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a store"):
        Store(tmp_path).write_partition("trades", "dydx", "X", "2024-01-01", dl.schemas.empty_table("trades"),
                                        covered=("2024-01-01", "2024-01-02"), source="test")
    assert (tmp_path / "notes.txt").read_text() == "mine" and sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_a_fetch_into_a_folder_that_is_not_a_store_asks_the_venue_nothing(fake, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    before = len(fake.log)
    with pytest.raises(ValueError, match="not a store"):
        fetch(Store(tmp_path), fake)
    assert len(fake.log) == before and sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_reading_a_folder_that_is_not_a_store_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    for read in (lambda s: s.coverage(), lambda s: s.partitions(), lambda s: s.dataset("BTC-USD")):
        with pytest.raises(ValueError, match="not a store"):
            read(Store(tmp_path))
    with pytest.raises(ValueError, match="no such folder"):   # a mistyped path is not an empty store
        Store(tmp_path / "missing").coverage()
    assert not (tmp_path / "missing").exists()
    assert Store(tmp_path / "empty").path.mkdir() is None and Store(tmp_path / "empty").coverage().empty


def test_one_fetch_writes_a_store_at_a_time(fake, tmp_path):
    from data_loaders.fetch.store import _take_lock

    store = Store(tmp_path / "s")
    fetch(store, fake, start="2024-08-06", end="2024-08-07")
    held = _take_lock(store.path)                      # as another fetch would hold it
    try:
        with pytest.raises(ValueError, match=rf"another fetch is writing it \(pid {os.getpid()} on"):
            fetch(store, fake, start="2024-08-07", end="2024-08-08")
        assert fetch(store, fake, start="2024-08-07", end="2024-08-08", dry_run=True)["action"].tolist() == [
            "would fetch"]                             # a dry run writes nothing: no lock needed
    finally:
        held.close()
    assert fetch(store, fake, start="2024-08-07", end="2024-08-08")["action"].tolist() == ["fetched"]


def test_a_partition_whose_manifest_does_not_match_is_fetched_again(fake, tmp_path):
    store = Store(tmp_path / "s")
    fetch(store, fake, start="2024-08-06", end="2024-08-07")
    folder = store.partition_dir("trades", "dydx", "BTC-USD", "2024-08-06")
    manifest = json.loads((folder / "_manifest.json").read_text())
    (folder / "_manifest.json").write_text(json.dumps({**manifest, "bytes": 1}))   # as if killed between the writes
    assert store.coverage().empty
    report = fetch(store, fake, start="2024-08-06", end="2024-08-07")
    assert list(report["action"]) == ["fetched"]


def test_read_pushes_the_range_down(fake, tmp_path):
    store = Store(tmp_path / "s")
    fetch(store, fake)
    t = store.read("trades", "BTC-USD", "2024-08-06 06:00", "2024-08-07 18:00")
    ts = pd.to_datetime(t.column("ts").cast("int64").to_numpy(), utc=True)
    assert ts.min() >= pd.Timestamp("2024-08-06 06:00", tz="UTC") and ts.max() < pd.Timestamp("2024-08-07 18:00", tz="UTC")
    expected = [r["id"] for r in served_trades(fake) if "2024-08-06T06" <= r["createdAt"] < "2024-08-07T18"]
    assert t.column("id").to_pylist() == expected
    assert pq.ParquetFile(store.partition_dir("trades", "dydx", "BTC-USD", "2024-08-06") / "data.parquet"
                          ).num_row_groups >= 1


def test_dataset_round_trips_into_a_run(fake, tmp_path):
    from strategies import MaCross

    store = Store(tmp_path / "s")
    fetch(store, fake, kinds="trades,funding")
    ds = store.dataset("BTC-USD", "2024-08-06", "2024-08-08")
    assert ds.markets["BTC-USD"]["imf"] == 0.02 and ds.meta["real"] == ["trades of BTC-USD", "funding"]
    assert ds.trades.num_rows == len(served_trades(fake, "2024-08-06", "2024-08-08"))
    assert ds.funding.num_rows == 48
    config = bt.SimConfig(markets=venue_markets(ds.markets, ds.markets_traded))
    res = bt.run(MaCross(fast=10, slow=60, every="5min"), ds, config)
    assert len(res.fills) > 0 and res.equity.index.min() >= pd.Timestamp("2024-08-06", tz="UTC")
    assert res.stats()["funding"] != 0


def test_a_range_the_store_does_not_hold_names_what_it_holds(fake, tmp_path):
    store = Store(tmp_path / "s")
    fetch(store, fake, start="2024-08-06", end="2024-08-08")
    with pytest.raises(dl.DataError, match=r"the store has BTC-USD trades 2024-08-06 \.\. 2024-08-07 \(days, inclusive\)"):
        store.dataset("BTC-USD", "2024-09-01", "2024-09-02")
    with pytest.raises(dl.DataError, match=r"the store has markets \['BTC-USD'\] \(close matches: BTC-USD\)"):
        store.dataset("BTC-USDT", "2024-08-06", "2024-08-07")


def test_candles_stand_in_for_trades(fake, tmp_path):
    store = Store(tmp_path / "s")
    fetch(store, fake, kinds="candles,funding", start="2024-08-06", end="2024-08-07")
    ds = store.dataset("BTC-USD")
    assert ds.trades.num_rows == 4 * len([b for b in fake.dydx_candles["BTC-USD"] if b["startedAt"][:10] == "2024-08-06"])
    assert "four-point path per 1min candle" in ds.meta["generated"][0]


# ---------------------------------------------------------------------------- latency from block headers
def test_latency_trace_from_block_headers(fake, tmp_path):
    store = Store(tmp_path / "s")
    report = fetch(store, fake, kinds="latency", start="2024-08-06", end="2024-08-08")
    assert report["complete"].all() and set(report["market"]) == {"chain"}
    assert len(fake.log) < 2 * 400                            # sampled: a few hundred requests a day
    trace = store.read("latency").to_pandas()
    down = trace[~trace["up"]]
    last_before, first_after = fake.chain_halt
    assert list(down["ts"]) == [pd.Timestamp(fake.chain_time(last_before))]
    back = trace[trace["ts"] == pd.Timestamp(fake.chain_time(first_after))]
    assert list(back["up"]) == [True]
    interval = trace["finality"].dt.total_seconds()
    assert interval.between(0.7, 1.3).all() and (trace["order_latency"] == trace["finality"]).all()
    fetch(store, fake, kinds="trades", start="2024-08-07", end="2024-08-08")
    ds = store.dataset("BTC-USD", "2024-08-07", "2024-08-08")
    assert ds.venues == ["dydx"] and ds.latency.num_rows == len(trace[trace["ts"] >= pd.Timestamp("2024-08-07", tz="UTC")])
    from strategies import BuyAndHold

    assert bt.run(BuyAndHold(leverage=1), ds).stats()["n_fills"] >= 1


def test_a_halt_across_midnight_starts_in_the_first_day(fake, tmp_path, monkeypatch):
    times = fake.chain_times.copy()
    k = int(np.searchsorted(times, pd.Timestamp("2024-08-06 22:00", tz="UTC").value))
    times[k:] += 6 * 3600 * 10**9                             # blocks stop at 22:00 and resume at 04:00
    monkeypatch.setattr(fake, "chain_times", times)
    store = Store(tmp_path / "s")
    fetch(store, fake, kinds="latency", start="2024-08-06", end="2024-08-08")
    trace = store.read("latency").to_pandas().set_index("ts")["up"]
    assert trace[~trace].index[0] == pd.Timestamp(times[k - 1], tz="UTC")     # (the fake's own halt comes later)
    assert trace[trace.index > pd.Timestamp(times[k - 1], tz="UTC")].index[0] == pd.Timestamp(times[k], tz="UTC")


def test_latency_needs_a_node_and_a_day_it_serves(fake, tmp_path):
    with pytest.raises(ValueError, match="CometBFT RPC node"):
        Store(tmp_path / "s").fetch("dydx", "BTC-USD", "latency", "2024-08-06", "2024-08-07")
    with pytest.raises(ValueError, match="before the node's blocks start on 2024-08-05"):
        fetch(Store(tmp_path / "s"), fake, kinds="latency", start="2024-08-04", end="2024-08-06")
    assert fake.log == [] or all("/v4/" in p or "/status" in p for _, p in fake.log)


# ---------------------------------------------------------------------------- Binance dumps
def test_binance_dumps_equal_the_served_rows(fake, tmp_path):
    store = Store(tmp_path / "s")
    with pytest.warns(OutsideRowsWarning, match="1 row"):  # the bookTicker capture has one row after midnight
        fetch(store, fake, "binance", "BTCUSDT", "trades,aggTrades,bookTicker,fundingRate", "2024-08-08", "2024-08-09")
    tape = pd.read_csv(ROOT / "data_loaders/data/BTCUSDT-trades-2024-08-08-2354.csv.gz")
    t = store.read("trades", "BTCUSDT")
    assert t.column("id").to_pylist() == [str(i) for i in tape["id"]]
    assert t.column("price").to_pylist() == tape["price"].tolist()
    assert t.column("side").to_pylist() == np.where(tape["is_buyer_maker"], -1, 1).tolist()
    agg = store.read("agg_trades", "BTCUSDT")
    assert abs(sum(agg.column("size").to_pylist()) - tape["qty"].sum()) < 1e-6
    book = store.read("book", "BTCUSDT")
    assert book.num_rows == 66_089 - 1
    funding = store.read("funding", "BTCUSDT", "2024-08-08", "2024-08-09")
    assert funding.num_rows == 3 and funding.column("interval")[0].as_py() == pd.Timedelta("8h")
    cov = store.coverage().set_index("kind")
    assert cov.loc["funding", "days"] == 24                   # the month's file fills the rest of August
    ds = store.dataset("BTCUSDT")
    assert ds.book.num_rows == book.num_rows and ds.trades.num_rows == len(tape)


def test_a_monthly_dump_from_mid_month_fills_the_rest_quietly(fake, tmp_path):
    store = Store(tmp_path / "s")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = fetch(store, fake, "binance", "BTCUSDT", "fundingRate", "2024-08-10", "2024-08-12")
    assert list(report["action"]) == ["fetched", "fetched"]
    cov = store.coverage()
    assert (cov["first"].iloc[0], cov["last"].iloc[0]) == (pd.Timestamp("2024-08-10").date(),
                                                           pd.Timestamp("2024-08-31").date())
    assert len(data_requests(fake, "fundingRate-2024-08.zip")) == 2   # the file and its .CHECKSUM, once


@pytest.mark.parametrize("fault", ["corrupt", "checksum"])
def test_a_bad_download_is_fetched_again(fake, tmp_path, fault):
    fake.inject(fault, "trades-2024-08-08.zip" if fault == "corrupt" else "trades-2024-08-08.zip.CHECKSUM")
    store = Store(tmp_path / "s")
    fetch(store, fake, "binance", "BTCUSDT", "trades", "2024-08-08", "2024-08-09")
    assert store.read("trades").num_rows == 21_313


@pytest.mark.parametrize("fault", ["corrupt", "checksum"])
def test_a_checksum_that_never_matches_is_reported(fake, tmp_path, fault):
    fake.inject(fault, "trades-2024-08-08.zip" if fault == "corrupt" else ".CHECKSUM", times=-1)
    store = Store(tmp_path / "s")
    with pytest.raises(DataError, match=r"BTCUSDT-trades-2024-08-08.zip: SHA-256 mismatch after 2 downloads"):
        fetch(store, fake, "binance", "BTCUSDT", "trades", "2024-08-08", "2024-08-09")
    assert store.read("trades").num_rows == 0


def test_binance_day_not_published_is_a_gap_with_a_warning(fake, tmp_path):
    store = Store(tmp_path / "s")
    with pytest.warns(UserWarning, match="2024-08-09: not published"):
        report = fetch(store, fake, "binance", "BTCUSDT", "trades", "2024-08-08", "2024-08-10")
    assert list(report["action"]) == ["fetched", "not published"]
    with pytest.raises(ValueError, match="data starts on 2024-08-08"):
        fetch(store, fake, "binance", "BTCUSDT", "trades", "2024-08-01", "2024-08-10")


# ---------------------------------------------------------------------------- Hyperliquid
def test_hyperliquid_funding_candles_and_recent_trades(fake, tmp_path):
    store = Store(tmp_path / "s")
    report = fetch(store, fake, "hyperliquid", "BTC", "funding,candles,trades", "2024-08-07", "2024-08-09")
    f = store.read("funding", "BTC")
    served = [r for r in fake.hl_funding["BTC"] if pd.Timestamp("2024-08-07").value // 10**6 <= r["time"]]
    assert f.column("rate").to_pylist() == [float(r["fundingRate"]) for r in served]
    assert f.column("interval")[0].as_py() == pd.Timedelta("1h")
    c = store.read("candles", "BTC")
    assert c.num_rows == len([b for b in fake.hl_candles["BTC"] if b["t"] >= pd.Timestamp("2024-08-07").value // 10**6])
    trades = report[report["kind"] == "trades"]
    assert not trades["complete"].any()                       # recent trades only: never a whole day
    t = store.read("trades", "BTC")
    assert t.column("id").to_pylist() == [str(r["tid"]) for r in fake.hl_trades["BTC"]]
    assert store.markets("hyperliquid")["BTC"]["imf"] == 1 / 40
    ds = store.dataset("BTC")                                 # whole days of candles win over partial trades
    assert ds.meta["generated"] and ds.meta["partial_days"] == []


def test_hyperliquid_recent_trades_add_up_over_fetches(fake, tmp_path, monkeypatch):
    store = Store(tmp_path / "s")
    everything = fake.hl_trades["BTC"]
    monkeypatch.setitem(fake.hl_trades, "BTC", everything[:6])
    fetch(store, fake, "hyperliquid", "BTC", "trades", "2024-08-08", "2024-08-09")
    first = store.manifest("trades", "hyperliquid", "BTC", "2024-08-08")
    monkeypatch.setitem(fake.hl_trades, "BTC", everything[4:])      # the venue moved on; two trades seen twice
    fetch(store, fake, "hyperliquid", "BTC", "trades", "2024-08-08", "2024-08-09")
    t = store.read("trades", "BTC")
    assert t.column("id").to_pylist() == [str(r["tid"]) for r in everything]
    info = store.manifest("trades", "hyperliquid", "BTC", "2024-08-08")
    assert info["start"] == first["start"] and not info["complete"]


# ---------------------------------------------------------------------------- the real dYdX responses
@pytest.mark.skipif(not DYDX_SAMPLES.is_dir(), reason="the shared data folder (../shared/data) is not here")
def test_real_dydx_v4_rows_convert(fake, tmp_path):
    store = Store(tmp_path / "s")
    fetch(store, fake, kinds="trades,funding", start="2025-12-08", end="2025-12-09")
    real = json.loads((DYDX_SAMPLES / "http_get_trades.json").read_text())["result"]["trades"]
    t = store.read("trades", "BTC-USD")
    assert sorted(t.column("id").to_pylist()) == sorted(r["id"] for r in real)
    assert sorted(t.column("price").to_pylist()) == sorted(float(r["price"]) for r in real)
    f = store.read("funding", "BTC-USD")
    assert 0.000002375 in f.column("rate").to_pylist()
    assert store.markets("dydx")["SOL-USD"]["mmf"] == 0.03


# ---------------------------------------------------------------------------- command line
def test_cli_fetch_coverage_and_run(fake, tmp_path, capsys):
    store = str(tmp_path / "s")
    base = ["--store", store, "--base-url", fake.url, "--quiet", "--rate", "0"]
    assert main(["data", "fetch", "dydx", "--market", "BTC-USD", "--kind", "trades,funding", "--start", "2024-08-06",
                 "--end", "2024-08-08", "--dry-run", *base]) == 0
    out = capsys.readouterr().out
    assert "dry run: 4 of 4 day(s) would be fetched" in out and data_requests(fake) == []
    assert main(["data", "fetch", "dydx", "--market", "BTC-USD", "--kind", "trades,funding", "--start", "2024-08-06",
                 "--end", "2024-08-08", *base]) == 0
    assert "fetched 4 day(s)" in capsys.readouterr().out
    assert main(["data", "coverage", "--store", store]) == 0
    assert "every day complete" in capsys.readouterr().out
    assert main(["run", "--data", store, "--market", "BTC-USD", "--start", "2024-08-06", "--end", "2024-08-07",
                 "--strategy", "trend", "--scenario", "normal", "--seeds", "1", "--no-report", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "trades=21,313" in out and "funding=24" in out


@pytest.mark.parametrize("argv, message", [
    (["--market", "ETH-USDX"], "unknown dydx market 'ETH-USDX'; close matches: ETH-USD"),
    (["--start", "2024-08-09", "--end", "2024-08-08"], "is not before end"),
    (["--start", "2024-01-01"], "before the market's data starts on 2024-08-05"),
])
def test_cli_input_errors_exit_2(fake, tmp_path, capsys, argv, message):
    args = {"--market": "BTC-USD", "--start": "2024-08-06", "--end": "2024-08-07"}
    for k, v in zip(argv[::2], argv[1::2]):
        args[k] = v
    flat = [x for kv in args.items() for x in kv]
    code = main(["data", "fetch", "dydx", *flat, "--store", str(tmp_path / "s"), "--base-url", fake.url, "--quiet"])
    assert code == 2 and message in capsys.readouterr().err
    assert data_requests(fake) == []


def test_cli_validate_checks_a_store(fake, tmp_path, capsys):
    store = Store(tmp_path / "s")
    fetch(store, fake, kinds="trades,funding", start="2024-08-06", end="2024-08-07")
    assert main(["data", "validate", str(store.path)]) == 0
    assert "checksums match" in capsys.readouterr().out
    data = store.partition_dir("trades", "dydx", "BTC-USD", "2024-08-06") / "data.parquet"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    assert main(["data", "validate", str(store.path)]) == 1
    assert "SHA-256 differs from its manifest" in capsys.readouterr().err


def test_cli_run_on_a_store_without_the_market(fake, tmp_path, capsys):
    store = Store(tmp_path / "s")
    fetch(store, fake, start="2024-08-06", end="2024-08-07")
    assert main(["run", "--data", str(store.path), "--market", "BTC-USDT", "--no-report", "--quiet"]) == 2
    assert "--market BTC-USDT: the store" in capsys.readouterr().err


def test_cli_coverage_of_a_folder_that_is_not_a_store(tmp_path, capsys):
    assert main(["data", "coverage", "--store", str(tmp_path)]) == 2
    assert "not a store" in capsys.readouterr().err


def test_warnings_are_quiet_by_default():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        import data_loaders.fetch  # noqa: F401  (imports without warnings)


def test_a_host_that_does_not_resolve_fails_at_once_without_retries(monkeypatch):
    # offline, a DNS failure would otherwise wait out every backoff (17 s per request by
    # default); resolution is faked to fail here, so no name server is ever asked
    from urllib3.util import connection

    from data_loaders.fetch._http import Client

    calls = []

    def no_dns(address, *args, **kwargs):
        calls.append(address)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(connection, "create_connection", no_dns)
    client = Client("http://indexer.example.invalid", Policy(total=5, backoff=10.0))
    with pytest.raises(FetchError, match="host name does not resolve"):
        client.get("/v4/perpetualMarkets")
    assert len(calls) == 1  # one attempt: a 10 s backoff x 5 retries would make this test hang
