"""The bundled samples: names, caching, what is real, and the real rows themselves.

The expected real values are read straight from the shipped files with pandas (not through
the package's readers), so a reader bug cannot hide behind itself.
"""
import sys

import numpy as np
import pandas as pd
import pytest

import data_loaders as dl
from data_loaders import KINDS, SCHEMAS, Dataset, sample
from data_loaders.sample import SAMPLES, data_path, real_dydx_funding

UTC = "UTC"
FUNDING_CSV = "{}-USDT_dydx_2022-01-01_2024-01-01_funding_history.csv.gz"


def ts(text):
    return pd.Timestamp(text, tz=UTC)


def raw_funding(market):
    """The shipped dYdX funding CSV of ``market`` as (ts, rate), read with pandas only."""
    raw = pd.read_csv(data_path(FUNDING_CSV.format(market.split("-")[0])))
    assert list(raw.columns) == ["Symbol", "Date", "Funding Rate"]
    return pd.DataFrame({"ts": pd.to_datetime(raw["Date"]).dt.tz_localize(UTC), "rate": raw["Funding Rate"]})


@pytest.fixture(scope="module")
def ds():
    return sample()


@pytest.fixture(scope="module")
def tape():
    return sample("btcusdt-tape")


# --------------------------------------------------------------------------- names
def test_default_names_the_same_cached_object(ds):
    assert isinstance(ds, Dataset)
    assert sample() is ds
    assert sample("default") is ds
    assert sample("dydx-2022-11") is ds
    assert sample(None) is ds
    assert dl.sample is sample
    assert sample("btcusdt-tape") is sample("btcusdt-tape")
    assert sample("btcusdt-tape") is not ds
    assert SAMPLES == ("dydx-2022-11", "btcusdt-tape")


@pytest.mark.parametrize("name", ["nope", "DEFAULT", "dydx", ""])
def test_unknown_name_lists_the_names(name):
    with pytest.raises(ValueError) as err:
        sample(name)
    msg = str(err.value)
    assert repr(name) in msg
    for known in ("default", "dydx-2022-11", "btcusdt-tape"):
        assert known in msg


# --------------------------------------------------------------------------- dydx-2022-11
def test_default_sample_markets_span_and_provenance(ds):
    assert ds.markets_traded == ["BTC-USD", "ETH-USD"]
    assert sorted(ds.markets) == ["BTC-USD", "ETH-USD"]
    assert ts("2022-11-07 00:00") <= ds.start < ts("2022-11-07 00:01")
    assert ts("2022-11-12 23:59") <= ds.end < ts("2022-11-13 00:00")
    assert ds.meta["name"] == "dydx-2022-11"
    assert ds.meta["real"] == ["funding"]
    assert ds.meta["generated"] == ["trades", "oracle", "latency"]
    assert ds.book.num_rows == 0
    for kind in KINDS:
        assert ds.table(kind).schema.equals(SCHEMAS[kind])
    for kind in ("trades", "oracle"):
        t = ds.table(kind).to_pandas()
        assert t.ts.min() >= ts("2022-11-07") and t.ts.max() < ts("2022-11-13")
        assert sorted(t.market.unique()) == ["BTC-USD", "ETH-USD"]


@pytest.mark.parametrize("market", ["BTC-USD", "ETH-USD"])
def test_default_funding_is_exactly_the_real_dydx_rows(ds, market):
    got = ds.funding.to_pandas()
    got = got[got.market == market].reset_index(drop=True)
    assert len(got) == 144  # 6 days x 24 hours
    raw = raw_funding(market)
    want = raw[(raw.ts >= ts("2022-11-07")) & (raw.ts < ts("2022-11-13"))].reset_index(drop=True)
    assert len(want) == 144
    assert list(got.ts) == list(want.ts)
    np.testing.assert_array_equal(got.rate.to_numpy(), want.rate.to_numpy())  # bit for bit
    assert (got.interval == pd.Timedelta("1h")).all()
    # the oracle price of a funding row is the (generated) oracle price of that instant
    oracle = ds.oracle.to_pandas()
    merged = got.merge(oracle[oracle.market == market], on="ts", how="left")
    np.testing.assert_array_equal(merged.oracle_price.to_numpy(), merged.price.to_numpy())


def test_default_funding_spot_checks(ds):
    raw = pd.read_csv(data_path(FUNDING_CSV.format("BTC")))
    expected = raw.loc[raw["Date"] == "2022-11-08 16:00:00", "Funding Rate"].item()
    f = ds.funding.to_pandas()
    btc = f[f.market == "BTC-USD"].set_index("ts").rate
    assert btc[ts("2022-11-08 16:00")] == expected
    # the week's highest BTC rate, and the extremes the sample docstring quotes
    assert btc.idxmax() == ts("2022-11-08 16:00")
    assert btc.max() == pytest.approx(2.9e-5, rel=2e-2)  # +2.9e-5: not +3.0e-4
    assert btc.idxmin() == ts("2022-11-12 06:00")
    assert btc.min() == pytest.approx(-3.0e-4, rel=1e-2)
    eth = f[f.market == "ETH-USD"].rate
    assert eth.min() == pytest.approx(-3.4e-4, rel=1e-2) and eth.max() == pytest.approx(6.9e-5, rel=1e-2)


def test_default_latency_trace_has_one_outage(ds):
    lat = ds.latency.to_pandas()
    assert ds.venues == ["dydx"]
    assert (lat.ts.diff().dropna() >= pd.Timedelta(0)).all()
    down_from, down_to = ts("2022-11-09 14:00"), ts("2022-11-09 17:00")
    inside = (lat.ts >= down_from) & (lat.ts < down_to)
    assert inside.sum() == 180  # one row a minute
    assert not lat[inside].up.any()
    assert lat[~inside].up.all()
    assert lat[lat.ts == down_from].up.tolist() == [False]
    assert lat[lat.ts == down_to].up.tolist() == [True]
    assert lat.ts.min() == ts("2022-11-07") and lat.ts.max() == ts("2022-11-12 23:59")


# --------------------------------------------------------------------------- btcusdt-tape
def test_tape_sample(tape):
    assert tape.trades.num_rows == 21_313
    assert tape.book.num_rows == 66_089
    assert tape.markets_traded == ["BTC-USD"]
    assert list(tape.markets) == ["BTC-USD"]
    assert tape.meta["name"] == "btcusdt-tape"
    assert tape.meta["real"] == ["trades", "book"] and tape.meta["generated"] == ["latency"]
    first = tape.trades.slice(0, 1).to_pylist()[0]
    assert first["price"] == 61800.3
    assert first["side"] == 1
    assert first["market"] == "BTC-USD"
    assert pd.Timestamp(first["ts"]) == ts("2024-08-08 23:54:16.322")
    assert tape.start == ts("2024-08-08 23:54:16.322")
    assert tape.end == ts("2024-08-08 23:59:59.643")
    assert tape.funding.num_rows == 0 and tape.oracle.num_rows == 0
    for kind in KINDS:
        assert tape.table(kind).schema.equals(SCHEMAS[kind])


def test_tape_trades_are_the_shipped_binance_rows(tape):
    raw = pd.read_csv(data_path("BTCUSDT-trades-2024-08-08-2354.csv.gz"))
    got = tape.trades.to_pandas()
    assert len(raw) == len(got)
    np.testing.assert_array_equal(got.price.to_numpy(), raw.price.to_numpy())
    np.testing.assert_array_equal(got["size"].to_numpy(), raw.qty.to_numpy())
    assert (got.ts == pd.to_datetime(raw.time, unit="ms", utc=True)).all()
    # is_buyer_maker means the seller was the aggressor
    np.testing.assert_array_equal(got.side.to_numpy(), np.where(raw.is_buyer_maker, -1, 1))


def test_tape_latency_trace_covers_the_tape(tape):
    assert tape.venues == ["dydx"]
    lat = tape.latency.to_pandas()
    assert lat.ts.min() <= tape.start and lat.ts.max() >= tape.end
    book = tape.book.to_pandas()
    assert lat.ts.min() <= book.ts.min()
    assert lat.up.all()


# --------------------------------------------------------------------------- real_dydx_funding
def test_real_dydx_funding():
    day = real_dydx_funding("BTC-USD", "2022-11-08", "2022-11-09")
    assert day.num_rows == 24
    assert day.schema.equals(SCHEMAS["funding"])
    df = day.to_pandas()
    assert list(df.ts) == list(pd.date_range("2022-11-08", periods=24, freq="h", tz=UTC))
    assert (df.market == "BTC-USD").all()
    assert df.oracle_price.isna().all()  # the CSV carries no price
    raw = raw_funding("BTC-USD")
    want = raw[(raw.ts >= ts("2022-11-08")) & (raw.ts < ts("2022-11-09"))]
    np.testing.assert_array_equal(df.rate.to_numpy(), want.rate.to_numpy())
    full = real_dydx_funding("ETH-USD")
    assert full.num_rows == 17_520
    assert full.to_pandas().ts.iloc[[0, -1]].tolist() == [ts("2022-01-01"), ts("2023-12-31 23:00")]


def test_real_dydx_funding_unknown_market():
    with pytest.raises(ValueError, match="SOL-USD") as err:
        real_dydx_funding("SOL-USD")
    assert "BTC-USD" in str(err.value) and "ETH-USD" in str(err.value)


# ---------------------------------------------------------------- the generated sample's disk cache
# Catches: a cache read that differs from the sample built afresh (types, meta), a stale or
# broken entry served, a failure to write that breaks sample(), removing what is not ours.
@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    smp = sys.modules["data_loaders.sample"]  # (the package's name 'sample' is the function)

    monkeypatch.setenv(smp.CACHE_ENV, str(tmp_path / "cache"))
    smp._build.cache_clear()
    yield tmp_path / "cache"
    smp._build.cache_clear()


def _same(a: Dataset, b: Dataset):
    for kind in KINDS:
        assert a.table(kind).equals(b.table(kind)) and a.table(kind).schema == b.table(kind).schema, kind
    assert a.meta == b.meta and a.markets == b.markets


def test_generated_sample_is_read_back_from_the_cache(fresh_cache, monkeypatch):
    smp = sys.modules["data_loaders.sample"]  # (the package's name 'sample' is the function)

    built = sample()
    (entry,) = fresh_cache.glob("sample-dydx-2022-11-*")
    assert (entry / "backtester-sample-cache.json").is_file()
    smp._build.cache_clear()

    def no_build():
        raise AssertionError("generated again although the cache holds it")

    real = smp._dydx_2022_11
    monkeypatch.setattr(smp, "_dydx_2022_11", no_build)
    _same(sample(), built)
    monkeypatch.setattr(smp, "_dydx_2022_11", real)
    monkeypatch.setenv(smp.CACHE_ENV, "off")  # and the same as built with no cache at all
    smp._build.cache_clear()
    _same(sample(), built)


def test_a_broken_cache_entry_is_rebuilt_and_a_foreign_folder_kept(fresh_cache, monkeypatch):
    smp = sys.modules["data_loaders.sample"]  # (the package's name 'sample' is the function)

    built = sample()
    (entry,) = fresh_cache.glob("sample-dydx-2022-11-*")
    (entry / "trades.parquet").write_bytes(b"not parquet")
    foreign = fresh_cache / "sample-dydx-2022-11-someone-elses"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    calls = []
    real = smp._dydx_2022_11
    monkeypatch.setattr(smp, "_dydx_2022_11", lambda: calls.append(1) or real())
    smp._build.cache_clear()
    _same(sample(), built)
    assert calls == [1]
    assert (foreign / "keep.txt").read_text() == "mine"
    smp._build.cache_clear()
    _same(sample(), built)
    assert calls == [1]  # the rewritten entry is read


def test_an_unwritable_cache_folder_only_costs_the_rebuild(tmp_path, monkeypatch):
    smp = sys.modules["data_loaders.sample"]  # (the package's name 'sample' is the function)

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(smp.CACHE_ENV, str(blocker / "cache"))
    smp._build.cache_clear()
    try:
        assert sample().trades.num_rows > 0
    finally:
        smp._build.cache_clear()
    assert blocker.read_text() == "not a folder"
