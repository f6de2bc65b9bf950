"""`Dataset`: construction checks, descriptions, `slice`, and `save` / `load`.

A small hand-made dataset (two markets, two venues, one of them down across the slice start)
exercises every rule on exact timestamps; one test runs on the bundled sample, and a
hypothesis test checks the latency state carried into a slice against a direct computation.
"""
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_loaders import KINDS, SCHEMAS, DataError, Dataset, conform, sample

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def at(minutes):
    """T0 plus ``minutes`` (a scalar or a list)."""
    if np.isscalar(minutes):
        return T0 + pd.Timedelta(minutes=minutes)
    return pd.DatetimeIndex([T0 + pd.Timedelta(minutes=m) for m in minutes])


def frames():
    """Valid DataFrames of every kind on minutes 0..9 (rows at every whole minute)."""
    minutes = list(range(10))
    n = len(minutes)
    trades = pd.DataFrame({
        "ts": at([m for m in minutes for _ in (0, 1)]),
        "market": ["ETH-USD", "BTC-USD"] * n,  # ETH first: markets_traded must still be sorted
        "price": np.tile([2_000.0, 40_000.0], n) + np.repeat(np.arange(n), 2),
        "size": 0.5, "side": np.tile([1, -1], n),
    })
    funding = pd.DataFrame({"ts": at(minutes), "market": "BTC-USD", "rate": np.linspace(-1e-4, 1e-4, n),
                            "interval": pd.Timedelta("1h"), "oracle_price": 40_000.0})
    oracle = pd.DataFrame({"ts": at(minutes), "market": "BTC-USD", "price": 40_000.0 + np.arange(n)})
    # venue "zk" at every minute, up except minutes 3..6; venue "arb" every 4 minutes, always up
    zk = pd.DataFrame({"ts": at(minutes), "venue": "zk", "up": [m not in (3, 4, 5, 6) for m in minutes],
                       "order_latency": pd.to_timedelta(np.arange(n) + 100, unit="ms")})
    arb = pd.DataFrame({"ts": at([0, 4, 8]), "venue": "arb", "up": True,
                        "order_latency": pd.to_timedelta([900, 950, 990], unit="ms")})
    latency = pd.concat([zk, arb]).sort_values("ts", kind="stable").reset_index(drop=True)
    latency["ack_latency"] = pd.Timedelta("300ms")
    latency["finality"] = pd.Timedelta("2s")
    latency["gas_fee"] = 0.01
    book = pd.DataFrame({"ts": at(minutes), "market": "BTC-USD", "bid": 40_000.0, "bid_size": 1.0,
                         "ask": 40_001.0, "ask_size": 2.0})
    return {"trades": trades, "funding": funding, "oracle": oracle, "latency": latency, "book": book}


MARKETS = {"BTC-USD": {"tick_size": 1.0, "step_size": 0.0001}, "ETH-USD": {"tick_size": 0.1}}
META = {"name": "hand-made", "real": [], "generated": list(KINDS), "seed": 7, "nested": {"a": [1, 2.5, None]}}


@pytest.fixture
def ds():
    return Dataset(**frames(), markets=MARKETS, meta=META)


def unified(table):
    return table.unify_dictionaries().combine_chunks()


def ts_of(table):
    return pd.DatetimeIndex(table.column("ts").to_pandas())


# --------------------------------------------------------------------------- construction
def test_absent_tables_are_empty_canonical_tables():
    empty = Dataset()
    for kind in KINDS:
        t = empty.table(kind)
        assert isinstance(t, pa.Table) and t.num_rows == 0
        assert t.schema.equals(SCHEMAS[kind])
    assert empty.markets_traded == [] and empty.venues == []
    assert empty.start is None and empty.end is None
    assert empty.markets == {} and empty.meta == {}
    assert Dataset(trades=frames()["trades"]).funding.schema.equals(SCHEMAS["funding"])


def test_dataframes_are_conformed_and_tables_validated(ds):
    for kind, df in frames().items():
        assert ds.table(kind).schema.equals(SCHEMAS[kind])
        assert ds.table(kind).equals(conform(df, kind))
    canonical = conform(frames()["oracle"], "oracle")
    assert Dataset(oracle=canonical).oracle is canonical  # a canonical table is kept as is


@pytest.mark.parametrize("kind, column, value, row", [
    ("trades", "price", -1.0, 3),
    ("trades", "side", 0, 0),
    ("funding", "rate", 1.5, 2),
    ("oracle", "price", np.nan, 9),
    ("latency", "order_latency", pd.Timedelta("-1ms"), 5),
    ("book", "bid_size", -2.0, 4),
])
def test_bad_dataframe_raises_data_error_naming_column_and_row(kind, column, value, row):
    df = frames()[kind]
    df.loc[row, column] = value
    with pytest.raises(DataError) as err:
        Dataset(**{kind: df})
    assert err.value.column == column and err.value.row == row
    assert f"Dataset.{kind}" in str(err.value)


def test_bad_arrow_tables_raise_data_error():
    trades = conform(frames()["trades"], "trades")
    plain = trades.set_column(1, "market", trades.column("market").cast(pa.string()))
    with pytest.raises(DataError, match="wrong type") as err:
        Dataset(trades=plain)  # an Arrow table must already be canonical
    assert err.value.column == "market"
    backwards = trades.take(pa.array(np.arange(trades.num_rows)[::-1]))
    with pytest.raises(DataError, match="non-decreasing") as err:
        Dataset(trades=backwards)
    assert err.value.column == "ts"
    with pytest.raises(DataError, match="missing required column"):
        Dataset(book=trades)  # a trades table where the book goes
    with pytest.raises(TypeError):
        Dataset(trades=[1, 2, 3])


def test_a_table_carried_into_a_new_dataset_is_not_validated_again(ds, monkeypatch):
    from dataclasses import replace

    import data_loaders.dataset as dataset_mod

    checked = []
    real = dataset_mod.validate
    monkeypatch.setattr(dataset_mod, "validate", lambda table, kind, **kw: checked.append(kind) or real(table, kind, **kw))
    trades = conform(frames()["trades"], "trades")
    changed = trades.slice(0, 5)
    out = replace(ds, trades=changed)  # a scenario's copy: one table new, the rest carried over
    assert checked == ["trades"]  # only the new table
    assert out.funding is ds.funding and out.trades is changed
    # the same table as another kind is checked as that kind (and fails: it is no book)
    with pytest.raises(DataError, match="missing required column"):
        Dataset(book=changed)
    # a table made invalid is a new object: checked again
    backwards = changed.take(pa.array(np.arange(changed.num_rows)[::-1]))
    with pytest.raises(DataError, match="non-decreasing"):
        replace(ds, trades=backwards)


def test_table_by_kind(ds):
    assert ds.table("oracle") is ds.oracle
    with pytest.raises(ValueError, match="unknown table kind 'quotes'"):
        ds.table("quotes")


# --------------------------------------------------------------------------- descriptions
def test_markets_venues_start_end(ds):
    assert ds.markets_traded == ["BTC-USD", "ETH-USD"]
    assert ds.venues == ["arb", "zk"]
    assert ds.start == at(0) and ds.end == at(9)
    assert isinstance(ds.start, pd.Timestamp) and str(ds.start.tz) == "UTC"
    only_book = Dataset(book=frames()["book"])
    assert only_book.markets_traded == [] and only_book.start is None  # trades define the span


def test_summary(ds):
    s = ds.summary()
    assert list(s.index) == list(KINDS)
    assert list(s.columns) == ["rows", "keys", "first", "last"]
    assert s["rows"].to_dict() == {"trades": 20, "funding": 10, "oracle": 10, "latency": 13, "book": 10,
                                   "book_levels": 0}
    assert s.loc["trades", "keys"] == "BTC-USD, ETH-USD"
    assert s.loc["latency", "keys"] == "arb, zk"
    full = s.drop(index="book_levels")
    assert (full["first"] == at(0)).all() and (full["last"] == at(9)).all()
    assert s.loc["book_levels", "keys"] == "" and pd.isna(s.loc["book_levels", "first"])
    e = Dataset().summary()
    assert (e["rows"] == 0).all() and (e["keys"] == "").all() and e["first"].isna().all()


def test_repr(ds):
    assert repr(ds) == ("Dataset(trades=20, funding=10, oracle=10, latency=13, book=10, book_levels=0; "
                        "markets=['BTC-USD', 'ETH-USD']; "
                        "2024-01-01 00:00:00+00:00 .. 2024-01-01 00:09:00+00:00)")
    assert repr(Dataset()) == ("Dataset(trades=0, funding=0, oracle=0, latency=0, book=0, book_levels=0; "
                               "markets=[]; None .. None)")
    big = Dataset(trades=pd.DataFrame({"ts": at([0] * 1234), "market": "BTC-USD", "price": 1.0,
                                       "size": 1.0, "side": 1}))
    assert repr(big).startswith("Dataset(trades=1,234, ")


# --------------------------------------------------------------------------- slice
def test_slice_is_half_open_on_every_table(ds):
    lo, hi = at(2), at(7)
    s = ds.slice(lo, hi)
    for kind in ("trades", "funding", "oracle", "book"):
        ts = ts_of(s.table(kind))
        full = ts_of(ds.table(kind))
        assert ts.min() == lo and ts.max() == at(6)  # rows exist at both bounds: start in, end out
        assert len(ts) == ((full >= lo) & (full < hi)).sum()
    lat = s.latency.to_pandas()
    assert lat.ts.min() == lo and lat.ts.max() < hi
    # zk has a row at every minute, so nothing is carried for it; arb's 00:00 row is carried
    assert list(lat[lat.venue == "zk"].ts) == list(at([2, 3, 4, 5, 6]))
    assert list(lat[lat.venue == "arb"].ts) == list(at([2, 4]))
    assert s.markets == ds.markets
    assert s.meta == {**META, "slice": [str(lo), str(hi)]}
    assert ds.meta == META  # the original is untouched


def test_slice_keeps_the_latency_state_in_force_at_start(ds):
    lo = at(4.5)  # inside zk's outage (minutes 3..6), between arb's rows at 4 and 8
    s = ds.slice(lo, at(8))
    lat = s.latency.to_pandas()
    first = lat[lat.ts == lo].set_index("venue")
    assert sorted(first.index) == ["arb", "zk"]  # one re-stamped row per venue
    assert not first.loc["zk", "up"]  # starts inside the outage: starts down
    assert first.loc["arb", "up"]
    full = ds.latency.to_pandas()
    for venue, minute in (("zk", 4), ("arb", 4)):
        src = full[(full.venue == venue) & (full.ts == at(minute))].iloc[0]
        assert (first.loc[venue].drop("ts") == src.drop(["ts", "venue"])).all()
    assert list(lat.ts) == sorted(lat.ts)  # still in time order overall
    assert list(lat[lat.venue == "zk"].up) == [False, False, False, True]  # 4.5, 5, 6, 7


def test_slice_at_a_row_instant_keeps_that_row_only(ds):
    s = ds.slice(at(3), at(4))  # zk goes down at exactly minute 3
    lat = s.latency.to_pandas()
    zk = lat[lat.venue == "zk"]
    assert list(zk.ts) == [at(3)] and list(zk.up) == [False]  # no stale 'up' row carried to 3
    assert list(lat[lat.venue == "arb"].ts) == [at(3)]  # arb's row of minute 0, re-stamped


def test_slice_schemas_stay_canonical(ds):
    for s in (ds.slice(at(4.5), at(8)), ds.slice(at(3)), ds.slice(end=at(5)), ds.slice()):
        for kind in KINDS:
            assert s.table(kind).schema.equals(SCHEMAS[kind]), kind


def test_slice_open_ends_and_empty_ranges(ds):
    assert ds.slice().trades.equals(ds.trades)
    assert ds.slice().latency.num_rows == ds.latency.num_rows
    head = ds.slice(end=at(3))
    assert ts_of(head.latency).max() == at(2) and head.latency.num_rows == 4  # nothing carried
    tail = ds.slice(at(20))  # after everything: only the state in force remains
    assert tail.trades.num_rows == 0
    assert tail.latency.num_rows == 2 and (ts_of(tail.latency) == at(20)).all()
    for lo, hi in ((at(5), at(5)), (at(6), at(2))):
        empty = ds.slice(lo, hi)
        assert all(empty.table(k).num_rows == 0 for k in KINDS), (lo, hi)


def test_slice_bounds_naive_is_utc_and_zones_convert(ds):
    a = ds.slice("2024-01-01 00:02", "2024-01-01 00:07")
    b = ds.slice(pd.Timestamp("2024-01-01 01:02", tz="Europe/Paris"), "2023-12-31T19:07:00-05:00")
    c = ds.slice(at(2), at(7))
    for kind in KINDS:
        assert a.table(kind).equals(c.table(kind)) and b.table(kind).equals(c.table(kind))


def test_slice_of_the_sample_starting_inside_the_outage():
    s = sample().slice("2022-11-09 15:30", "2022-11-09 18:00")
    lat = s.latency.to_pandas()
    assert lat.ts.iloc[0] == pd.Timestamp("2022-11-09 15:30", tz="UTC") and not lat.up.iloc[0]
    assert lat.ts.iloc[1] == pd.Timestamp("2022-11-09 15:31", tz="UTC")
    assert not lat[lat.ts < pd.Timestamp("2022-11-09 17:00", tz="UTC")].up.any()
    assert lat[lat.ts >= pd.Timestamp("2022-11-09 17:00", tz="UTC")].up.all()
    assert list(ts_of(s.funding).unique()) == list(pd.to_datetime(["2022-11-09 16:00", "2022-11-09 17:00"], utc=True))
    assert s.funding.num_rows == 2 * 2  # hourly, two markets
    assert s.start >= pd.Timestamp("2022-11-09 15:30", tz="UTC")
    assert s.end < pd.Timestamp("2022-11-09 18:00", tz="UTC")


@st.composite
def traces(draw):
    """A latency trace of up to three venues on an integer-second grid, plus a slice start."""
    venues = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=30))
    steps = draw(st.lists(st.integers(0, 3), min_size=len(venues), max_size=len(venues)))
    ups = draw(st.lists(st.booleans(), min_size=len(venues), max_size=len(venues)))
    secs = np.cumsum(steps)
    df = pd.DataFrame({"ts": T0 + pd.to_timedelta(secs, unit="s"), "venue": venues, "up": ups,
                       "order_latency": pd.to_timedelta(np.arange(len(venues)), unit="ms"),
                       "ack_latency": pd.Timedelta(0), "finality": pd.Timedelta(0)})
    start = draw(st.integers(-1, int(secs[-1]) + 2))
    return df, start


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces())
def test_slice_latency_state_matches_a_direct_computation(case):
    df, start = case
    lo = T0 + pd.Timedelta(seconds=start)
    got = Dataset(latency=df).slice(lo).latency.to_pandas()
    assert list(got.ts) == sorted(got.ts) and (got.ts >= lo).all()
    for venue, rows in df.groupby("venue"):
        mine = got[got.venue == venue]
        assert mine.equals(mine.sort_values("ts", kind="stable"))
        in_force = rows[rows.ts <= lo]
        after = rows[rows.ts >= lo]
        if in_force.empty:  # nothing known at lo: exactly the rows from lo on
            assert list(mine.ts) == list(after.ts) and list(mine.up) == list(after.up)
            assert list(mine.order_latency) == list(after.order_latency)
            continue
        # the state at lo is that of the last row at or before lo, stamped lo, and it is the
        # last of the rows at lo (so no stale state follows it at the same instant)
        at_lo = mine[mine.ts == lo]
        assert len(at_lo) >= 1
        assert at_lo.up.iloc[-1] == in_force.up.iloc[-1]
        assert at_lo.order_latency.iloc[-1] == in_force.order_latency.iloc[-1]
        assert len(mine) == len(after) + (0 if (rows.ts == lo).any() else 1)
        later = mine[mine.ts > lo]
        assert list(later.up) == list(after[after.ts > lo].up)


# --------------------------------------------------------------------------- save / load
def assert_same_dataset(a, b, *, meta=True):
    for kind in KINDS:
        ta, tb = unified(a.table(kind)), unified(b.table(kind))
        assert tb.schema.equals(SCHEMAS[kind]), kind
        assert ta.equals(tb), kind
    assert a.markets == b.markets
    if meta:
        assert a.meta == b.meta


def test_save_load_round_trip(ds, tmp_path):
    out = ds.save(tmp_path / "bundle")
    assert out == tmp_path / "bundle"
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{k}.parquet" for k in KINDS] + ["dataset.json"])
    assert json.loads((out / "dataset.json").read_text()) == {"markets": MARKETS, "meta": META}
    back = Dataset.load(out)
    assert_same_dataset(ds, back)
    assert Dataset.load(str(out)).markets == MARKETS  # str paths too


def test_save_load_round_trip_of_slices_and_empty(ds, tmp_path):
    s = ds.slice(at(4.5), at(8))  # re-stamped, re-chunked latency table
    assert_same_dataset(s, Dataset.load(s.save(tmp_path / "s")))
    assert_same_dataset(Dataset(), Dataset.load(Dataset().save(tmp_path / "e")))
    ds.save(tmp_path / "s")  # saving over a directory replaces what was there
    assert_same_dataset(ds, Dataset.load(tmp_path / "s"))


def test_save_load_round_trip_of_both_samples(tmp_path):
    for name in ("default", "btcusdt-tape"):
        src = sample(name)
        back = Dataset.load(src.save(tmp_path / name))
        assert_same_dataset(src, back, meta=False)
        # meta goes through JSON: values JSON cannot hold come back as JSON made them
        assert back.meta == json.loads(json.dumps(src.meta, default=str))


def test_load_missing_tables_and_no_json(ds, tmp_path):
    out = ds.save(tmp_path / "d")
    (out / "book.parquet").unlink()
    (out / "dataset.json").unlink()
    back = Dataset.load(out)
    assert back.book.num_rows == 0 and back.book.schema.equals(SCHEMAS["book"])
    assert back.trades.equals(ds.trades)
    assert back.markets == {} and back.meta == {}


def test_load_validates_the_files(ds, tmp_path):
    out = ds.save(tmp_path / "d")
    bad = ds.trades.to_pandas()
    bad.loc[2, "size"] = -1.0
    pq.write_table(conform(frames()["trades"], "trades").set_column(
        3, SCHEMAS["trades"].field("size"), pa.array(bad["size"])), out / "trades.parquet")
    with pytest.raises(DataError) as err:
        Dataset.load(out)
    assert err.value.column == "size" and err.value.row == 2
    assert "trades.parquet" in str(err.value)


def test_load_of_corrupt_files_names_the_file(ds, tmp_path):
    out = ds.save(tmp_path / "d")
    data = (out / "funding.parquet").read_bytes()
    (out / "funding.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as err:
        Dataset.load(out)
    assert err.value.source == str(out / "funding.parquet") and "parquet" in str(err.value).lower()
    out = ds.save(tmp_path / "e")
    (out / "dataset.json").write_text('{"markets": {')
    with pytest.raises(DataError) as err:
        Dataset.load(out)
    assert err.value.source == str(out / "dataset.json") and "json" in str(err.value).lower()


def test_load_of_a_non_directory_raises_file_not_found(ds, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a dataset directory"):
        Dataset.load(tmp_path / "nowhere")
    out = ds.save(tmp_path / "d")
    with pytest.raises(FileNotFoundError):
        Dataset.load(out / "trades.parquet")


def test_slice_carries_state_when_ts_is_not_the_first_column(ds):
    # validate() checks columns by name, so a canonical table may order them differently
    lat = ds.latency.select(["venue", "up", "ts", "order_latency", "ack_latency", "finality", "gas_fee"])
    s = Dataset(latency=lat).slice(at(4.5))
    got = s.latency.to_pandas()
    assert got.columns.tolist() == lat.column_names
    first = got[got.ts == at(4.5)].set_index("venue")
    assert sorted(first.index) == ["arb", "zk"] and not first.loc["zk", "up"]


def test_market_prices_are_one_markets_rows_in_time_order_computed_once():
    import copy
    import pickle

    ds = sample().slice("2022-11-08", "2022-11-09")
    t = ds.trades.to_pandas()
    ts, px = ds.market_prices("trades", "ETH-USD")
    eth = t[t["market"] == "ETH-USD"]
    assert np.array_equal(ts, eth["ts"].astype("int64").to_numpy())
    assert np.array_equal(px, eth["price"].to_numpy())
    assert ds.market_prices("trades", "ETH-USD")[0].base is ts.base  # cached per dataset
    with pytest.raises(ValueError, match="read-only"):
        px[0] = 1.0
    with pytest.raises(ValueError):
        px.setflags(write=True)  # a view of a read-only owner stays read-only
    o = ds.oracle.to_pandas()
    assert np.array_equal(ds.market_prices("oracle", "ETH-USD")[1], o.loc[o["market"] == "ETH-USD", "price"])
    assert sample("btcusdt-tape").market_prices("oracle", "BTC-USD")[0].size == 0  # no oracle table
    assert ds.market_prices("trades", "DOGE-USD")[0].size == 0
    with pytest.raises(ValueError, match="kind"):
        ds.market_prices("funding", "ETH-USD")
    # ties keep table order (the last row of a timestamp is the last price)
    rows = pd.DataFrame({"ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta([1, 1, 2], unit="s"), "market": "X",
                         "price": [10.0, 11.0, 20.0], "size": 1.0, "side": 1})
    assert list(Dataset(trades=rows).market_prices("trades", "X")[1]) == [10.0, 11.0, 20.0]
    # caches stay in the process: pickles and copies carry the tables only
    for clone in (pickle.loads(pickle.dumps(ds)), copy.deepcopy(ds)):
        assert not clone.__dict__.get("_memo") and clone == ds
        assert np.array_equal(clone.market_prices("trades", "ETH-USD")[1], px)
