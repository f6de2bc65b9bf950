"""The canonical schemas and their validation rules.

Every rule has a test that a table breaking it gets a DataError naming the right column and
row; hypothesis generates valid tables (which must pass) and single corruptions (which must be
caught at exactly the corrupted row).
"""
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_loaders import SCHEMAS, DataError, conform, validate
from data_loaders.validate import META_DEDUPED, META_SORTED

MARKETS = ["BTC-USD", "ETH-USD", "SOL-USD"]
T0 = pd.Timestamp("2022-11-07", tz="UTC")


def frame(kind, n, rng, groups=MARKETS):
    """A valid DataFrame of ``kind`` with n rows, time-ordered overall."""
    ts = T0 + pd.to_timedelta(np.sort(rng.integers(0, 10**12, n)), unit="ns")
    key = "venue" if kind == "latency" else "market"
    g = rng.choice(groups, n)
    cols = {"ts": ts, key: g}
    if kind == "trades":
        cols |= {"price": rng.uniform(1, 1e5, n), "size": rng.uniform(1e-4, 10, n),
                 "side": rng.choice([1, -1], n)}
    elif kind == "funding":
        cols |= {"rate": rng.normal(0, 1e-4, n), "interval": pd.to_timedelta(["1h"] * n),
                 "oracle_price": rng.uniform(1, 1e5, n)}
    elif kind == "oracle":
        cols |= {"price": rng.uniform(1, 1e5, n)}
    elif kind == "latency":
        cols |= {"order_latency": pd.to_timedelta(rng.integers(0, 10**9, n), unit="ns"),
                 "ack_latency": pd.to_timedelta(rng.integers(0, 10**9, n), unit="ns"),
                 "finality": pd.to_timedelta(rng.integers(0, 10**12, n), unit="ns"),
                 "up": rng.random(n) > 0.1, "gas_fee": rng.uniform(0, 1, n)}
    elif kind == "book":
        bid = rng.uniform(1, 1e5, n)
        cols |= {"bid": bid, "bid_size": rng.uniform(0, 5, n), "ask": bid * (1 + rng.uniform(0, 1e-3, n)),
                 "ask_size": rng.uniform(0, 5, n)}
    elif kind == "book_levels":  # bids below 1000 and asks above 2000: never a crossed book
        side = rng.choice(np.array([1, -1], np.int8), n)
        cols |= {"side": side, "price": np.where(side > 0, rng.uniform(1, 1e3, n), rng.uniform(2e3, 3e3, n)),
                 "size": rng.uniform(0, 5, n), "is_snapshot": rng.random(n) < 0.2}
    return pd.DataFrame(cols)


# (kind, column, bad value) for every value rule
CORRUPTIONS = [
    ("trades", "price", 0.0), ("trades", "price", -5.0), ("trades", "price", np.inf), ("trades", "price", np.nan),
    ("trades", "size", 0.0), ("trades", "size", -1.0), ("trades", "size", np.nan),
    ("trades", "side", 0), ("trades", "side", 2),
    ("funding", "rate", 1.5), ("funding", "rate", -1.0), ("funding", "rate", np.inf),
    ("funding", "interval", pd.Timedelta(0)), ("funding", "oracle_price", -3.0),
    ("oracle", "price", 0.0), ("oracle", "price", np.nan),
    ("latency", "order_latency", pd.Timedelta(-1)), ("latency", "ack_latency", pd.Timedelta("-1s")),
    ("latency", "finality", pd.Timedelta("-1ms")), ("latency", "gas_fee", -0.01), ("latency", "gas_fee", np.inf),
    ("book", "bid", 0.0), ("book", "ask", -1.0), ("book", "bid_size", -1.0), ("book", "ask_size", np.nan),
    ("book_levels", "price", 0.0), ("book_levels", "price", np.inf), ("book_levels", "size", -1.0),
    ("book_levels", "size", np.nan), ("book_levels", "side", 0), ("book_levels", "side", 2),
]


@pytest.mark.parametrize("kind", list(SCHEMAS))
def test_valid_frames_conform_to_the_exact_schema(kind):
    t = conform(frame(kind, 50, np.random.default_rng(1)), kind)
    assert t.schema.equals(SCHEMAS[kind], check_metadata=False)
    assert validate(t, kind) is t
    assert t.num_rows == 50


@pytest.mark.parametrize("kind,column,bad", CORRUPTIONS)
def test_each_value_rule_names_column_and_row(kind, column, bad):
    df = frame(kind, 20, np.random.default_rng(2))
    df[column] = df[column].astype(object) if isinstance(bad, pd.Timedelta) else df[column]
    df.loc[13, column] = bad
    df.loc[17, column] = bad
    if isinstance(bad, pd.Timedelta):
        df[column] = pd.to_timedelta(df[column])
    with pytest.raises(DataError) as err:
        conform(df, kind, source="x.csv", line_offset=2)
    e = err.value
    assert (e.column, e.row, e.line, e.source) == (column, 13, 15, "x.csv")
    assert "x.csv" in str(e) and repr(column) in str(e) and "row 13 (line 15)" in str(e)
    assert "expected" in str(e)


def test_crossed_book_is_an_error():
    df = frame("book", 10, np.random.default_rng(3))
    df.loc[4, "ask"] = df.loc[4, "bid"] * 0.99
    with pytest.raises(DataError, match=r"row 4.*crossed book"):
        conform(df, "book")


@pytest.mark.parametrize("kind", list(SCHEMAS))
def test_out_of_order_timestamp_per_group_is_caught(kind):
    df = frame(kind, 30, np.random.default_rng(4), groups=["A"])
    df.loc[20, "ts"] = df.loc[10, "ts"] - pd.Timedelta(1)
    with pytest.raises(DataError) as err:
        conform(df, kind, source="f.parquet")
    assert (err.value.column, err.value.row) == ("ts", 20)
    assert "sort=True" in str(err.value)


def test_order_is_per_market_not_global():
    df = pd.DataFrame({"ts": T0 + pd.to_timedelta([3, 1, 4, 2], unit="ns"), "market": ["A", "B", "A", "B"],
                       "price": 1.0, "size": 1.0, "side": 1})
    t = conform(df, "trades")  # each market is non-decreasing: valid
    assert t.column("ts").to_pylist() == list(df["ts"])  # and nothing was re-ordered


def test_latency_order_is_per_venue():
    df = frame("latency", 6, np.random.default_rng(5), groups=["dydx"])
    df["venue"] = ["dydx", "arb", "dydx", "arb", "dydx", "arb"]
    df.loc[3, "ts"] = df.loc[0, "ts"]  # arb: row 1 > row 3 -> error at row 3
    with pytest.raises(DataError) as err:
        conform(df, "latency")
    assert (err.value.column, err.value.row) == ("ts", 3)


def test_sort_is_opt_in_and_reports_rows_moved(caplog):
    df = frame("trades", 10, np.random.default_rng(6), groups=["A"])
    df = df.iloc[[0, 1, 2, 5, 3, 4, 6, 7, 8, 9]].reset_index(drop=True)
    with pytest.raises(DataError):
        conform(df, "trades")
    with caplog.at_level("INFO", logger="data_loaders"):
        t = conform(df, "trades", sort=True)
    assert t.schema.metadata[META_SORTED] == b"3"
    assert "3 rows moved" in caplog.text
    assert t.num_rows == 10 and (np.diff(t.column("ts").cast(pa.int64()).to_numpy()) >= 0).all()


def test_drop_duplicates_is_opt_in_and_reports_count():
    df = frame("trades", 5, np.random.default_rng(7), groups=["A"])
    df = pd.concat([df, df.iloc[[2, 4]]]).sort_values("ts", kind="stable").reset_index(drop=True)
    assert conform(df, "trades").num_rows == 7  # duplicates are data until asked otherwise
    t = conform(df, "trades", drop_duplicates=True)
    assert t.num_rows == 5 and t.schema.metadata[META_DEDUPED] == b"2"


def test_missing_column_and_wrong_type_are_named():
    df = frame("trades", 3, np.random.default_rng(8)).drop(columns="size")
    with pytest.raises(DataError, match=r"column 'size'.*missing required column"):
        conform(df, "trades", source="t.csv")
    t = conform(frame("trades", 3, np.random.default_rng(8)), "trades")
    with pytest.raises(DataError, match=r"column 'price'.*wrong type"):
        validate(t.set_column(2, "price", t.column("price").cast(pa.float32())), "trades")


def test_naive_timestamps_need_an_explicit_zone():
    df = frame("oracle", 3, np.random.default_rng(9))
    naive = df.assign(ts=df["ts"].dt.tz_localize(None))
    with pytest.raises(DataError, match=r"column 'ts'.*timezone-naive"):
        conform(naive, "oracle")
    t = conform(naive.assign(ts=naive["ts"] + pd.Timedelta("3h")), "oracle", tz="Etc/GMT-3")  # UTC+3
    assert t.column("ts").to_pylist() == list(df["ts"])


def test_other_units_and_zones_become_ns_utc():
    ts = pd.to_datetime(["2022-11-07 03:00"]).tz_localize("Europe/Moscow").as_unit("ms")
    df = pd.DataFrame({"ts": ts, "market": ["A"], "price": [1], "size": [2], "side": [-1.0]})
    t = conform(df, "trades")
    assert t.schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    assert t.column("ts")[0].value == pd.Timestamp("2022-11-07 00:00", tz="UTC").value
    assert t.column("side").to_pylist() == [-1] and t.column("price").type == pa.float64()


def test_nulls_are_rejected_where_not_allowed_and_defaults_fill_optional_columns():
    df = frame("funding", 4, np.random.default_rng(10)).drop(columns=["interval", "oracle_price"])
    t = conform(df, "funding")
    assert t.column("interval").to_pylist() == [pd.Timedelta("1h")] * 4
    assert t.column("oracle_price").null_count == 4
    df.loc[2, "rate"] = None
    with pytest.raises(DataError, match=r"column 'rate', row 2: null value"):
        conform(df, "funding")


def test_non_numeric_text_names_the_row():
    df = pd.DataFrame({"ts": T0 + pd.to_timedelta([1, 2], unit="ns"), "market": "A",
                       "price": ["1.5", "abc"], "size": [1.0, 1.0], "side": [1, 1]})
    with pytest.raises(DataError, match=r"column 'price', row 1: value 'abc'"):
        conform(df, "trades")


# ------------------------------------------------------------------------------ properties
kinds = st.sampled_from(list(SCHEMAS))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=kinds, n=st.integers(0, 60), seed=st.integers(0, 2**32 - 1))
def test_random_valid_tables_pass(kind, n, seed):
    t = conform(frame(kind, n, np.random.default_rng(seed)), kind)
    assert t.num_rows == n
    validate(t, kind)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(CORRUPTIONS), n=st.integers(2, 60), seed=st.integers(0, 2**32 - 1),
       data=st.data())
def test_random_corruptions_are_caught_at_their_row(case, n, seed, data):
    kind, column, bad = case
    row = data.draw(st.integers(0, n - 1))
    df = frame(kind, n, np.random.default_rng(seed))
    if isinstance(bad, pd.Timedelta):
        values = list(df[column])
        values[row] = bad
        df[column] = pd.to_timedelta(values)
    else:
        df[column] = df[column].astype(float) if column != "side" else df[column]
        df.loc[row, column] = bad
    table = pa.Table.from_pandas(df, preserve_index=False)
    with pytest.raises(DataError) as err:
        conform(table, kind)
    assert (err.value.column, err.value.row) == (column, row)


@settings(max_examples=60, deadline=None)
@given(kind=kinds, n=st.integers(3, 60), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_random_time_reversals_are_caught(kind, n, seed, data):
    df = frame(kind, n, np.random.default_rng(seed), groups=["X"])
    df["ts"] = T0 + pd.to_timedelta(np.arange(n) * 1000, unit="ns")
    row = data.draw(st.integers(1, n - 1))
    df.loc[row, "ts"] = df.loc[row - 1, "ts"] - pd.Timedelta(1)
    with pytest.raises(DataError) as err:
        conform(df, kind)
    assert (err.value.column, err.value.row) == ("ts", row)
