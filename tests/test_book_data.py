"""The ``book_levels`` table kind: validation, replay (``data_loaders.book``), Dataset rules
(one book kind per market, slicing, summary, files), plausibility against the trades."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import data_loaders as dl
from data_loaders import DataError, Dataset, conform, plausible
from data_loaders.book import book_at, book_state, first_crossed, tops

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def at(*seconds):
    return [T0 + pd.Timedelta(seconds=s) for s in seconds]


def levels(rows, market="BTC-USD"):
    """A book_levels DataFrame from (second, side, price, size, is_snapshot) tuples."""
    s, side, price, size, snap = zip(*rows)
    return pd.DataFrame({"ts": at(*s), "market": market, "side": side, "price": price, "size": size,
                         "is_snapshot": snap})


BOOK = [(0, 1, 99.0, 1.0, True), (0, 1, 98.0, 2.0, True), (0, -1, 101.0, 3.0, True), (0, -1, 102.0, 4.0, True),
        (1, 1, 100.0, 0.5, False), (2, -1, 101.0, 0.0, False), (3, 1, 97.0, 5.0, True)]


# --------------------------------------------------------------------------- reference replay
def replay_reference(df, market, t):
    """The book after the rows stamped <= t, by the contract's words, one row at a time."""
    book = {1: {}, -1: {}}
    prev = None
    for r in df.itertuples(index=False):
        if r.market != market or r.ts > t:
            prev = None if r.market != market else prev
            continue
        key = (r.ts, r.side)
        if r.is_snapshot and not (prev is not None and prev[0] and prev[1] == key):
            book[r.side] = {}
        if r.size == 0:
            book[r.side].pop(r.price, None)
        else:
            book[r.side][r.price] = r.size
        prev = (r.is_snapshot, key)
    bids = sorted(book[1].items(), reverse=True)
    asks = sorted(book[-1].items())
    return bids, asks


def as_pairs(frame):
    return list(zip(frame.price.tolist(), frame["size"].tolist()))


def random_levels(rng, n, markets=("A", "B")):
    """Random level rows that never cross: bids below 100, asks above 100."""
    ts = np.sort(rng.integers(0, 40, n))
    side = rng.choice([1, -1], n)
    ticks = rng.integers(1, 8, n)
    price = np.where(side > 0, 100 - ticks, 100 + ticks).astype(float)
    size = np.where(rng.random(n) < 0.25, 0.0, rng.integers(1, 9, n).astype(float))
    snap = rng.random(n) < 0.3
    return pd.DataFrame({"ts": [T0 + pd.Timedelta(seconds=int(s)) for s in ts],
                         "market": rng.choice(list(markets), n), "side": side, "price": price, "size": size,
                         "is_snapshot": snap})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 80), second=st.integers(-1, 41))
def test_book_at_equals_a_row_by_row_replay(seed, n, second):
    df = random_levels(np.random.default_rng(seed), n)
    table = conform(df, "book_levels")
    t = T0 + pd.Timedelta(seconds=second)
    for market in sorted(set(df.market)):
        bids, asks = book_at(table, market, t, depth=None)
        want_bids, want_asks = replay_reference(df, market, t)
        assert as_pairs(bids) == want_bids and as_pairs(asks) == want_asks


def test_book_at_known_answer_and_depth():
    table = conform(levels(BOOK), "book_levels")
    bids, asks = book_at(table, "BTC-USD", at(2)[0])
    assert as_pairs(bids) == [(100.0, 0.5), (99.0, 1.0), (98.0, 2.0)] and as_pairs(asks) == [(102.0, 4.0)]
    bids, asks = book_at(table, "BTC-USD", at(3)[0], depth=1)  # the snapshot at 3 s replaced the bids
    assert as_pairs(bids) == [(97.0, 5.0)] and as_pairs(asks) == [(102.0, 4.0)]
    bids, asks = book_at(table, "BTC-USD", T0 - pd.Timedelta("1s"))
    assert bids.empty and asks.empty and list(bids.columns) == ["price", "size"]
    with pytest.raises(ValueError, match="no book rows of market 'ETH-USD'"):
        book_at(table, "ETH-USD", T0)
    with pytest.raises(ValueError, match="depth"):
        book_at(table, "BTC-USD", T0, depth=0)


def test_tops_are_the_best_prices_after_each_row():
    bid, ask = tops(conform(levels(BOOK), "book_levels"))
    np.testing.assert_array_equal(bid, [99, 99, 99, 99, 100, 100, 97])
    np.testing.assert_array_equal(ask, [np.nan, np.nan, 101, 101, 101, 102, 102])


# --------------------------------------------------------------------------- validation
def test_crossed_rebuilt_book_names_the_row_column_and_value():
    rows = BOOK + [(4, 1, 102.5, 1.0, False)]
    with pytest.raises(DataError, match="crossed book") as err:
        conform(levels(rows), "book_levels", source="levels.csv")
    e = err.value
    assert (e.source, e.column, e.row, e.value) == ("levels.csv", "price", 7, 102.5)
    assert "best bid 102.5 >= best ask 102.0" in str(e)


def test_a_book_crossed_inside_a_timestamp_but_not_at_its_end_is_valid():
    # the bids move up past the old ask, then the asks follow, all at 1 s
    rows = [(0, 1, 99.0, 1.0, True), (0, -1, 100.0, 1.0, True),
            (1, 1, 101.0, 1.0, True), (1, -1, 102.0, 1.0, True)]
    table = conform(levels(rows), "book_levels")
    assert first_crossed(table) is None


def test_a_locked_book_is_crossed():
    with pytest.raises(DataError, match="crossed book"):
        conform(levels([(0, 1, 100.0, 1.0, False), (0, -1, 100.0, 1.0, False)]), "book_levels")


@pytest.mark.parametrize("column, value, expected", [
    ("side", 0, "side +1 (bid) or -1 (ask)"), ("price", 0.0, "a finite price > 0"),
    ("price", np.inf, "a finite price > 0"), ("size", -1.0, "a finite size >= 0 (0 removes the level)"),
    ("size", np.inf, "a finite size >= 0 (0 removes the level)")])
def test_bad_values_name_row_and_column(column, value, expected):
    df = levels(BOOK)
    df[column] = df[column].astype(float) if column != "side" else df[column]
    df.loc[4, column] = value
    with pytest.raises(DataError) as err:
        conform(df, "book_levels")
    assert (err.value.column, err.value.row, err.value.expected) == (column, 4, expected)


def test_out_of_order_level_rows_are_an_error_and_sort_repairs_them():
    df = levels(BOOK).iloc[[0, 1, 2, 3, 5, 4, 6]].reset_index(drop=True)
    df.loc[4, "ts"] = at(3)[0]
    with pytest.raises(DataError, match="non-decreasing"):
        conform(df, "book_levels")
    assert conform(df, "book_levels", sort=True).num_rows == 7


def test_l1_book_bid_must_be_strictly_below_ask_when_both_sides_are_shown():
    row = {"ts": at(0), "market": "BTC-USD", "bid": [100.0], "bid_size": [1.0], "ask": [100.0], "ask_size": [2.0]}
    with pytest.raises(DataError, match="row 0: crossed book; value 100.0; expected ask > bid"):
        conform(pd.DataFrame(row), "book")
    conform(pd.DataFrame({**row, "bid_size": [0.0]}), "book")  # an empty side quotes nothing


# --------------------------------------------------------------------------- Dataset
def trades(market="BTC-USD", price=100.5, seconds=(0, 1, 2, 3, 4)):
    return pd.DataFrame({"ts": at(*seconds), "market": market, "price": price, "size": 1.0, "side": 1})


def test_a_market_with_both_book_kinds_is_an_error():
    top = pd.DataFrame({"ts": at(0), "market": "BTC-USD", "bid": [99.0], "bid_size": [1.0], "ask": [101.0],
                        "ask_size": [1.0]})
    with pytest.raises(DataError, match="market 'BTC-USD' has rows in both book .* and book_levels") as err:
        Dataset(trades=trades(), book=top, book_levels=levels(BOOK))
    assert err.value.source == "Dataset.book_levels" and err.value.column == "market"
    eth = top.assign(market="ETH-USD")
    ds = Dataset(trades=pd.concat([trades(), trades("ETH-USD")]), book=eth, book_levels=levels(BOOK))
    assert ds.book.num_rows == 1 and ds.book_levels.num_rows == 7


def test_summary_repr_save_and_load_carry_book_levels(tmp_path):
    ds = Dataset(trades=trades(), book_levels=levels(BOOK))
    s = ds.summary()
    assert s.loc["book_levels", "rows"] == 7 and s.loc["book_levels", "keys"] == "BTC-USD"
    assert s.loc["book_levels", "first"] == at(0)[0] and s.loc["book_levels", "last"] == at(3)[0]
    assert "book_levels=7;" in repr(ds)
    back = Dataset.load(ds.save(tmp_path / "d"))
    assert back.book_levels.equals(ds.book_levels)


def test_load_validates_book_levels_files(tmp_path):
    import pyarrow.parquet as pq

    folder = Dataset(trades=trades(), book_levels=levels(BOOK)).save(tmp_path / "d")
    df = levels(BOOK + [(4, -1, 96.5, 1.0, False)])  # an ask below the best bid (97): crossed
    crossed = pa.table({"ts": pa.array(df.ts), "market": pa.array(df.market).dictionary_encode(),
                        "side": pa.array(df.side, pa.int8()), "price": pa.array(df.price),
                        "size": pa.array(df["size"]), "is_snapshot": pa.array(df.is_snapshot)},
                       schema=dl.SCHEMAS["book_levels"])
    pq.write_table(crossed, folder / "book_levels.parquet")
    with pytest.raises(DataError, match="book_levels.parquet: column 'price', row 7: crossed book"):
        Dataset.load(folder)


def book_or_empty(table, market, t):
    try:
        bids, asks = book_at(table, market, t, depth=None)
    except ValueError:  # no rows of the market at all
        return [], []
    return as_pairs(bids), as_pairs(asks)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 60), start=st.integers(-1, 41), length=st.integers(1, 20))
def test_a_slice_holds_the_book_in_force_at_its_start(seed, n, start, length):
    df = random_levels(np.random.default_rng(seed), n)
    lo, hi = T0 + pd.Timedelta(seconds=start), T0 + pd.Timedelta(seconds=start + length)
    ds = Dataset(book_levels=df)
    part = ds.slice(lo, hi).book_levels
    ts = part.column("ts").cast(pa.int64()).to_numpy()
    assert ((ts >= lo.value) & (ts < hi.value)).all()
    for market in sorted(set(df.market)):
        for t in pd.date_range(lo, hi - pd.Timedelta("1s"), freq="1s"):
            assert book_or_empty(part, market, t) == book_or_empty(ds.book_levels, market, t)


def test_slice_opens_with_snapshot_groups_in_place_of_the_rows_at_its_start():
    ds = Dataset(trades=trades(), book_levels=levels(BOOK))
    part = ds.slice(at(1)[0], at(10)[0]).book_levels.to_pandas()
    first = part[part.ts == at(1)[0]]
    assert first.is_snapshot.all()
    assert list(zip(first.side, first.price, first["size"])) == [
        (1, 100.0, 0.5), (1, 99.0, 1.0), (1, 98.0, 2.0), (-1, 101.0, 3.0), (-1, 102.0, 4.0)]
    assert list(part.ts[len(first):]) == at(2, 3)
    assert ds.slice(at(5)[0], at(4)[0]).book_levels.num_rows == 0  # an empty range
    assert ds.slice(None, at(1)[0]).book_levels.num_rows == 4  # no start: a plain cut


def test_book_state_lists_every_market_bids_then_asks():
    df = pd.concat([levels(BOOK), levels(BOOK, "ETH-USD")])
    df = df.sort_values("ts", kind="stable").reset_index(drop=True)
    state = book_state(conform(df, "book_levels"), at(3)[0]).to_pandas()
    assert list(state.market.unique()) == ["BTC-USD", "ETH-USD"]
    btc = state[state.market == "BTC-USD"]
    assert list(btc.side) == [1, -1] and list(btc.price) == [97.0, 102.0]


# --------------------------------------------------------------------------- plausibility
def test_book_levels_far_from_the_trades_are_an_error_unless_allow_extreme():
    far = levels([(s, side, p * 2, z, snap) for s, side, p, z, snap in BOOK])
    with pytest.raises(DataError, match="Dataset.book_levels: column 'price', row 3: book far from the trades"):
        Dataset(trades=trades(), book_levels=far)
    assert Dataset(trades=trades(), book_levels=far, allow_extreme=True).book_levels.num_rows == 7
    Dataset(trades=trades(), book_levels=levels(BOOK))  # near: fine


def test_l1_book_far_from_the_trades_is_an_error():
    top = pd.DataFrame({"ts": at(1), "market": "BTC-USD", "bid": [150.0], "bid_size": [1.0], "ask": [151.0],
                        "ask_size": [1.0]})
    with pytest.raises(DataError, match="Dataset.book: column 'bid', row 0: book far from the trades"):
        Dataset(trades=trades(), book=top)
    monkey = plausible.MAX_BOOK_DEVIATION
    try:
        plausible.MAX_BOOK_DEVIATION = 0.6
        Dataset(trades=trades(), book=top)
    finally:
        plausible.MAX_BOOK_DEVIATION = monkey


def test_the_shipped_btcusdt_book_top_is_plausible_and_stays_l1():
    tape = dl.sample("btcusdt-tape")
    assert plausible.book_outlier(tape.trades, "book", tape.book) is None
    assert (tape.book.num_rows, tape.book_levels.num_rows) == (66_089, 0)


# --------------------------------------------------------------------------- sample cache
def test_the_sample_cache_round_trips_book_levels(tmp_path, monkeypatch):
    import importlib

    sample_module = importlib.import_module("data_loaders.sample")

    monkeypatch.setenv(sample_module.CACHE_ENV, str(tmp_path))
    built = dl.synthetic(days=0.002, markets=["BTC-USD"], seed=4, book_levels=3)
    first = sample_module._disk_cached("book-test", lambda: built)
    again = sample_module._disk_cached("book-test", lambda: pytest.fail("read from the cache, not rebuilt"))
    assert again.book_levels.equals(first.book_levels) and again.book_levels.num_rows > 0


# --------------------------------------------------------------------------- speed
def test_a_million_rows_replay_and_validate():  # the speed is bench_book.py's to print
    rng = np.random.default_rng(0)
    n = 1_000_000
    side = rng.choice(np.array([1, -1], np.int8), n)
    price = np.where(side > 0, 1000 - rng.integers(1, 500, n), 1000 + rng.integers(1, 500, n)).astype(float)
    table = pa.table({"ts": pa.array(np.arange(n, dtype=np.int64) * 1000 + T0.value).cast(pa.timestamp("ns", tz="UTC")),
                      "market": pa.array(np.zeros(n, np.int32)).dictionary_encode().cast(pa.string()),
                      "side": side, "price": price, "size": rng.integers(0, 5, n).astype(float),
                      "is_snapshot": rng.random(n) < 0.01})
    table = conform(table, "book_levels")  # compiles the replay once
    out = dl.validate(pa.Table.from_batches(table.to_batches()), "book_levels")
    assert out.num_rows == n


# --------------------------------------------------------------------------- L1 books in book_at / book_state
def l1(rows, market="ETH-USD"):
    """A canonical L1 book table from (second, bid, bid_size, ask, ask_size) tuples."""
    s, bid, bsz, ask, asz = zip(*rows)
    return conform(pd.DataFrame({"ts": at(*s), "market": market, "bid": bid, "bid_size": bsz, "ask": ask,
                                 "ask_size": asz}), "book")


TOP = [(0, 99.0, 1.0, 101.0, 2.0), (1, 100.0, 3.0, 101.0, 0.0), (2, 100.5, 1.5, 101.5, 2.5)]


def test_book_at_and_book_state_read_an_l1_book():
    top = l1(TOP)
    bids, asks = book_at(top, "ETH-USD", T0 + pd.Timedelta("1.5s"))
    assert bids.to_dict("list") == {"price": [100.0], "size": [3.0]} and asks.empty  # ask size 0: empty side
    state = book_state(Dataset(book=top), T0 + pd.Timedelta("2s")).to_pandas()
    assert state[["side", "price", "size"]].values.tolist() == [[1, 100.5, 1.5], [-1, 101.5, 2.5]]
    assert book_state(Dataset(book=top), T0 - pd.Timedelta("1s")).num_rows == 0  # before the first row


def test_a_dataset_with_l1_and_l2_markets_gives_both_books():
    ds = Dataset(book=l1(TOP), book_levels=conform(levels(BOOK), "book_levels"))
    state = book_state(ds, T0 + pd.Timedelta("3s")).to_pandas()
    assert set(state.market) == {"BTC-USD", "ETH-USD"}
    assert book_at(ds, "ETH-USD", T0)[0].price.tolist() == [99.0]


def test_book_at_names_what_it_accepts():
    with pytest.raises(ValueError, match="book_at: expected a book_levels table .* a book table .*got a table "
                                         "with columns"):
        book_at(dl.sample("btcusdt-tape").trades, "BTC-USD", "2024-08-08 23:57")


def test_a_row_of_another_market_ends_a_snapshot_group():
    # docs/simulation.md: a snapshot group is a run of *consecutive* rows (found by the property
    # test above, seed 12140: the replay joined B's two snapshot rows around A's row)
    df = pd.concat([levels([(0, 1, 99.0, 1.0, True), (0, -1, 107.0, 3.0, True)], "B"),
                    levels([(0, -1, 106.0, 5.0, False)], "A"), levels([(0, -1, 105.0, 0.0, True)], "B")])
    table = conform(df.reset_index(drop=True), "book_levels")
    assert book_at(table, "B", T0)[1].empty  # the second group cleared the asks again
    assert replay_reference(df, "B", T0)[1] == []
