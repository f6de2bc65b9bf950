"""Decoding the kernel's record buffers into pandas: integer codes to names, ns to timestamps.

What each integer column means is declared once, next to the record dtypes
(:data:`backtester.kernel.enums.RECORD_CODES`, ``RECORD_INDEXES``, ``RECORD_TIMES``); this
module applies that table, for :class:`~backtester.result.Result`'s frames,
:meth:`~backtester.context.Context.open_orders` and the tests alike.

Examples
--------
>>> import numpy as np
>>> from backtester.kernel import enums as E
>>> decode_codes("orders", "status", np.array([1, 3], np.int8)).tolist()
['open', 'filled']
>>> lay = Layout(["BTC-USD"], ["dydx"], ["dydx"], [], 0, 0)
>>> rec = np.zeros(1, E.ledger_dt)
>>> rec["market"], rec["amount"] = -1, 2.5
>>> decode("ledger", rec, lay)[["account", "kind", "market", "amount"]].values.tolist()
[['dydx', 'fee', None, 2.5]]
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .kernel.enums import NO_TS, RECORD_CODES, RECORD_INDEXES, RECORD_TIMES
from .prepare import Layout

#: kernel bookkeeping columns of a record kind that users' frames leave out
INTERNAL_COLUMNS = {"orders": ("acked", "queue_traded")}


def to_timestamps(values) -> pd.DatetimeIndex:
    """ns since the epoch -> UTC timestamps (``NO_TS``, "never", becomes NaT)."""
    v = np.asarray(values, np.int64)
    # a view as datetime64[ns] (the int64 minimum is NaT): ~20x faster than pd.to_datetime,
    # which parses its input generically; this runs for every time column of every result
    return pd.DatetimeIndex(np.where(v == NO_TS, np.iinfo(np.int64).min, v).view("datetime64[ns]"), tz="UTC")


def to_ns(t) -> int:
    """Integer ns since the epoch (UTC) of a timestamp, a string or an int (ns)."""
    if isinstance(t, (int, np.integer)):
        return int(t)
    try:
        ts = pd.Timestamp(t)
    except (ValueError, TypeError):
        raise ValueError(f"expected a timestamp such as '2022-11-08 12:00', got {t!r}") from None
    if ts is pd.NaT:
        raise ValueError("expected a timestamp, got NaT")
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).value


def names_of(codes, names) -> np.ndarray:
    """``names[code]`` for each code (an object array; a negative code is None)."""
    table = np.asarray(list(names) + [None], dtype=object)
    codes = np.asarray(codes)
    return table[np.where(codes < 0, len(table) - 1, codes)]


def decode_codes(kind: str, column: str, codes) -> np.ndarray:
    """The names of a coded column of record buffer ``kind`` (``RECORD_CODES``)."""
    return names_of(codes, RECORD_CODES[kind][column])


def index_names(layout: Layout) -> dict:
    """The name lists ``RECORD_INDEXES`` refers to; the accounts are followed by the venues'
    insurance funds (``insurance:<venue>``), as the kernel numbers them."""
    return {"markets": layout.markets, "venues": layout.venues,
            "accounts": layout.accounts + [f"insurance:{v}" for v in layout.venues]}


def decode(kind: str, records: np.ndarray, layout: Layout) -> pd.DataFrame:
    """Records of buffer ``kind`` as a DataFrame: coded columns as names, indexes into the
    layout as market, venue and account names, times as UTC timestamps."""
    return pd.DataFrame(decode_columns(kind, records, layout))


def decode_columns(kind: str, records: np.ndarray, layout: Layout) -> dict:
    """The columns of :func:`decode` as ``{name: array}``, in record order (to add or drop
    columns before building the frame once)."""
    lists = index_names(layout)
    codes = RECORD_CODES.get(kind, {})
    cols = {}
    for col in records.dtype.names:  # one frame from finished columns: no per-column setitem
        values = records[col]
        if col in codes:
            values = names_of(values, codes[col])
        elif col in RECORD_TIMES:
            values = to_timestamps(values)
        elif col in RECORD_INDEXES:
            values = names_of(values, lists[RECORD_INDEXES[col]])
        cols[col] = values
    return cols
