"""Integer codes and record dtypes shared by the kernel and its Python wrappers.

Model variants, order types, statuses and ledger kinds are small integers so one cached kernel
serves every configuration. Record dtypes are the rows of the preallocated result buffers; a
notebook sees them as DataFrames through :mod:`backtester.result`.
"""
import numpy as np

# --- event types of the static stream, in same-timestamp processing order --------------------
EV_TRACE = 0
EV_FUNDING = 1
EV_ORACLE = 2
EV_TRADE = 3
EV_REORG = 4
EV_BOOK = 5     # book rows: after the trades and reorgs of their time

# --- steps of the same-timestamp event order (docs/simulation.md, "Event order at one
# timestamp"): everything keyed ``(time, step)`` runs before what has a larger key ------------
STEP_TRACE = 1       # latency-trace rows
STEP_FUNDING = 2     # funding rows, then a margin check
STEP_ORACLE = 3      # oracle rows, then a margin check
STEP_ARRIVAL = 4     # orders, cancels and transfers arriving at this time
STEP_TRADE = 5       # trades, then reorgs, each followed by a margin check
STEP_BOOK = 6        # book rows (they show the book after the trades of their time)
STEP_OBSERVE = 7     # client-side stops observe the trades stamped ``ts - feed_latency``
STEP_DECISION = 8    # the strategy decides; its orders leave now
STEP_END = 9         # after everything stamped at this time (an equity sample sees it all)

# --- order types ------------------------------------------------------------------------
OT_MARKET = 0
OT_LIMIT = 1
OT_STOP_MARKET = 2
ORDER_TYPE_NAMES = ("market", "limit", "stop_market")

# --- order statuses ---------------------------------------------------------------------
ST_INFLIGHT = 0      # sent, not yet at the matching engine
ST_OPEN = 1          # resting / waiting for a trade
ST_PARTIAL = 2
ST_FILLED = 3
ST_CANCELLED = 4
ST_REJECTED = 5
ST_TRIGGERED = 6     # a client-side stop that has fired (its market order is a new order)
ST_ARMED = 7         # a client-side stop waiting for its trigger
STATUS_NAMES = ("inflight", "open", "partially_filled", "filled", "cancelled", "rejected",
                "triggered", "armed")

# --- reason codes -------------------------------------------------------------------------
R_NONE = 0
R_INSUFFICIENT_MARGIN = 1
R_VENUE_DOWN = 2
R_REDUCE_ONLY = 3
R_IOC_UNFILLED = 4
R_NO_PRICE = 5
R_CANCELLED = 6
R_LIQUIDATED = 7
R_REORG = 8
R_POST_ONLY = 9
REASON_NAMES = ("none", "insufficient_margin", "venue_down", "reduce_only", "ioc_unfilled",
                "no_price", "cancelled", "liquidated", "reorg", "post_only")

# --- fill liquidity -----------------------------------------------------------------------
LQ_MAKER = 0
LQ_TAKER = 1
LQ_LIQUIDATION = 2
LIQUIDITY_NAMES = ("maker", "taker", "liquidation")

# --- ledger kinds -------------------------------------------------------------------------
LG_FEE = 0
LG_GAS = 1
LG_FUNDING = 2
LG_REALIZED = 3
LG_LIQ_FEE = 4
LG_INSURANCE = 5
LG_SOCIALIZED = 6
LG_REORG = 7
LG_TRANSFER = 8
LEDGER_NAMES = ("fee", "gas", "funding", "realized_pnl", "liquidation_fee", "insurance_payout",
                "socialized_loss", "reorg_reversal", "transfer")

# --- model variants -----------------------------------------------------------------------
DOWNTIME_QUEUE = 0
DOWNTIME_REJECT = 1

# --- kernel exit codes --------------------------------------------------------------------
EXIT_DONE = 0        # all events processed
EXIT_FULL = 2        # a record buffer needs to grow
EXIT_ERROR = 3       # the strategy's decision hook raised (the driver re-raises it)

# --- decision modes (CI_TARGET_MODE) ---------------------------------------------------------
MODE_HOOK = -2       # hybrid: the kernel calls the strategy through an objmode hook
# fast path: the target kind of every planned target (docs/simulation.md, "Targets"); also the
# kind codes of ``to_position_nb``
TG_POSITION = 0      # base units
TG_LEVERAGE = 1      # multiple of the account's net collateral (signed)
TG_NOTIONAL = 2      # quote currency (signed)
TARGET_KIND_NAMES = ("position", "leverage", "notional")

# --- intents queued by a strategy during a decision (rows of State.intents) ---------------
IN_ORDER = 0
IN_CANCEL = 1
IN_TRANSFER = 2
# columns: kind, market/order id/src, side/dst, size/amount, type, limit, trigger, flags
IC_KIND, IC_A, IC_B, IC_SIZE, IC_TYPE, IC_LIMIT, IC_TRIGGER, IC_FLAGS = range(8)
N_INTENT_COLS = 8
# bits of an order intent's IC_FLAGS
FLAG_REDUCE_ONLY = 1
FLAG_POST_ONLY = 2
FLAG_IOC = 4

# --- columns of State.snapshot: an account's figures when a decision starts ---------------
SN_NC, SN_IMR, SN_MMR, SN_GROSS = range(4)
N_SNAPSHOT_COLS = 4

# --- counters (indices into the int64 counter array) ---------------------------------------
C_EVENT = 0          # next static event to process
C_ORDERS = 1
C_FILLS = 2
C_FUNDING = 3
C_LIQ = 4
C_LEDGER = 5
C_SAMPLES = 6
C_DECISION = 7       # next decision index
C_ACTIVE = 8         # number of active order ids in the active list
C_NEXT_SAMPLE = 9    # next equity sample time (ns)
C_ACK_CURSOR = 10    # all fills before this index are acknowledged and applied to the view
C_BOOK = 11          # number of order ids in the book list (resting, in arrival order)
C_VIEW_CURSOR = 12   # all orders before this index are settled in the strategy's view
C_SEQ = 13           # send sequence (orders and cancels), orders same-time arrivals
C_OBS = 14           # next event whose trade the client-side stops have not observed yet
C_DEFERRED = 15      # accounts below maintenance whose liquidation waits for the venue
C_TRANSFERS = 16     # transfers recorded
C_TRANSIT = 17       # all transfers before this index have arrived or were rejected
C_INTENTS = 18       # intents queued by the strategy at the current decision (hook mode)
C_INTENT_DONE = 19   # intents of the current decision already executed
C_BANDS_OK = 20      # 1 while State.band holds for the current cash and positions (0: stale)
C_UNCHECKED = 21     # 1 when money or a position moved since the last margin check began
N_COUNTERS = 22

NO_TS = np.iinfo(np.int64).max

order_dt = np.dtype([
    ("order_id", np.int64), ("venue", np.int32), ("market", np.int32), ("account", np.int32),
    ("side", np.int8), ("type", np.int8), ("status", np.int8), ("reason", np.int8),
    ("reduce_only", np.bool_), ("post_only", np.bool_), ("ioc", np.bool_),
    ("size", np.float64), ("filled", np.float64), ("limit_price", np.float64),
    ("trigger_price", np.float64), ("sent_ts", np.int64), ("arrive_ts", np.int64),
    ("cancel_ts", np.int64), ("done_ts", np.int64), ("parent_id", np.int64),
    ("seq", np.int64), ("cancel_seq", np.int64),
    ("acked", np.float64),
    # markets with book data: size ahead in the queue at the order's price, and size traded
    # there since the level's last book row (docs/simulation.md, "Queue position")
    ("queue_ahead", np.float64), ("queue_traded", np.float64),
], align=True)

fill_dt = np.dtype([
    ("fill_id", np.int64), ("order_id", np.int64), ("ts", np.int64), ("venue", np.int32),
    ("account", np.int32), ("market", np.int32), ("side", np.int8), ("liquidity", np.int8),
    ("reverted", np.bool_), ("size", np.float64), ("price", np.float64),
    ("trade_price", np.float64), ("fee", np.float64), ("slippage_cost", np.float64),
    ("realized", np.float64), ("ack_ts", np.int64), ("final_ts", np.int64),
], align=True)

funding_dt = np.dtype([
    ("ts", np.int64), ("account", np.int32), ("venue", np.int32), ("market", np.int32),
    ("position", np.float64), ("price", np.float64), ("rate", np.float64), ("payment", np.float64),
], align=True)

liquidation_dt = np.dtype([
    ("ts", np.int64), ("account", np.int32), ("venue", np.int32), ("market", np.int32),
    ("size", np.float64), ("oracle_price", np.float64), ("price", np.float64), ("fee", np.float64),
    ("deficit", np.float64), ("insurance_paid", np.float64), ("socialized", np.float64),
], align=True)

ledger_dt = np.dtype([
    ("ts", np.int64), ("account", np.int32), ("kind", np.int8), ("market", np.int32),
    ("amount", np.float64), ("ref", np.int64),
], align=True)

sample_dt = np.dtype([
    ("ts", np.int64), ("equity", np.float64), ("cash", np.float64), ("upnl", np.float64),
    ("imr", np.float64), ("mmr", np.float64), ("gross_notional", np.float64),
    ("insurance", np.float64),
], align=True)

# --- transfer statuses ----------------------------------------------------------------------
TR_IN_TRANSIT = 0
TR_ARRIVED = 1
TR_REJECTED = 2
TRANSFER_STATUS_NAMES = ("in_transit", "arrived", "rejected")

transfer_dt = np.dtype([
    ("transfer_id", np.int64), ("src", np.int32), ("dst", np.int32), ("status", np.int8),
    ("amount", np.float64), ("withdrawable", np.float64), ("sent_ts", np.int64),
    ("arrive_ts", np.int64), ("seq", np.int64),
], align=True)

# --- decoding the records: one table for every reader (Result, Context, tests) ------------------
#: record buffer -> integer column -> the names of its codes (code ``i`` is ``names[i]``)
RECORD_CODES = {
    "orders": {"type": ORDER_TYPE_NAMES, "status": STATUS_NAMES, "reason": REASON_NAMES},
    "fills": {"liquidity": LIQUIDITY_NAMES},
    "ledger": {"kind": LEDGER_NAMES},
    "transfers": {"status": TRANSFER_STATUS_NAMES},
}
#: integer columns (any record) holding an index into one of the run's name lists
#: (``Layout.markets``, ``Layout.venues``, accounts followed by the insurance funds); -1 is none
RECORD_INDEXES = {"market": "markets", "venue": "venues", "account": "accounts", "src": "accounts",
                  "dst": "accounts"}
#: integer columns holding a time in ns since the epoch (``NO_TS``: never)
RECORD_TIMES = ("ts", "sent_ts", "arrive_ts", "cancel_ts", "done_ts", "ack_ts", "final_ts")
