"""Plain records of the reference engine: trace, accounts, orders, fills, output tables."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

ACCOUNT_CP = "counterparty"

# Reason codes (docs/simulation.md, "Orders").
(NONE, INSUFFICIENT_MARGIN, VENUE_DOWN, REDUCE_ONLY, IOC_UNFILLED, NO_PRICE, CANCELLED, LIQUIDATED, REORG,
 POST_ONLY) = range(10)
REASON_NAMES = ["NONE", "INSUFFICIENT_MARGIN", "VENUE_DOWN", "REDUCE_ONLY", "IOC_UNFILLED",
                "NO_PRICE", "CANCELLED", "LIQUIDATED", "REORG", "POST_ONLY"]

ORDER_COLUMNS = ["order_id", "venue", "market", "side", "size", "type", "limit_price", "trigger_price",
                 "reduce_only", "post_only", "ioc", "sent_ts", "arrive_ts", "status", "reason",
                 "filled_size", "parent_id", "queue_ahead"]
FILL_COLUMNS = ["fill_id", "order_id", "ts", "venue", "account", "market", "side", "size", "price",
                "trade_price", "liquidity", "fee", "slippage_cost", "ack_ts", "final_ts", "reverted",
                "realized_pnl", "reverted_ts"]
FUNDING_COLUMNS = ["ts", "account", "venue", "market", "position", "price", "rate", "payment"]
LIQ_COLUMNS = ["ts", "account", "venue", "market", "size", "oracle_price", "price", "fee", "deficit",
               "insurance_paid", "socialized"]
LEDGER_COLUMNS = ["ts", "account", "venue", "kind", "market", "amount", "ref"]
TRANSFER_COLUMNS = ["transfer_id", "src", "dst", "status", "amount", "withdrawable", "sent_ts", "arrive_ts"]
TARGET_COLUMNS = ["ts", "market", "kind", "value", "acknowledged", "expected", "price", "target", "delta",
                  "order_id"]

_INT = {"order_id", "side", "sent_ts", "arrive_ts", "reason", "parent_id", "fill_id", "ts", "ack_ts",
        "final_ts", "ref", "reverted_ts", "transfer_id"}
_BOOL = {"reduce_only", "post_only", "ioc", "reverted"}
_STR = {"venue", "market", "type", "status", "account", "liquidity", "kind", "src", "dst"}


def frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """A DataFrame with exactly ``columns`` in order and fixed dtypes (also when empty)."""
    data = {}
    for c in columns:
        values = [r[c] for r in rows]
        if c in _INT:
            data[c] = pd.Series(values, dtype="int64")
        elif c in _BOOL:
            data[c] = pd.Series(values, dtype="bool")
        elif c in _STR:
            data[c] = pd.Series(values, dtype="str")
        else:
            data[c] = pd.Series(values, dtype="float64")
    return pd.DataFrame(data, columns=columns)


# ---------------------------------------------------------------------------- input tables
def column_values(table: pa.Table, name: str) -> list:
    """One column as a Python list: timestamps/durations as int ns, dictionaries as str."""
    col = table.column(name)
    if pa.types.is_dictionary(col.type):
        col = col.cast(pa.string())
    elif pa.types.is_timestamp(col.type) or pa.types.is_duration(col.type):
        col = col.cast(pa.int64())
    return col.to_pylist()


def rows_of(table: pa.Table, names: list[str]) -> list[dict]:
    """The table as a list of dicts (plus ``row``: the row number in the table)."""
    cols = {n: column_values(table, n) for n in names}
    return [{"row": i, **{n: cols[n][i] for n in names}} for i in range(table.num_rows)]


def sign(x: float) -> int:
    return (x > 0) - (x < 0)


def scaled_ns(ns: int, scale: float) -> int:
    """``latency_scale * duration`` in integer ns.

    CHOICE: rounded to the nearest ns (Python ``round``, halves to even)."""
    return int(round(scale * ns))


@dataclass(order=True)
class Event:
    """One input event; the event list is sorted by (ts, step, sub, tie)."""
    ts: int
    step: int
    sub: int
    tie: int
    kind: str = field(compare=False)
    data: object = field(compare=False, default=None)


@dataclass
class TraceRow:
    ts: int
    order_latency: int
    ack_latency: int
    finality: int
    up: bool
    gas_fee: float


#: A venue with no trace: zero latencies, zero gas, always up, zero finality.
NO_TRACE = TraceRow(0, 0, 0, 0, True, 0.0)


class Trace:
    """A venue's latency trace as a step function (docs: "Trace lookup (step function)")."""

    def __init__(self, rows: list[TraceRow]):
        self.rows = sorted(rows, key=lambda r: r.ts)     # stable: table order within a ts

    def at(self, t: int) -> TraceRow:
        """The row with the largest ts <= t (CHOICE: the last in table order when several
        share that ts); before the first row, the first row."""
        if not self.rows:
            return NO_TRACE
        found = self.rows[0]
        for r in self.rows:
            if r.ts <= t:
                found = r
            else:
                break
        return found

    def next_up_after(self, t: int):
        """Queue policy: the first trace row with up = True after t (ts > t), or None.

        CHOICE: the row must also be the one in force at its ts (matters only when several
        rows share a ts)."""
        for r in self.rows:
            if r.ts > t and self.at(r.ts).up:
                return r.ts
        return None


@dataclass
class Account:
    """A margin account: cash Q and positions {market: [S, E]} (signed size, entry price)."""
    name: str
    venue: str
    cash: float
    positions: dict


@dataclass
class Order:
    order_id: int
    venue: str
    market: str
    side: int
    size: float
    type: str
    limit_price: float
    trigger_price: float
    reduce_only: bool
    post_only: bool
    ioc: bool
    sent_ts: int
    arrive_ts: int
    parent_id: int
    account: str
    remaining: float
    status: str = "open"
    reason: int = 0
    filled_size: float = 0.0
    in_book: bool = False             # arrived, admitted, still live
    down_at_arrival: bool = False     # to be rejected VENUE_DOWN when its arrival is processed
    # Order book: the queue ahead A of a limit resting on a market with book data (NaN: it never
    # rested there) and its traded-at-level sum T (book.BookRules)
    queue_ahead: float = float("nan")
    traded_at_level: float = 0.0

    def row(self) -> dict:
        return {c: getattr(self, c) for c in ORDER_COLUMNS}


@dataclass
class Fill:
    fill_id: int
    order_id: int
    ts: int
    venue: str
    account: str
    market: str
    side: int
    size: float
    price: float
    trade_price: float
    liquidity: str
    fee: float
    slippage_cost: float
    ack_ts: int
    final_ts: int
    reverted: bool = False
    realized_pnl: float = 0.0     # PnL the fill realized (for the pending gains of a transfer)
    reverted_ts: int = -1         # time of the reorg that reverted it (-1: not reverted)

    def row(self) -> dict:
        return {c: getattr(self, c) for c in FILL_COLUMNS}


@dataclass
class Transfer:
    """A collateral transfer between two trader accounts (docs/simulation.md, "Transfers")."""
    transfer_id: int
    src: str
    dst: str
    status: str                   # in_transit | arrived | rejected
    amount: float
    withdrawable: float           # W of the source at the send time
    sent_ts: int
    arrive_ts: int

    def row(self) -> dict:
        return {c: getattr(self, c) for c in TRANSFER_COLUMNS}
