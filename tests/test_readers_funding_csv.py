"""``Symbol,Date,Funding Rate`` CSV reader on the bundled real files (dYdX hourly UTC; Binance
and Bybit 8-hourly in UTC+3) and small hand-written ones."""
from pathlib import Path

import pandas as pd
import pytest

from data_loaders import DataError
from data_loaders.readers.funding_csv import is_funding_csv, read_funding_csv, utc_offset_zone

ROOT = Path(__file__).resolve().parents[1]
DYDX = {m: ROOT / "data_loaders" / "data" / f"{m}-USDT_dydx_2022-01-01_2024-01-01_funding_history.csv.gz"
        for m in ("BTC", "ETH")}
BINANCE = ROOT / "tests" / "data" / "funding" / "BTC-USDT_binance_2020-01-01_2024-01-01_funding_history.csv.gz"
BYBIT = ROOT / "tests" / "data" / "funding" / "BTC-USDT_bybit_2021-01-01_2024-01-01_funding_history.csv.gz"


def utc(s):
    return pd.Timestamp(s, tz="UTC")


def rate_at(df, when):
    return df.loc[df["ts"] == utc(when), "rate"].item()


@pytest.mark.parametrize("base, at_hour", [("BTC", -0.0000673774), ("ETH", -0.0001325941)])
def test_dydx_files(base, at_hour):
    f = read_funding_csv(DYDX[base], tz="UTC", market=f"{base}-USD")
    assert f.num_rows == 17_520
    df = f.to_pandas()
    assert df["ts"].iloc[0] == utc("2022-01-01 00:00") and df["ts"].iloc[-1] == utc("2023-12-31 23:00")
    assert (df["ts"].diff().dropna() == pd.Timedelta("1h")).all()  # hourly, no gaps
    assert (df["interval"] == pd.Timedelta("1h")).all() and df["oracle_price"].isna().all()
    assert df["market"].unique().tolist() == [f"{base}-USD"]
    assert rate_at(df, "2022-11-09 14:00") == at_hour  # FTX week, read from the file
    if base == "BTC":
        assert df["rate"].iloc[0] == 0.0000058615 and df["rate"].iloc[-1] == 0.0001068834


def test_default_market_is_the_symbol():
    f = read_funding_csv(DYDX["ETH"], tz="UTC")
    assert set(f.column("market").to_pylist()) == {"ETH-USDT"}


def test_binance_utc_plus_3_and_milliseconds():
    f = read_funding_csv(BINANCE, utc_offset=3, interval="8h", market="BTC-USD")
    assert f.num_rows == 4_383
    df = f.to_pandas()
    # first row "2020-01-01 03:00:00.000" in UTC+3
    assert df["ts"].iloc[0] == utc("2020-01-01 00:00") and df["rate"].iloc[0] == -0.00012359
    assert df["ts"].iloc[-1] == utc("2023-12-31 16:00") and df["rate"].iloc[-1] == 0.00033597
    # "2022-11-09 11:00:00.013" local: Binance stamps carry a few ms of jitter; kept as is
    assert rate_at(df, "2022-11-09 08:00:00.013") == 0.00007305
    assert (df["interval"] == pd.Timedelta("8h")).all()


def test_bybit_with_iana_zone_equals_utc_offset():
    by_offset = read_funding_csv(BYBIT, utc_offset=3, interval="8h")
    by_zone = read_funding_csv(BYBIT, tz="Europe/Moscow", interval="8h")  # UTC+3 since 2014
    assert by_offset.num_rows == 3_285
    assert by_offset.column("ts").equals(by_zone.column("ts"))
    df = by_offset.to_pandas()
    assert df["ts"].iloc[0] == utc("2021-01-01 00:00") and df["rate"].iloc[0] == 0.00034729
    assert rate_at(df, "2022-11-09 16:00") == -0.00011464


def test_zone_is_required():
    with pytest.raises(ValueError, match="tz=.*utc_offset="):
        read_funding_csv(BINANCE, interval="8h")
    with pytest.raises(ValueError, match="not both"):
        read_funding_csv(BINANCE, tz="UTC", utc_offset=3)


def test_utc_offset_zone():
    assert utc_offset_zone(3) == "+03:00"
    assert utc_offset_zone(-5.5) == "-05:30"
    assert utc_offset_zone(0) == "+00:00"
    with pytest.raises(ValueError):
        utc_offset_zone(15)


def test_is_funding_csv():
    assert is_funding_csv(BINANCE) and is_funding_csv(DYDX["BTC"])
    assert not is_funding_csv(ROOT / "data_loaders" / "data" / "BTCUSDT-trades-2024-08-08-2354.csv.gz")


def test_bad_rate_names_row_and_line(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("Symbol,Date,Funding Rate\nX,2022-01-01 00:00:00,0.0001\nX,2022-01-01 01:00:00,n/a\n")
    with pytest.raises(DataError) as err:
        read_funding_csv(path, tz="UTC")
    e = err.value
    assert (e.column, e.row, e.line, e.value) == ("Funding Rate", 1, 3, "n/a")
    assert str(path) in str(e)


def test_unparseable_date_names_value_row_line(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("Symbol,Date,Funding Rate\nX,2022-01-01 00:00:00,0.0001\nX,yesterday,0.0001\n")
    with pytest.raises(DataError, match="cannot be parsed as a timestamp") as err:
        read_funding_csv(path, tz="UTC")
    e = err.value
    assert (e.column, e.row, e.line, e.value) == ("Date", 1, 3, "yesterday")
    assert "mixed" not in str(e)


def test_rate_out_of_range(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("Symbol,Date,Funding Rate\nX,2022-01-01 00:00:00,1.5\n")
    with pytest.raises(DataError, match=r"column 'rate', row 0 \(line 2\)"):
        read_funding_csv(path, tz="UTC")


def test_several_symbols_rename_with_a_dict(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("Symbol,Date,Funding Rate\nBTC-USDT,2022-01-01 00:00:00,0.0001\n"
                    "ETH-USDT,2022-01-01 00:00:00,0.0002\n")
    with pytest.raises(DataError, match="several symbols"):
        read_funding_csv(path, tz="UTC", market="BTC-USD")
    f = read_funding_csv(path, tz="UTC", market={"BTC-USDT": "BTC-USD", "ETH-USDT": "ETH-USD"})
    assert f.column("market").to_pylist() == ["BTC-USD", "ETH-USD"]


def test_unsorted_and_duplicates(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("Symbol,Date,Funding Rate\nX,2022-01-01 01:00:00,0.0001\nX,2022-01-01 00:00:00,0.0002\n"
                    "X,2022-01-01 00:00:00,0.0002\n")
    with pytest.raises(DataError, match="sort=True"):
        read_funding_csv(path, tz="UTC")
    f = read_funding_csv(path, tz="UTC", sort=True, drop_duplicates=True)
    assert f.column("rate").to_pylist() == [0.0002, 0.0001]


def test_missing_header(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("symbol,time,rate\nX,2022-01-01 01:00:00,0.0001\n")
    with pytest.raises(DataError, match="missing columns"):
        read_funding_csv(path, tz="UTC")
