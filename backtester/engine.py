"""`Engine`: owns the kernel state of one run, grows its buffers, and re-enters the kernel.

Most users never touch it: :func:`backtester.run` drives it (fast path or hook mode; a
strategy sends orders, cancels and transfers through :class:`~backtester.context.Context`).
It is public for its records and state after a run.
"""
from __future__ import annotations

import numpy as np

from .kernel import enums as E
from .kernel.decisions_nb import view_nb
from .kernel.loop_nb import LEDGER_ROWS_PER_FILL, ROOM_SLACK, run_nb
from .kernel.refs_nb import inputs_ref, state_ref
from .kernel.state import BOOK, CI_BOOK_LEVELS, CI_SAMPLE_EVERY, State, conform
from .prepare import Layout

_BUFFERS = {"orders": E.order_dt, "fills": E.fill_dt, "funding": E.funding_dt,
            "liquidations": E.liquidation_dt, "ledger": E.ledger_dt, "samples": E.sample_dt,
            "transfers": E.transfer_dt}
_COUNTER = {"orders": E.C_ORDERS, "fills": E.C_FILLS, "funding": E.C_FUNDING, "liquidations": E.C_LIQ,
            "ledger": E.C_LEDGER, "samples": E.C_SAMPLES, "transfers": E.C_TRANSFERS}


def _padding(dt: np.dtype) -> np.ndarray:
    """Byte offsets of an aligned record dtype that belong to no field."""
    used = np.zeros(dt.itemsize, bool)
    for name in dt.names:
        sub, offset = dt.fields[name][:2]
        used[offset: offset + sub.itemsize] = True
    return np.flatnonzero(~used)


_PADDING = {name: _padding(dt) for name, dt in _BUFFERS.items()}

#: most orders, cancels and transfers one decision may queue (hook mode)
INTENT_CAPACITY = 4096
#: slack of :meth:`Engine.ensure_room`: twice the kernel's own (``loop_nb.ROOM_SLACK``), so a
#: buffer grown here is not at once too full for the kernel's headroom test
GROW_SLACK = 2 * ROOM_SLACK


def _grow(arr: np.ndarray, minimum: int) -> np.ndarray:
    out = np.zeros(max(2 * len(arr), minimum), arr.dtype)
    out[: len(arr)] = arr
    return out


def account_cash(config, layout: Layout, traded) -> np.ndarray:
    """Initial cash of each margin account (docs/simulation.md, "Accounting").

    Cross: each venue's ``initial_cash``. Isolated: a venue's cash split equally among its
    markets that have trades in the data; a market seen only in funding or oracle rows (or only
    named in ``SimConfig.markets``) can never fill an order, so it takes no share away from the
    traded ones. A venue none of whose markets trade splits over all of them (nothing can trade
    there, but its cash still counts in the run's equity).

    Parameters
    ----------
    config : SimConfig
    layout : Layout
    traded : array of bool
        Per market (layout order): does the data have at least one trade of it?

    Returns
    -------
    numpy.ndarray
        Cash per account (layout order).

    Examples
    --------
    >>> import backtester as bt
    >>> lay = Layout(["BTC-USD", "ETH-USD"], ["dydx"], ["dydx/BTC-USD", "dydx/ETH-USD"],
    ...              [bt.Market("BTC-USD"), bt.Market("ETH-USD")], 0, 1)
    >>> account_cash(bt.SimConfig(initial_cash=1000, margin_mode="isolated"), lay, [True, False]).tolist()
    [1000.0, 0.0]
    """
    cash = np.zeros(len(layout.accounts))
    if config.margin_mode == "cross":
        for a, v in enumerate(layout.venues):
            cash[a] = config.per_venue("initial_cash", v)
        return cash
    traded = np.asarray(traded, bool)
    for v in layout.venues:
        mine = [m for m, spec in enumerate(layout.market_specs) if spec.venue == v]
        funded = [m for m in mine if traded[m]] or mine
        for m in funded:
            cash[m] = config.per_venue("initial_cash", v) / len(funded)
    return cash



def book_state(n_markets: int, levels: int) -> dict:
    """The empty book of every (market, side): ``levels`` slots each (at least one)."""
    shape = (2 * n_markets, max(levels, 1))
    return {"lv_key": np.zeros(shape), "lv_size": np.zeros(shape), "lv_taken": np.zeros(shape),
            "lv_n": np.zeros(2 * n_markets, np.int64)}


class Engine:
    """The state of one simulation and the loop that advances it.

    Parameters
    ----------
    inputs : kernel.state.Inputs
        From :func:`backtester.prepare.prepare`.
    layout : Layout
        Names behind the integer codes.
    config : SimConfig
    """

    def __init__(self, inputs, layout: Layout, config):
        self.inputs = conform(inputs)  # read-only views in the kernel's one compiled type
        self._inp_ref = self._st_ref = (None, None)  # (NamedTuple, its reference): refs()
        self.layout = layout
        self.config = config
        self._specs = {}  # market name -> Market, built once per run (market_spec)
        M, V, A = len(layout.markets), len(layout.venues), len(layout.accounts)
        n_trades = len(inputs.tr_ts)
        every = int(inputs.cfg_i[CI_SAMPLE_EVERY]) or 1
        n_samples = (layout.end_ns - layout.start_ns) // every + 4
        cap = {"orders": 1024, "fills": 1024, "funding": max(64, len(inputs.fu_ts) + 8),
               "liquidations": 64, "ledger": 4096, "samples": int(min(n_samples, 10_000_000)),
               "transfers": 16}
        bufs = {k: np.zeros(cap[k], dt) for k, dt in _BUFFERS.items()}
        counters = np.zeros(E.N_COUNTERS, np.int64)
        every_ns = int(inputs.cfg_i[CI_SAMPLE_EVERY])
        counters[E.C_NEXT_SAMPLE] = (-(-layout.start_ns // every_ns) * every_ns) if every_ns > 0 else 0
        if layout.traded is not None:  # known from the dataset's names: no pass over the trades per run
            traded = np.array(layout.traded, bool)
        else:
            traded = np.bincount(inputs.tr_market[inputs.tr_market >= 0], minlength=M)[:M] > 0
        cash = account_cash(config, layout, traded)
        up = np.ones(V, np.bool_)
        for v in range(V):  # before a venue's first trace row, that row applies
            lo, hi = inputs.vt_start[v], inputs.vt_start[v + 1]
            if hi > lo:
                up[v] = inputs.lt_up[lo]
        self.state = State(
            counters=counters, **bufs,
            active=np.zeros(1024, np.int64), book=np.zeros(1024, np.int64),
            cash=cash, pos=np.zeros(M), entry=np.zeros(M), oracle=np.full(M, np.nan),
            last=np.full(M, np.nan),
            insurance=np.array([config.per_venue("insurance_fund", v) for v in layout.venues]),
            up=up, cp=np.zeros(1), cp_pos=np.zeros(M), ack_pos=np.zeros(M),
            fill_acked=np.zeros(cap["fills"], np.bool_),
            n_open=np.zeros(M, np.int64), n_armed=np.zeros(M, np.int64),
            next_arrival=np.array([E.NO_TS], np.int64), deferred=np.zeros(A, np.bool_),
            transit=np.zeros(1), intents=np.zeros((INTENT_CAPACITY, E.N_INTENT_COLS)),
            snapshot=np.zeros((A, E.N_SNAPSHOT_COLS)), view_pos=np.zeros(M), band=np.zeros((M, 2)),
            last_row=np.full(M, -1, np.int64),
            **book_state(M, int(inputs.cfg_i[CI_BOOK_LEVELS])),
        )
        self.initial_cash = cash.copy()
        self.initial_insurance = self.state.insurance.copy()
        self.n_trades = n_trades
        self.traded = traded  # per market: has the data any trade of it (else nothing can fill)

    # ------------------------------------------------------------------ kernel references
    def refs(self) -> tuple:
        """``(InputsRef, StateRef)`` over the arrays of :attr:`inputs` and :attr:`state`: what
        kernel functions take. Each is rebuilt when its NamedTuple was replaced (a buffer
        growing replaces :attr:`state`)."""
        if self._inp_ref[0] is not self.inputs:
            self._inp_ref = (self.inputs, inputs_ref(self.inputs))
        if self._st_ref[0] is not self.state:
            self._st_ref = (self.state, state_ref(self.state))
        return self._inp_ref[1], self._st_ref[1]

    @property
    def book_flag(self):
        """The kernel's book flag for these inputs: ``None`` when no market has book data, so
        the event loop runs the copy compiled without the order-book code (neither compiled
        nor loaded until a run has a book)."""
        inp = self.inputs
        return BOOK if (len(inp.bk_ts) or inp.mk_book.any()) else None

    def __getstate__(self) -> dict:
        # the references are compiled-code handles: rebuilt after unpickling
        return {k: v for k, v in self.__dict__.items() if k not in ("_inp_ref", "_st_ref")}

    def __setstate__(self, d: dict) -> None:
        self.__dict__.update(d, _inp_ref=(None, None), _st_ref=(None, None))

    def market_spec(self, market: str):
        """``config.market(market)``, built once per engine: a strategy asking for it at
        every decision (``Context.market_spec``, ``Context.requirement``) does not rebuild and
        revalidate the :class:`~backtester.Market` each time."""
        spec = self._specs.get(market)
        if spec is None:
            spec = self._specs[market] = self.config.market(market)
        return spec

    # ------------------------------------------------------------------ buffers
    def ensure_room(self, orders: int = 0) -> bool:
        """Grow any buffer that is close to full (after the kernel ran out of room, with room
        for ``orders`` more orders); True if something grew."""
        st = self.state
        c = st.counters
        M = len(st.pos)
        changes = {}
        book = int(c[E.C_BOOK]) + int(c[E.C_ACTIVE])
        fills = book + 2 * M + GROW_SLACK + orders
        need = {"orders": (E.C_ORDERS, 2 * M + GROW_SLACK + orders), "fills": (E.C_FILLS, fills),
                "ledger": (E.C_LEDGER, LEDGER_ROWS_PER_FILL * fills + GROW_SLACK),
                "funding": (E.C_FUNDING, 2), "liquidations": (E.C_LIQ, M + 1),
                "samples": (E.C_SAMPLES, 2), "transfers": (E.C_TRANSFERS, 2)}
        for name, (ci, extra) in need.items():
            arr = getattr(st, name)
            if len(arr) - int(c[ci]) <= extra:
                changes[name] = _grow(arr, int(c[ci]) + extra + 1)
        if "fills" in changes:
            changes["fill_acked"] = _grow(st.fill_acked, len(changes["fills"]))
        live = int(c[E.C_ORDERS]) + orders + 2 * M + GROW_SLACK
        if len(st.active) < live:
            changes["active"] = _grow(st.active, live)
            changes["book"] = _grow(st.book, live)
        if changes:
            self.state = st._replace(**changes)
        return bool(changes)

    def _grow_all(self) -> None:
        st = self.state
        changes = {name: _grow(getattr(st, name), 0) for name in _BUFFERS}
        changes["fill_acked"] = _grow(st.fill_acked, len(changes["fills"]))
        changes["active"] = _grow(st.active, 0)
        changes["book"] = _grow(st.book, 0)
        self.state = st._replace(**changes)

    # ------------------------------------------------------------------ running
    def step(self) -> int:
        """Run the kernel until done or an error in the decision hook (hook mode); grows
        buffers as needed. Returns ``EXIT_DONE`` or ``EXIT_ERROR``."""
        while True:
            code = run_nb(*self.refs(), self.book_flag)
            if code != E.EXIT_FULL:
                return code
            self.make_room()

    def make_room(self) -> None:
        """Grow the buffers after the kernel returned ``EXIT_FULL``."""
        if not self.ensure_room():
            self._grow_all()  # the kernel wants more headroom than the thresholds above

    def run(self) -> None:
        """Run to the end, answering decisions with the in-kernel targets (fast path)."""
        if self.step() != E.EXIT_DONE:
            raise RuntimeError("the kernel stopped in a decision hook: a hook-mode engine runs through "
                               "backtester.run (the hybrid driver), not Engine.run")

    def view(self, t: int) -> np.ndarray:
        """Per-market position the strategy expects at ``t`` (acknowledged + in flight)."""
        out = np.zeros(len(self.state.pos))
        view_nb(*self.refs(), np.int64(t), out)
        return out

    # ------------------------------------------------------------------ records
    def records(self, name: str, copy: bool = True) -> np.ndarray:
        """The filled part of a record buffer: a copy, or with ``copy=False`` a read-only view
        (valid until the engine runs again or grows its buffers). Padding bytes between fields
        are zero, so identical runs give identical bytes (hashes, checksums)."""
        part = getattr(self.state, name)[: int(self.state.counters[_COUNTER[name]])]
        pad = _PADDING[name]
        if len(pad) and len(part):  # the kernel writes whole records through stack copies
            if not part.flags.writeable:
                part = part.copy()
            part.view(np.uint8).reshape(len(part), -1)[:, pad] = 0
        if copy:  # not part.copy(): numpy copies a struct field by field into uninitialised memory
            out = np.zeros(len(part), part.dtype)
            out[...] = part
            return out
        part = part.view()
        part.flags.writeable = False
        return part
