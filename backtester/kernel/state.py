"""The kernel's inputs and state: NamedTuples of plain numpy arrays, and the references the
compiled code passes around.

``Inputs`` is read-only for a run (the merged event stream, the tables as columns, per-venue
traces, per-market parameters and scalar settings); ``State`` is everything the loop mutates.
Both are plain arrays so the kernel caches to disk, state pickles to workers, and a notebook
can look inside.

Inside the kernel they travel as ``InputsRef`` and ``StateRef``: numba structrefs holding the
very same arrays (no copy), passed as one pointer. A NamedTuple of ~70 arrays passed to a
compiled function is flattened into ~500 machine arguments and reference counts per call,
which cost more than most of the kernel's helpers do (docs/simulation.md is unaffected: the
arrays and the rules are the same). Every field has one fixed dtype and layout (``DTYPES``), so
each kernel function compiles exactly once; :func:`inputs_ref` and :func:`state_ref` check that
(and copy a read-only or mistyped array rather than compiling the kernel again).
"""
from typing import NamedTuple

import numba
import numpy as np
from numba.core import sigutils, types
from numba.experimental import structref

from .enums import fill_dt, funding_dt, ledger_dt, liquidation_dt, order_dt, sample_dt, transfer_dt


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
    # book rows (docs/simulation.md, "Order book"): top rows as one-level snapshot groups, then
    # level rows, sorted by ts (table order within a ts)
    bk_ts: np.ndarray
    bk_market: np.ndarray    # int32
    bk_side: np.ndarray      # int8: +1 bid, -1 ask
    bk_price: np.ndarray
    bk_size: np.ndarray      # 0 removes the level
    bk_flag: np.ndarray      # int8: book_nb.BK_UPDATE / BK_SNAPSHOT_FIRST / BK_SNAPSHOT_MORE
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
    mk_book: np.ndarray      # int8: 1 when the market has book data (takers walk the book)
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
CF_QUEUE_POWER = 4      # the probabilistic queue rule's exponent
CF_N = 5
# int settings
CI_FEED_LATENCY = 0
CI_DOWNTIME = 1         # DOWNTIME_QUEUE or DOWNTIME_REJECT
CI_SAMPLE_EVERY = 2     # ns between equity samples (0: none)
CI_TARGET_MODE = 3      # MODE_HOOK or the fast path's TG_* target kind
CI_END_TS = 4           # samples are taken up to this time
CI_BRIDGE_DELAY = 5     # transfer time between accounts of different venues
CI_MARGIN_BANDS = 6     # 1: margin checks on oracle moves only outside State.band; 0: on every move
CI_QUEUE_MODEL = 7      # book_nb.QUEUE_CONSERVATIVE or QUEUE_PROBABILISTIC
CI_BOOK_LEVELS = 8      # most levels one (market, side) of the book data can hold at once (>= 1)
CI_N = 9


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
    band: np.ndarray         # float64[markets, 2]: oracle prices between which no margin check is due
    last_row: np.ndarray     # int64 per market: its last trade row processed (-1: none yet)
    lv_key: np.ndarray       # float64[2 * markets, levels]: book levels per (market, side), best last
    lv_size: np.ndarray      # float64[2 * markets, levels]: data size of each level
    lv_taken: np.ndarray     # float64[2 * markets, levels]: taken by us since the data set it
    lv_n: np.ndarray         # int64[2 * markets]: levels in use


# ---------------------------------------------------------------------------------------------
# fixed dtype and number of dimensions of every field (one compiled kernel for all runs)
_I64, _I32, _I8, _F64, _B = np.int64, np.int32, np.int8, np.float64, np.bool_
DTYPES = {
    "Inputs": {
        "ev_ts": (_I64, 1), "ev_type": (_I8, 1), "ev_idx": (_I64, 1),
        "tr_ts": (_I64, 1), "tr_market": (_I32, 1), "tr_price": (_F64, 1), "tr_size": (_F64, 1),
        "tr_vol": (_F64, 1),
        "fu_ts": (_I64, 1), "fu_market": (_I32, 1), "fu_rate": (_F64, 1), "fu_price": (_F64, 1),
        "or_ts": (_I64, 1), "or_market": (_I32, 1), "or_price": (_F64, 1),
        "bk_ts": (_I64, 1), "bk_market": (_I32, 1), "bk_side": (_I8, 1), "bk_price": (_F64, 1),
        "bk_size": (_F64, 1), "bk_flag": (_I8, 1),
        "lt_ts": (_I64, 1), "lt_order": (_I64, 1), "lt_ack": (_I64, 1), "lt_final": (_I64, 1),
        "lt_up": (_B, 1), "lt_gas": (_F64, 1), "lt_venue": (_I32, 1), "vt_start": (_I64, 1),
        "ro_ts": (_I64, 1), "ro_venue": (_I32, 1), "sl_ts": (_I64, 1), "sl_val": (_F64, 1),
        "mk_venue": (_I32, 1), "mk_account": (_I32, 1), "mk_imf": (_F64, 1), "mk_mmf": (_F64, 1),
        "mk_taker": (_F64, 1), "mk_maker": (_F64, 1), "mk_half_spread": (_F64, 1),
        "mk_impact": (_F64, 1), "mk_liq_fee": (_F64, 1), "mk_book": (_I8, 1), "ac_venue": (_I32, 1),
        "dc_ts": (_I64, 1), "tg_value": (_F64, 2), "cfg_f": (_F64, 1), "cfg_i": (_I64, 1),
    },
    "State": {
        "counters": (_I64, 1), "orders": (order_dt, 1), "fills": (fill_dt, 1),
        "funding": (funding_dt, 1), "liquidations": (liquidation_dt, 1), "ledger": (ledger_dt, 1),
        "samples": (sample_dt, 1), "active": (_I64, 1), "book": (_I64, 1), "cash": (_F64, 1),
        "pos": (_F64, 1), "entry": (_F64, 1), "oracle": (_F64, 1), "last": (_F64, 1),
        "insurance": (_F64, 1), "up": (_B, 1), "cp": (_F64, 1), "cp_pos": (_F64, 1),
        "ack_pos": (_F64, 1), "fill_acked": (_B, 1), "n_open": (_I64, 1), "n_armed": (_I64, 1),
        "next_arrival": (_I64, 1), "deferred": (_B, 1), "transfers": (transfer_dt, 1),
        "transit": (_F64, 1), "intents": (_F64, 2), "snapshot": (_F64, 2), "view_pos": (_F64, 1),
        "band": (_F64, 2), "last_row": (_I64, 1), "lv_key": (_F64, 2), "lv_size": (_F64, 2),
        "lv_taken": (_F64, 2), "lv_n": (_I64, 1),
    },
}
for _cls in (Inputs, State):
    assert tuple(DTYPES[_cls.__name__]) == _cls._fields, f"DTYPES must list {_cls.__name__}'s fields in order"


def _numba_fields(name):
    # inputs are read-only for the kernel (and may be read-only memory: a sweep worker's map
    # of shared data), so their type says so; the state is written
    readonly = name == "Inputs"
    return [(f, types.Array(numba.from_dtype(np.dtype(dt)), nd, "C", readonly=readonly))
            for f, (dt, nd) in DTYPES[name].items()]


@structref.register
class InputsRefType(types.StructRef):
    """numba type of an :class:`Inputs` held by reference."""


@structref.register
class StateRefType(types.StructRef):
    """numba type of a :class:`State` held by reference."""


#: the one concrete type of each (every kernel function is compiled for these)
InputsRef = InputsRefType(_numba_fields("Inputs"))
StateRef = StateRefType(_numba_fields("State"))


class _Handle(structref.StructRefProxy):
    """A reference to compiled memory: it cannot be copied or pickled (copy or pickle the
    NamedTuple it was made from, or the ``Engine``, instead)."""

    def _refuse(self, *args):
        raise TypeError(f"a {type(self).__name__} is the kernel's reference to arrays in compiled "
                        "memory and cannot be copied or pickled; copy or pickle the Engine (or its "
                        "inputs/state NamedTuples) and call Engine.refs() again")

    __copy__ = __deepcopy__ = __reduce__ = __reduce_ex__ = _refuse


class InputsProxy(_Handle):
    """Python handle of an ``InputsRef`` (opaque: read the :class:`Inputs` it was made from)."""


class StateProxy(_Handle):
    """Python handle of a ``StateRef`` (opaque: read the :class:`State` it was made from)."""


structref.define_constructor(InputsProxy, InputsRefType, list(Inputs._fields))
structref.define_boxing(InputsRefType, InputsProxy)
structref.define_constructor(StateProxy, StateRefType, list(State._fields))
structref.define_boxing(StateRefType, StateProxy)


def conform(tup):
    """``tup`` (an :class:`Inputs` or :class:`State`) with every array in the one type the
    kernel is compiled for: its fixed dtype, C-contiguous; read-only for ``Inputs`` (a
    read-only view of a writable array, no copy), writable for ``State``.

    An ``Inputs`` array of another dtype or layout is copied (a warning-free convenience: the
    alternative is compiling the whole kernel again); a ``State`` array must already be right,
    since the kernel writes into the caller's arrays (``ValueError`` otherwise).
    """
    is_inputs = isinstance(tup, Inputs)
    changes = {}
    for f, (dt, nd) in DTYPES[type(tup).__name__].items():
        a = getattr(tup, f)
        right = isinstance(a, np.ndarray) and a.dtype == dt and a.ndim == nd and a.flags.c_contiguous
        if right and a.flags.writeable != is_inputs:
            continue
        if not is_inputs:
            raise ValueError(f"State.{f} must be a writable C-contiguous {np.dtype(dt)} array of "
                             f"{nd} dimension(s), got {getattr(a, 'dtype', type(a))} "
                             f"(ndim {getattr(a, 'ndim', '?')})")
        a = a.view() if right else np.array(a, dtype=dt, order="C", copy=True)
        if a.ndim != nd:
            raise ValueError(f"Inputs.{f} must have {nd} dimension(s), got {a.ndim}")
        a.flags.writeable = False
        changes[f] = a
    return tup._replace(**changes) if changes else tup


#: names a signature text may use besides numba's own type names. ``BK`` is the book flag a
#: function on the way to the order-book code takes (:data:`BOOK`): each such function has two
#: compiled copies, one with the flag typed ``none`` where numba prunes the book branches (so a
#: run without book data neither compiles nor loads the book code) and one with it ``b1``.
_SIG_NAMES = {"INP": InputsRef, "ST": StateRef, "i8": types.int64, "f8": types.float64,
              "b1": types.boolean, "void": types.void, "UniTuple": types.UniTuple,
              "none": types.none}
#: value of the book flag for a run with book data (``None`` for a run without)
BOOK = True
#: every :func:`typed` kernel function, in definition order
TYPED: list = []


def _signatures(text: str) -> list:
    texts = [text.replace("BK", "b1"), text.replace("BK", "none")] if "BK" in text else [text]
    return [eval(t, {"__builtins__": {}}, dict(_SIG_NAMES)) for t in texts]  # noqa: S307 - our constants


def _declared_for(sigs: list, args: tuple):
    """The declared signature a call with argument types ``args`` converts to: the one of the
    same arity whose ``none`` positions are exactly the arguments typed ``none``."""
    for sig in sigs:
        if len(sig.args) == len(args) and all((a == types.none) == (b == types.none)
                                                for a, b in zip(sig.args, args)):
            return sig
    return None


def inlined(fn):
    """Decorator: ``@njit(cache=True, inline="always")``, for a helper called from one place
    (or a small one wrapping a large callee). numba inlines its IR into the caller, so it gets
    no compiled library of its own: each library's finalization optimizes and code-generates
    again every function it calls, so the cold compile grows with the depth of the call tree.
    """
    return numba.njit(cache=True, inline="always")(fn)


def typed(text: str):
    """Decorator: ``@njit(cache=True)`` with one fixed signature ``text`` (e.g.
    ``"f8(INP, ST, i8)"``, ``INP``/``ST`` the kernel's references; ``BK`` makes two, see
    :data:`_SIG_NAMES`), compiled (or loaded from the disk cache) when a caller is first typed.

    For helpers called with constants: without a fixed signature numba compiles a copy per
    literal value (``finish_nb(st, oid, ST_FILLED, R_NONE, t)``) and per int32/int64 mix,
    which multiplied the cold compile; here the caller's arguments convert to the signature.
    Compiling only when a caller needs it keeps code a run does not reach (the book's, without
    book data) out of the compile and out of the warm start.
    """
    def decorate(fn):
        dispatcher = numba.njit(cache=True)(fn)
        _fix(dispatcher, text)
        TYPED.append(dispatcher)
        return dispatcher
    return decorate


def _fix(dispatcher, text: str) -> None:
    # Both ways into numba's compiler (a caller being typed, a call from Python) go through
    # the dispatcher's compile(argument types): here it compiles the declared signature the
    # arguments convert to instead, and numba then offers only declared signatures to callers.
    original = dispatcher.compile
    sigs: list = []

    def declared() -> list:
        """The signatures this function may be compiled for."""
        if not sigs:
            sigs.extend(_signatures(text))  # evaluated late: the reference types exist by then
        return sigs

    def compile(sig):
        args, _ = sigutils.normalize_signature(sig)
        match = _declared_for(declared(), tuple(args))
        return original(match if match is not None else sig)

    dispatcher.compile = compile
    dispatcher.declared = declared
