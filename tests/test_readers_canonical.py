"""Readers of canonical tables: CSV, Parquet, Feather/IPC and partitioned Parquet datasets.

Round trips write a canonical table in each format and read back an equal table; the CSV
tests cover every text encoding of timestamps and durations; the dataset tests show that a
time range is pushed down (a corrupt file in a partition outside the range is never opened).
"""
import gzip

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from data_loaders import DataError, conform
from data_loaders.readers.canonical import (read_canonical_csv, read_canonical_dataset,
                                            read_canonical_feather, read_canonical_parquet)
from data_loaders.validate import META_SORTED

T0 = pd.Timestamp("2022-11-07", tz="UTC")
KINDS = ["trades", "funding", "oracle", "latency", "book"]


def canonical(kind, n=40, seed=0, start=T0, span="3D"):
    """A valid canonical table of ``kind``: two markets (venues), time-ordered."""
    rng = np.random.default_rng(seed)
    ts = start + pd.to_timedelta(np.sort(rng.integers(0, pd.Timedelta(span).value, n)), unit="ns")
    group = rng.choice(["BTC-USD", "ETH-USD"], n)
    cols = {"ts": ts, ("venue" if kind == "latency" else "market"): group}
    if kind == "trades":
        cols |= {"price": rng.uniform(1, 1e5, n).round(2), "size": rng.uniform(1e-3, 5, n).round(4),
                 "side": rng.choice([1, -1], n)}
    elif kind == "funding":
        oracle = rng.uniform(1e3, 1e5, n).round(3)
        oracle[::7] = np.nan  # nullable column: some rows without a price
        cols |= {"rate": rng.normal(0, 1e-4, n), "interval": pd.to_timedelta(rng.choice(["1h", "8h"], n)),
                 "oracle_price": oracle}
    elif kind == "oracle":
        cols |= {"price": rng.uniform(1, 1e5, n)}
    elif kind == "latency":
        cols |= {"order_latency": pd.to_timedelta(rng.integers(0, 10**9, n), unit="ns"),
                 "ack_latency": pd.to_timedelta(rng.integers(0, 10**9, n), unit="ns"),
                 "finality": pd.to_timedelta(rng.integers(0, 10**12, n), unit="ns"),
                 "up": rng.random(n) > 0.2, "gas_fee": rng.uniform(0, 1, n)}
    elif kind == "book":
        bid = rng.uniform(1e3, 1e5, n)
        cols |= {"bid": bid, "bid_size": rng.uniform(0, 5, n), "ask": bid + rng.uniform(0, 5, n),
                 "ask_size": rng.uniform(0, 5, n)}
    return conform(pd.DataFrame(cols), kind)


def assert_same(a: pa.Table, b: pa.Table):
    assert a.schema.remove_metadata() == b.schema.remove_metadata()
    pd.testing.assert_frame_equal(a.to_pandas(), b.to_pandas())


def write_text_csv(table: pa.Table, path):
    """CSV as a person would write it: ISO timestamps with zone, durations as integer ns."""
    df = table.to_pandas()
    for name in df.columns:
        if isinstance(df[name].dtype, pd.DatetimeTZDtype):
            df[name] = [t.isoformat() for t in df[name]]  # full ns precision, "+00:00"
        elif pd.api.types.is_timedelta64_dtype(df[name]):
            df[name] = df[name].astype("int64")
    df.to_csv(path, index=False)


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("kind", KINDS)
def test_csv_round_trip(tmp_path, kind):
    table = canonical(kind)
    path = tmp_path / f"{kind}.csv"
    write_text_csv(table, path)
    assert_same(read_canonical_csv(path, kind), table)


@pytest.mark.parametrize("kind", KINDS)
def test_csv_gz_round_trip(tmp_path, kind):
    table = canonical(kind, seed=3)
    plain = tmp_path / "x.csv"
    write_text_csv(table, plain)
    path = tmp_path / f"{kind}.csv.gz"
    path.write_bytes(gzip.compress(plain.read_bytes()))
    assert_same(read_canonical_csv(path, kind), table)


@pytest.mark.parametrize("kind", KINDS)
def test_parquet_round_trip(tmp_path, kind):
    table = canonical(kind, seed=1)
    pq.write_table(table, tmp_path / "t.parquet")
    assert_same(read_canonical_parquet(tmp_path / "t.parquet", kind), table)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("suffix", [".feather", ".arrow", ".ipc"])
def test_feather_round_trip(tmp_path, kind, suffix):
    table = canonical(kind, seed=2)
    feather.write_feather(table, tmp_path / f"t{suffix}")
    assert_same(read_canonical_feather(tmp_path / f"t{suffix}", kind), table)


def test_arrow_ipc_stream_format(tmp_path):
    table = canonical("oracle")
    with pa.ipc.new_stream(tmp_path / "t.arrows", table.schema) as writer:
        writer.write_table(table)
    assert_same(read_canonical_feather(tmp_path / "t.arrows", "oracle"), table)


@pytest.mark.parametrize("kind", KINDS)
def test_dataset_round_trip(tmp_path, kind):
    table = canonical(kind, n=300, seed=4)
    write_daily(table, tmp_path / "ds")
    assert_same(read_canonical_dataset(tmp_path / "ds", kind), table)


def test_metadata_survives_parquet(tmp_path):
    table = canonical("trades").replace_schema_metadata({b"data_loaders.synthetic_trades": b"ohlcv"})
    pq.write_table(table, tmp_path / "t.parquet")
    out = read_canonical_parquet(tmp_path / "t.parquet", "trades")
    assert out.schema.metadata[b"data_loaders.synthetic_trades"] == b"ohlcv"


# --------------------------------------------------------------------------- CSV text encodings
def test_csv_naive_timestamps_need_tz(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("ts,market,price\n2022-11-07 00:00:00,BTC-USD,100\n2022-11-07 01:00:00,BTC-USD,101\n")
    with pytest.raises(DataError, match="timezone-naive") as err:
        read_canonical_csv(path, "oracle")
    assert str(path) in str(err.value) and err.value.column == "ts"
    out = read_canonical_csv(path, "oracle", tz="Europe/Berlin")  # UTC+1 in November
    assert out.column("ts")[0].as_py() == pd.Timestamp("2022-11-06 23:00", tz="UTC")


def test_csv_offsets_and_zones(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("ts,market,price\n2022-11-07T03:00:00+03:00,A,1\n2022-11-07T00:00:01Z,A,2\n")
    ts = read_canonical_csv(path, "oracle").column("ts").to_pylist()
    assert ts == [pd.Timestamp("2022-11-07 00:00:00", tz="UTC"), pd.Timestamp("2022-11-07 00:00:01", tz="UTC")]


def test_csv_mixed_zone_and_naive_is_an_error(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("ts,market,price\n2022-11-07T00:00:00Z,A,1\n2022-11-07 00:00:01,A,2\n")
    with pytest.raises(DataError, match="mixed zones") as err:
        read_canonical_csv(path, "oracle", tz="UTC")
    assert (err.value.row, err.value.line) == (1, 3)


def test_csv_integer_epochs_need_ts_unit(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("ts,market,price\n1667779200000,A,1\n1667779200500,A,2\n")
    with pytest.raises(DataError, match="ts_unit"):
        read_canonical_csv(path, "oracle")
    out = read_canonical_csv(path, "oracle", ts_unit="ms")
    assert out.column("ts")[1].as_py() == pd.Timestamp("2022-11-07 00:00:00.5", tz="UTC")


def test_csv_duration_strings_and_bools(tmp_path):
    path = tmp_path / "lat.csv"
    path.write_text("ts,venue,order_latency,ack_latency,finality,up,gas_fee\n"
                    "2022-11-07T00:00:00Z,dydx,250ms,1s,1500000,true,0.01\n"
                    "2022-11-07T00:01:00Z,dydx,1h,0.5s,0,FALSE,0\n")
    out = read_canonical_csv(path, "latency").to_pandas()
    assert out["order_latency"].tolist() == [pd.Timedelta("250ms"), pd.Timedelta("1h")]
    assert out["ack_latency"].tolist() == [pd.Timedelta("1s"), pd.Timedelta("500ms")]
    assert out["finality"].tolist() == [pd.Timedelta(1_500_000, "ns"), pd.Timedelta(0)]
    assert out["up"].tolist() == [True, False]


def test_csv_funding_defaults_and_empty_oracle_price(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("ts,market,rate,oracle_price\n2022-11-07T00:00:00Z,A,0.0001,\n"
                    "2022-11-07T01:00:00Z,A,-0.0002,20000.5\n")
    out = read_canonical_csv(path, "funding").to_pandas()
    assert out["interval"].tolist() == [pd.Timedelta("1h")] * 2  # the canonical default
    assert np.isnan(out["oracle_price"][0]) and out["oracle_price"][1] == 20000.5


def test_csv_bad_value_names_file_row_line_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("ts,market,price,size,side\n"
                    "2022-11-07T00:00:00Z,A,100,1,1\n"
                    "2022-11-07T00:00:01Z,A,100,1,-1\n"
                    "2022-11-07T00:00:02Z,A,abc,1,1\n")
    with pytest.raises(DataError) as err:
        read_canonical_csv(path, "trades")
    e = err.value
    assert (e.column, e.row, e.line, e.value) == ("price", 2, 4, "abc")
    assert str(path) in str(e) and "line 4" in str(e)


def test_csv_value_out_of_range_names_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("ts,market,price,size,side\n2022-11-07T00:00:00Z,A,100,1,1\n"
                    "2022-11-07T00:00:01Z,A,100,0,1\n")
    with pytest.raises(DataError, match=r"column 'size', row 1 \(line 3\)"):
        read_canonical_csv(path, "trades")


def test_csv_bad_duration_and_bool(tmp_path):
    path = tmp_path / "lat.csv"
    path.write_text("ts,venue,order_latency,ack_latency,finality,up\n"
                    "2022-11-07T00:00:00Z,v,1s,1s,1s,yes\n2022-11-07T00:00:01Z,v,soon,1s,1s,true\n")
    with pytest.raises(DataError) as err:
        read_canonical_csv(path, "latency")
    assert (err.value.column, err.value.row, err.value.line) == ("order_latency", 1, 3)
    path.write_text("ts,venue,order_latency,ack_latency,finality,up\n2022-11-07T00:00:00Z,v,1s,1s,1s,maybe\n")
    with pytest.raises(DataError, match="boolean"):
        read_canonical_csv(path, "latency")


def test_csv_ragged_line_is_reported(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("ts,market,price\n2022-11-07T00:00:00Z,A,1\n2022-11-07T00:00:01Z,A\n")
    with pytest.raises(DataError, match="line 3"):
        read_canonical_csv(path, "oracle")


def test_csv_empty_file(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("")
    with pytest.raises(DataError, match="empty"):
        read_canonical_csv(path, "oracle")


def test_csv_missing_column(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("ts,market\n2022-11-07T00:00:00Z,A\n")
    with pytest.raises(DataError, match="missing required column"):
        read_canonical_csv(path, "oracle")


def test_unsorted_file_is_an_error_unless_sort(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("ts,market,price\n2022-11-07T00:00:02Z,A,1\n2022-11-07T00:00:01Z,A,2\n"
                    "2022-11-07T00:00:03Z,A,3\n")
    with pytest.raises(DataError, match="sort=True") as err:
        read_canonical_csv(path, "oracle")
    assert (err.value.column, err.value.row, err.value.line) == ("ts", 1, 3)
    out = read_canonical_csv(path, "oracle", sort=True)
    assert out.column("price").to_pylist() == [2.0, 1.0, 3.0]
    assert out.schema.metadata[META_SORTED] == b"2"


# --------------------------------------------------------------------------- partitioned datasets
def write_daily(table: pa.Table, root, key="date"):
    """One ``key=YYYY-MM-DD`` directory per UTC day, files in time order."""
    days = table.column("ts").to_pandas().dt.strftime("%Y-%m-%d").to_numpy()
    for day in sorted(set(days)):
        part = root / f"{key}={day}"
        part.mkdir(parents=True)
        pq.write_table(table.filter(pa.array(days == day)), part / "part-0.parquet")
    return sorted(set(days))


def test_dataset_range_reads_only_the_range(tmp_path):
    table = canonical("trades", n=500, seed=5, span="4D")
    days = write_daily(table, tmp_path / "ds")
    assert days == ["2022-11-07", "2022-11-08", "2022-11-09", "2022-11-10"]
    start, end = pd.Timestamp("2022-11-08 06:00", tz="UTC"), pd.Timestamp("2022-11-09 12:00", tz="UTC")
    out = read_canonical_dataset(tmp_path / "ds", "trades", start=start, end=end)
    ts = table.column("ts").to_pandas()
    expected = table.filter(pa.array(((ts >= start) & (ts < end)).to_numpy()))
    assert out.num_rows == expected.num_rows > 0
    assert_same(out, expected)
    assert "date" not in out.column_names  # non-canonical partition key is ignored


def test_dataset_partition_outside_range_is_not_opened(tmp_path):
    table = canonical("trades", n=500, seed=6, span="4D")
    write_daily(table, tmp_path / "ds")
    # corrupt the last day's file: reading it would fail
    (tmp_path / "ds" / "date=2022-11-10" / "part-0.parquet").write_bytes(b"not parquet at all")
    out = read_canonical_dataset(tmp_path / "ds", "trades", start="2022-11-08", end="2022-11-10")
    assert out.num_rows > 0
    assert out.column("ts").to_pandas().between("2022-11-08", "2022-11-10", inclusive="left").all()
    with pytest.raises(Exception):  # the full read does open it
        read_canonical_dataset(tmp_path / "ds", "trades")


def test_dataset_fragments_pruned_by_day(tmp_path):
    table = canonical("oracle", n=200, seed=7, span="4D")
    write_daily(table, tmp_path / "ds")
    dataset = ds.dataset(tmp_path / "ds", partitioning="hive")
    expr = (ds.field("date") >= "2022-11-08") & (ds.field("date") <= "2022-11-08")
    assert len(list(dataset.get_fragments())) == 4
    assert len(list(dataset.get_fragments(filter=expr))) == 1
    out = read_canonical_dataset(tmp_path / "ds", "oracle", start="2022-11-08", end="2022-11-09")
    assert set(out.column("ts").to_pandas().dt.strftime("%Y-%m-%d")) == {"2022-11-08"}


def test_dataset_without_day_partitions_still_filters(tmp_path):
    table = canonical("oracle", n=300, seed=8, span="2D")
    ds.write_dataset(table, tmp_path / "flat", format="parquet", max_rows_per_file=40,
                     max_rows_per_group=40, use_threads=False)
    out = read_canonical_dataset(tmp_path / "flat", "oracle", start="2022-11-07 12:00")
    ts = table.column("ts").to_pandas()
    assert out.num_rows == int((ts >= pd.Timestamp("2022-11-07 12:00", tz="UTC")).sum())
    # part-10 must come after part-2: files are read in natural order
    assert_same(read_canonical_dataset(tmp_path / "flat", "oracle"), table)


def test_dataset_market_partitions_and_filter(tmp_path):
    table = canonical("trades", n=200, seed=9)
    markets = table.column("market").to_pylist()
    for m in ("BTC-USD", "ETH-USD"):
        part = tmp_path / "ds" / f"market={m}"
        part.mkdir(parents=True)
        pq.write_table(table.filter(pa.array([x == m for x in markets])).drop_columns(["market"]),
                       part / "part-0.parquet")
    out = read_canonical_dataset(tmp_path / "ds", "trades", filter=ds.field("market") == "ETH-USD")
    assert set(out.column("market").to_pylist()) == {"ETH-USD"}
    assert out.num_rows == markets.count("ETH-USD")


def test_dataset_naive_timestamps_with_tz(tmp_path):
    table = canonical("oracle", n=100, seed=10, span="3D")
    local = table.set_column(0, "ts", table.column("ts").cast(pa.timestamp("ns")))  # naive UTC wall times
    write_daily(table, tmp_path / "ds")
    for part in (tmp_path / "ds").iterdir():
        t = pq.read_table(part / "part-0.parquet")
        pq.write_table(t.set_column(0, "ts", t.column("ts").cast(pa.timestamp("ns"))), part / "part-0.parquet")
    with pytest.raises(DataError, match="timezone-naive"):
        read_canonical_dataset(tmp_path / "ds", "oracle", start="2022-11-08")
    out = read_canonical_dataset(tmp_path / "ds", "oracle", start="2022-11-08", end="2022-11-09", tz="UTC")
    ts = local.column("ts").to_pandas()
    assert out.num_rows == int(((ts >= "2022-11-08") & (ts < "2022-11-09")).sum())


def test_dataset_integer_epochs(tmp_path):
    table = canonical("oracle", n=100, seed=11)
    ints = table.set_column(0, "ts", table.column("ts").cast(pa.int64()))
    (tmp_path / "ds").mkdir()
    pq.write_table(ints, tmp_path / "ds" / "part-0.parquet")
    out = read_canonical_dataset(tmp_path / "ds", "oracle", start="2022-11-08", ts_unit="ns")
    ts = table.column("ts").to_pandas()
    assert out.num_rows == int((ts >= pd.Timestamp("2022-11-08", tz="UTC")).sum())


def test_dataset_out_of_order_files_need_sort(tmp_path):
    table = canonical("oracle", n=50, seed=12)
    (tmp_path / "ds").mkdir()
    pq.write_table(table.slice(25), tmp_path / "ds" / "part-0.parquet")
    pq.write_table(table.slice(0, 25), tmp_path / "ds" / "part-1.parquet")
    with pytest.raises(DataError, match="sort=True"):
        read_canonical_dataset(tmp_path / "ds", "oracle")
    assert read_canonical_dataset(tmp_path / "ds", "oracle", sort=True).column("ts").equals(table.column("ts"))


def test_csv_local_time_in_a_dst_gap_names_row_and_line(tmp_path):
    # 02:30 on 2022-03-27 never happened in Berlin (clocks jumped from 02:00 to 03:00)
    path = tmp_path / "o.csv"
    path.write_text("ts,market,price\n2022-03-27 01:30:00,A,1\n2022-03-27 02:30:00,A,2\n")
    with pytest.raises(DataError, match="DST") as err:
        read_canonical_csv(path, "oracle", tz="Europe/Berlin")
    assert (err.value.column, err.value.row, err.value.line) == ("ts", 1, 3)
    with pytest.raises(DataError, match="time zone"):
        read_canonical_csv(path, "oracle", tz="Mars/Olympus_Mons")


def test_csv_header_only_is_an_empty_table(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("ts,market,price\n")
    out = read_canonical_csv(path, "oracle")
    assert out.num_rows == 0 and out.schema.field("ts").type == pa.timestamp("ns", tz="UTC")


# --------------------------------------------------------------------------- unparseable timestamps
ZONED = "2022-11-07T00:00:0{}Z"
NAIVE = "2022-11-07 00:00:0{}"
EPOCH = "166777920{}000"


@pytest.mark.parametrize("values, bad_row, kwargs", [
    ([ZONED.format(0), ZONED.format(1), "yesterday"], 2, {}),       # ISO with zones
    (["yesterday", ZONED.format(1), ZONED.format(2)], 0, {}),       # the bad one first
    ([NAIVE.format(0), "yesterday", NAIVE.format(2)], 1, {"tz": "UTC"}),
    ([EPOCH.format(0), EPOCH.format(1), "yesterday"], 2, {"ts_unit": "ms"}),  # epoch integers
    ([ZONED.format(0), "now", ZONED.format(2)], 1, {}),              # pandas would read the clock
    ([NAIVE.format(0), "today", NAIVE.format(2)], 1, {"tz": "UTC"}),
    ([ZONED.format(0), "2022-13-45T00:00:00Z", ZONED.format(2)], 1, {}),  # no such date
    ([ZONED.format(0), "12:30", ZONED.format(2)], 1, {}),
], ids=["zoned", "first", "naive", "epoch", "now", "today", "no-such-date", "time-only"])
def test_csv_unparseable_timestamp_names_value_row_line_column(tmp_path, values, bad_row, kwargs):
    path = tmp_path / "o.csv"
    path.write_text("ts,market,price\n" + "".join(f"{v},A,{i + 1}\n" for i, v in enumerate(values)))
    with pytest.raises(DataError) as err:
        read_canonical_csv(path, "oracle", **kwargs)
    e = err.value
    assert "cannot be parsed as a timestamp" in str(e) and "mixed" not in str(e)
    assert (e.column, e.row, e.line, e.value) == ("ts", bad_row, bad_row + 2, values[bad_row])
    assert str(path) in str(e) and repr(values[bad_row]) in str(e)


def test_csv_epochs_mixed_with_iso_text(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text(f"ts,market,price\n{EPOCH.format(0)},A,1\n{ZONED.format(1)},A,2\n")
    with pytest.raises(DataError, match="integer epochs and ISO") as err:
        read_canonical_csv(path, "oracle", ts_unit="ms")
    assert (err.value.row, err.value.line, err.value.value) == (1, 3, ZONED.format(1))


def test_csv_utc_suffix_is_a_zone(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("ts,market,price\n2022-11-07 00:00:00 UTC,A,1\n2022-11-07T00:00:01Z,A,2\n")
    ts = read_canonical_csv(path, "oracle").column("ts").to_pylist()
    assert ts == [T0, T0 + pd.Timedelta("1s")]


def test_parquet_unparseable_text_timestamp_names_row(tmp_path):
    path = tmp_path / "o.parquet"
    pq.write_table(pa.table({"ts": [ZONED.format(0), "yesterday"], "market": ["A", "A"], "price": [1.0, 2.0]}), path)
    with pytest.raises(DataError, match="cannot be parsed as a timestamp") as err:
        read_canonical_parquet(path, "oracle")
    assert (err.value.column, err.value.row, err.value.line) == ("ts", 1, None)
