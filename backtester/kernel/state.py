"""The kernel's inputs and state: NamedTuples of plain numpy arrays.

``Inputs`` is read-only for a run (the merged event stream, the tables as columns, per-venue
traces, per-market parameters and scalar settings); ``State`` is everything the loop mutates.
Both are plain arrays so the kernel caches to disk, state pickles to workers, and a notebook
can look inside.
"""
from typing import NamedTuple

import numpy as np


class Inputs(NamedTuple):
    # merged static event stream, sorted by (ts, event type, row)
    ev_ts: np.ndarray        # int64
    ev_type: np.ndarray      # int8 (EV_*)
    ev_idx: np.ndarray       # int64 row in the table of that type
    # trades
    tr_ts: np.ndarray
    tr_market: np.ndarray    # int32
    tr_price: np.ndarray
    tr_size: np.ndarray
    tr_vol: np.ndarray       # traded size of the market in (ts - impact_window, ts], this row included
    # funding
    fu_ts: np.ndarray
    fu_market: np.ndarray
    fu_rate: np.ndarray
    fu_price: np.ndarray     # NaN: pay at the oracle price in force
    # oracle
    or_ts: np.ndarray
    or_market: np.ndarray
    or_price: np.ndarray
    # latency traces grouped by venue: rows vt_start[v]:vt_start[v+1], sorted by ts
    lt_ts: np.ndarray
    lt_order: np.ndarray     # int64 ns
    lt_ack: np.ndarray
    lt_final: np.ndarray
    lt_up: np.ndarray        # bool
    lt_gas: np.ndarray
    lt_venue: np.ndarray     # int32
    vt_start: np.ndarray     # int64[V + 1]
    # reorgs
    ro_ts: np.ndarray
    ro_venue: np.ndarray
    # slippage multiplier step series (ts, value); first row applies before its ts too
    sl_ts: np.ndarray
    sl_val: np.ndarray
    # per market
    mk_venue: np.ndarray     # int32
    mk_account: np.ndarray   # int32 margin account of the market
    mk_imf: np.ndarray
    mk_mmf: np.ndarray
    mk_taker: np.ndarray
    mk_maker: np.ndarray
    mk_half_spread: np.ndarray
    mk_impact: np.ndarray
    mk_liq_fee: np.ndarray
    # per account
    ac_venue: np.ndarray     # int32
    # decisions: times and, for the fast path, targets (NaN = none) of shape (D, M)
    dc_ts: np.ndarray
    tg_value: np.ndarray
    # scalar settings packed in arrays (types stay stable across configurations)
    cfg_f: np.ndarray        # float64[CF_N]
    cfg_i: np.ndarray        # int64[CI_N]


# float settings
CF_LATENCY_SCALE = 0
CF_LIQ_SPREAD = 1
CF_MIN_TRADE = 2
CF_REBALANCE_BAND = 3
CF_N = 4
# int settings
CI_FEED_LATENCY = 0
CI_DOWNTIME = 1         # DOWNTIME_QUEUE or DOWNTIME_REJECT
CI_SAMPLE_EVERY = 2     # ns between equity samples (0: none)
CI_TARGET_MODE = 3      # MODE_HOOK or the fast path's TG_* target kind
CI_END_TS = 4           # samples are taken up to this time
CI_BRIDGE_DELAY = 5     # transfer time between accounts of different venues
CI_N = 6


class State(NamedTuple):
    counters: np.ndarray     # int64[N_COUNTERS]
    orders: np.ndarray       # order_dt
    fills: np.ndarray        # fill_dt
    funding: np.ndarray      # funding_dt
    liquidations: np.ndarray # liquidation_dt
    ledger: np.ndarray       # ledger_dt
    samples: np.ndarray      # sample_dt
    active: np.ndarray       # int64 ids of orders in flight or armed (client-side stops)
    book: np.ndarray         # int64 ids of orders at the engine, in arrival order
    cash: np.ndarray         # per account
    pos: np.ndarray          # per market
    entry: np.ndarray        # per market
    oracle: np.ndarray       # per market, NaN before the first
    last: np.ndarray         # last trade price per market, NaN before the first
    insurance: np.ndarray    # per venue
    up: np.ndarray           # bool per venue
    cp: np.ndarray           # counterparty: [cash]
    cp_pos: np.ndarray       # counterparty position per market
    ack_pos: np.ndarray      # acknowledged position per market
    fill_acked: np.ndarray   # bool per fill
    n_open: np.ndarray       # int64 per market: resting (matchable) orders
    n_armed: np.ndarray      # int64 per market: armed client-side stops
    next_arrival: np.ndarray # int64[1]: earliest pending arrival, cancel or observation (NO_TS if none)
    deferred: np.ndarray     # bool per account: below maintenance while its venue is down
    transfers: np.ndarray    # transfer_dt
    transit: np.ndarray      # float64[1]: collateral on its way between accounts
    intents: np.ndarray      # float64[cap, N_INTENT_COLS]: what on_decision asked for (hook mode)
    snapshot: np.ndarray     # float64[accounts, N_SNAPSHOT_COLS]: NC, IMR, MMR, gross notional (SN_*)
    view_pos: np.ndarray     # float64[markets]: expected position at the decision
