"""Record times decode to UTC timestamps, "never" (NO_TS) to NaT, on strided record fields."""
import numpy as np
import pandas as pd

from backtester.kernel.enums import NO_TS, order_dt
from backtester.records import to_timestamps


def test_record_times_are_utc_and_never_is_nat():
    rec = np.zeros(3, order_dt)
    name = next(n for n in order_dt.names if n.endswith("_ts"))
    rec[name] = [0, 1_667_865_600_000_000_001, NO_TS]  # a field of a record array: a strided view
    got = to_timestamps(rec[name])
    assert str(got.dtype) == "datetime64[ns, UTC]"
    assert got[0] == pd.Timestamp(0, tz="UTC")
    assert got[1] == pd.Timestamp("2022-11-08 00:00:00.000000001", tz="UTC")
    assert got[2] is pd.NaT
