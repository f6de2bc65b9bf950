"""The reference engine: one small function per rule of ``docs/simulation.md``.

Slow on purpose: plain Python objects, an explicit list of events sorted by
``(ts, step of the event order, sub-step, tie-break)`` and a loop over it. Every rule is a
method whose docstring names the section of ``docs/simulation.md`` it implements. Where that
page leaves a choice open, the choice made here is written next to the code as ``CHOICE:``
(and collected in ``CHOICES.md``). The public dataclasses are in ``interface.py`` (re-exported
here); targets, transfers and what a decision sees in ``decisions.py``; the order-book rules of
markets with book data in ``book.py``; records in ``records.py``.

Event order at one timestamp (docs/simulation.md, "Event order at one timestamp"):

1. trace rows                        -> STEP_TRACE
2. funding rows, then margin check   -> STEP_FUNDING
3. oracle rows, then margin check    -> STEP_ORACLE
4. arrivals of orders and cancels    -> STEP_ARRIVE: every arrival time is an event time of
                                        its own; one created after step 4 of its own time
                                        (zero latency, sent at step 7/8) is processed at once
5. trades (table order), each followed by a margin check -> STEP_MATCH, sub 0;
   then reorgs at this timestamp, each followed by a margin check -> STEP_MATCH, sub 1
6. book rows (top table, then levels table; table order)   -> STEP_BOOK (``book.py``)
7. stop observations (trade at ts seen at ts + feed_latency) -> STEP_STOPS
8. intents sent at this timestamp (the "decision")           -> STEP_SEND: orders, cancels,
                                        targets and transfers (``decisions.py``) in list order;
                                        its targets read the state before its first send
"""
from __future__ import annotations

import heapq
import math
from collections import defaultdict

from .book import STEP_BOOK, BookRules
from .decisions import DecisionRules
from .interface import (CancelIntent, MarketSpec, OrderIntent, RefConfig, RefResult, Reorg, TargetIntent,
                        TransferIntent)
from .records import (ACCOUNT_CP, FILL_COLUMNS, FUNDING_COLUMNS, LEDGER_COLUMNS, LIQ_COLUMNS,
                      ORDER_COLUMNS, TARGET_COLUMNS, TRANSFER_COLUMNS, Account, Event, Fill, Order,
                      Trace, TraceRow, frame, rows_of)
from .records import (CANCELLED, INSUFFICIENT_MARGIN, IOC_UNFILLED, LIQUIDATED, NO_PRICE, NONE,  # noqa: F401
                      POST_ONLY, REASON_NAMES, REDUCE_ONLY, REORG, VENUE_DOWN)
from .records import scaled_ns as _scaled
from .records import sign as _sign

__all__ = ["CancelIntent", "MarketSpec", "OrderIntent", "RefConfig", "RefResult", "Reorg", "TargetIntent",
           "TransferIntent", "run_reference"]

NAN = float("nan")

# Steps of the event order.
STEP_TRACE, STEP_FUNDING, STEP_ORACLE, STEP_ARRIVE, STEP_MATCH, STEP_STOPS, STEP_SEND = 1, 2, 3, 4, 5, 7, 8

LIVE = ("open", "partially_filled")
MAX_SLIPPAGE = 0.5   # docs/simulation.md: s is capped at 0.5


def run_reference(dataset, markets, config, intents, reorgs=()) -> RefResult:
    """Run the reference simulation of ``intents`` on ``dataset``.

    Parameters
    ----------
    dataset : data_loaders.Dataset
    markets : list[MarketSpec]
    config : RefConfig
    intents : list[OrderIntent | CancelIntent | TargetIntent | TransferIntent]
        Each is processed at step 8 of its ``sent_ts`` (ties: list order).
    reorgs : sequence of Reorg
    """
    sim = Simulation(dataset, list(markets), config, list(intents), list(reorgs))
    sim.run()
    return sim.result()


# ============================================================================ the simulation
class Simulation(DecisionRules, BookRules):
    """State and rules. ``run`` walks the event list; ``result`` builds the tables.

    Targets, transfers and what a decision sees are in ``decisions.DecisionRules``; the
    order-book rules in ``book.BookRules``."""

    def __init__(self, dataset, markets, config, intents, reorgs):
        if config.margin_mode not in ("cross", "isolated"):
            raise ValueError(f"margin_mode must be 'cross' or 'isolated', got {config.margin_mode!r}")
        if config.downtime_policy not in ("queue", "reject"):
            raise ValueError(f"downtime_policy must be 'queue' or 'reject', got {config.downtime_policy!r}")
        self.cfg = config
        self.specs = {m.name: m for m in markets}
        self.market_names = [m.name for m in markets]
        # Venues in order of first appearance in the market list (also the account order).
        self.venues = list(dict.fromkeys(m.venue for m in markets))
        self._load_tables(dataset)
        self._load_book(dataset)
        self._open_accounts()
        self.insurance = {v: float(config.insurance_fund.get(v, 0.0)) for v in self.venues}
        self.initial_total = (sum(a.cash for a in self.accounts.values()) + sum(self.insurance.values()))
        self.oracle = {m: None for m in self.market_names}      # oracle price in force
        self.last_trade = {m: None for m in self.market_names}  # last trade price processed
        self.window = {m: [] for m in self.market_names}       # processed trades (ts, size)
        self.orders: list[Order] = []
        self.fills: list[Fill] = []
        self.funding_rows: list[dict] = []
        self.liq_rows: list[dict] = []
        self.ledger: list[dict] = []
        self.transfers: list = []        # records.Transfer, in send order
        self.target_rows: list[dict] = []
        self.decision = None             # what the decision at ``now`` reads (begin_decision)
        self.in_transit = 0.0            # collateral on a bridge (trader equity, no account's NC)
        self.pending: list = []          # orders, cancels and transfers sent, not yet arrived
        self.send_seq = 0
        self.n_liquidations = 0
        self.now = None
        self.past_step4 = False          # step 4 of ``now`` is done: a new arrival at now is at once
        self.max_conservation_error = 0.0
        self.events = self._build_events(intents, reorgs)

    # ------------------------------------------------------------------ setup
    def _load_tables(self, ds):
        """Convert the Arrow tables to Python rows; keep only the markets/venues simulated."""
        self.trades = [r for r in rows_of(ds.trades, ["ts", "market", "price", "size", "side"])
                       if r["market"] in self.specs]
        self.funding = [r for r in rows_of(ds.funding, ["ts", "market", "rate", "oracle_price"])
                        if r["market"] in self.specs]
        oracle = [r for r in rows_of(ds.oracle, ["ts", "market", "price"]) if r["market"] in self.specs]
        trace_rows = defaultdict(list)
        for r in rows_of(ds.latency, ["ts", "venue", "order_latency", "ack_latency", "finality", "up", "gas_fee"]):
            if r["venue"] in self.venues:
                trace_rows[r["venue"]].append(TraceRow(r["ts"], r["order_latency"], r["ack_latency"],
                                                       r["finality"], bool(r["up"]), r["gas_fee"]))
        self.traces = {v: Trace(trace_rows[v]) for v in self.venues}
        # Inputs: "If a market has no oracle rows at all, its oracle is derived from trades:
        # every trade (ts, price) produces an oracle update (ts + oracle_delay, price)."
        with_rows = {r["market"] for r in oracle}
        self.oracle_updates = [(r["ts"], r["market"], r["price"], i) for i, r in enumerate(oracle)]
        n = len(oracle)
        for i, t in enumerate(self.trades):
            if t["market"] not in with_rows:
                self.oracle_updates.append((t["ts"] + self.cfg.oracle_delay_ns, t["market"], t["price"], n + i))

    def _open_accounts(self):
        """Accounting: one account per venue (cross) or per market (isolated: "each market's
        account starts with an equal share of its venue's cash among the venue's markets that
        have trades; a venue none of whose markets trade splits over all of them")."""
        self.accounts: dict[str, Account] = {}
        self.account_of: dict[str, str] = {}
        traded = {t["market"] for t in self.trades}
        for v in self.venues:
            cash = float(self.cfg.initial_cash.get(v, 0.0))
            vm = [m for m in self.market_names if self.specs[m].venue == v]
            funded = [m for m in vm if m in traded] or vm
            if self.cfg.margin_mode == "cross":
                self.accounts[v] = Account(v, v, cash, {m: [0.0, 0.0] for m in vm})
                for m in vm:
                    self.account_of[m] = v
            else:
                for m in vm:
                    name = f"{v}/{m}"
                    self.accounts[name] = Account(name, v, cash / len(funded) if m in funded else 0.0,
                                                  {m: [0.0, 0.0]})
                    self.account_of[m] = name
        # Money conservation: one counterparty book takes the other side of everything.
        self.cp = Account(ACCOUNT_CP, "", 0.0, {m: [0.0, 0.0] for m in self.market_names})

    def _build_events(self, intents, reorgs):
        ev = []
        for v, tr in self.traces.items():
            for i, row in enumerate(tr.rows):
                ev.append(Event(row.ts, STEP_TRACE, 0, i, "trace", (v, row)))
        for i, r in enumerate(self.funding):
            ev.append(Event(r["ts"], STEP_FUNDING, 0, i, "funding", (r["row"], r)))
        for ts, m, price, tie in self.oracle_updates:
            ev.append(Event(ts, STEP_ORACLE, 0, tie, "oracle", (m, price)))
        for i, t in enumerate(self.trades):
            ev.append(Event(t["ts"], STEP_MATCH, 0, i, "trade", t))
            # Stop-market: "A trade of its market at ts is observed at ts + feed_latency".
            ev.append(Event(t["ts"] + self.cfg.feed_latency_ns, STEP_STOPS, 0, i, "observe", t))
        for i, r in enumerate(reorgs):
            # CHOICE: a reorg at R comes after the trades at R (it reverts fills with
            # fill_ts <= R), and is followed by a margin check.
            ev.append(Event(r.ts, STEP_MATCH, 1, i, "reorg", r))
        for i, it in enumerate(intents):
            # Intents are the strategy's decisions: step 8 of their sent_ts; ties in list order.
            ev.append(Event(it.sent_ts, STEP_SEND, 0, i, "send", it))
        ev.extend(self.book_events())
        ev.sort()
        return ev

    # ------------------------------------------------------------------ lookups
    def mark(self, market):
        """Oracle price in force; no oracle yet: the last trade price; neither: None.

        CHOICE: the same fallback as admission/funding is used for margin checks, equity and
        liquidation prices (relevant only while a derived oracle lags its first trade)."""
        if self.oracle[market] is not None:
            return self.oracle[market]
        return self.last_trade[market]

    def up(self, venue, t) -> bool:
        return self.traces[venue].at(t).up

    def slippage_multiplier(self, t) -> float:
        """Config: constant, or step series: last row with ts <= t, 1.0 before the first."""
        m = self.cfg.slippage_multiplier
        if not isinstance(m, (list, tuple)):
            return float(m)
        value = 1.0
        for ts, v in sorted(m, key=lambda r: r[0]):
            if ts <= t:
                value = float(v)
        return value

    def traded_volume(self, market, t) -> float:
        """V: traded size of the market in (t - impact_window, t], trades processed so far.

        CHOICE: trades with the same ts later in table order are not yet processed, so they
        are not included (the current trade is)."""
        lo = t - self.cfg.impact_window_ns
        return sum(size for ts, size in self.window[market] if lo < ts <= t)

    # ------------------------------------------------------------------ accounting primitives
    def post(self, ts, account, venue, kind, market, amount, ref):
        """Append a ledger row. CHOICE: rows of exactly zero amount are not written."""
        if amount != 0.0:
            self.ledger.append(dict(ts=ts, account=account, venue=venue, kind=kind, market=market,
                                    amount=float(amount), ref=int(ref)))

    def move_cash(self, ts, acct: Account, amount, kind, market, ref):
        """A cash movement between a trader account and the counterparty book (fees, gas,
        funding, fee refunds): ``amount`` goes to the trader, ``-amount`` to the counterparty."""
        venue = acct.venue
        acct.cash += amount
        self.cp.cash -= amount
        self.post(ts, acct.name, venue, kind, market, amount, ref)
        self.post(ts, ACCOUNT_CP, venue, kind, market, -amount, ref)

    @staticmethod
    def apply_fill(pos: list, q: float, p: float) -> float:
        """Accounting: a fill of signed size q at price p on [S, E]; returns the realized PnL.

        The part that reduces |S| (r = min(|q|, |S|) when signs differ) realizes
        sign(S) * r * (p - E); the rest opens/extends at the size-weighted average entry
        (a flip starts at E = p). A flat position has E = 0."""
        S, E = pos
        realized = 0.0
        if S != 0.0 and _sign(q) != _sign(S):
            r = min(abs(q), abs(S))
            realized = _sign(S) * r * (p - E)
            new = S + q
            if abs(q) < abs(S):
                pos[:] = [new, E]
            elif abs(q) == abs(S):
                pos[:] = [0.0, 0.0]
            else:
                pos[:] = [new, p]           # flip: the remainder opens at p
        else:
            new = S + q
            pos[:] = [new, (abs(S) * E + abs(q) * p) / (abs(S) + abs(q))]
        return realized

    def trade_position(self, ts, acct: Account, market, q, p, kind, ref) -> float:
        """A fill on the trader account and the opposite fill on the counterparty book, each
        realizing PnL into its cash (ledger ``kind``: realized_pnl, or reorg_reversal).
        Returns the trader's realized PnL."""
        venue = self.specs[market].venue
        pnl = self.apply_fill(acct.positions[market], q, p)
        acct.cash += pnl
        self.post(ts, acct.name, venue, kind, market, pnl, ref)
        cp_pnl = self.apply_fill(self.cp.positions[market], -q, p)
        self.cp.cash += cp_pnl
        self.post(ts, ACCOUNT_CP, venue, kind, market, cp_pnl, ref)
        return pnl

    def equity(self, acct: Account) -> float:
        """NC = Q + sum_i S_i * (P_i - E_i) at oracle prices."""
        nc = acct.cash
        for m, (S, E) in acct.positions.items():
            if S != 0.0:
                nc += S * (self.mark(m) - E)
        return nc

    def requirement(self, acct: Account, frac: str, override=None) -> float:
        """IMR (frac='imf') or MMR (frac='mmf') = sum |S_i| P_i F_i; ``override`` replaces one
        market's position (for IMR' of an admission check)."""
        total = 0.0
        for m, (S, _E) in acct.positions.items():
            if override is not None and m == override[0]:
                S = override[1]
            if S != 0.0:
                total += abs(S) * self.mark(m) * getattr(self.specs[m], frac)
        return total

    # ------------------------------------------------------------------ the loop
    def run(self):
        """Timestamp by timestamp. The queue is a heap because sends add events: an order or
        cancel arriving at ``a`` makes ``a`` an event time whose step 4 processes it."""
        heap = list(self.events)
        heapq.heapify(heap)
        self.heap = heap
        while heap:
            ts = heap[0].ts
            group = []
            while heap and heap[0].ts == ts:
                group.append(heapq.heappop(heap))
            self.process_timestamp(ts, group)
            self.audit_conservation()

    def schedule_arrival(self, kind, arrive_ts, o: Order):
        """Make ``arrive_ts`` an event time (its step 4 processes what arrived by then).

        "Something created after step 4 of its own arrival time (a zero-latency order sent at
        step 7 or 8) is processed at once": it reaches the engine now, before any later send
        of this timestamp (whose gas could otherwise change its admission)."""
        if arrive_ts == self.now and self.past_step4:
            self.reach_engine(kind, o)
        else:
            self.pending.append((kind, arrive_ts, self.send_seq, o))
            heapq.heappush(self.heap, Event(arrive_ts, STEP_ARRIVE, 0, self.send_seq, "arrive"))
        self.send_seq += 1

    def process_timestamp(self, ts, events):
        """All events of one timestamp, steps 1 to 8 (docs: "Event order at one timestamp")."""
        self.now = ts
        self.past_step4 = False
        steps = defaultdict(list)
        for e in events:                       # already sorted by (step, sub, tie)
            steps[e.step].append(e)
        # 1. trace rows: the trace is a step function looked up at any time (Trace.at), so a
        #    trace row needs no action; it is an event so arrivals can be processed at it.
        # 2. funding rows, then a margin check.
        for e in steps[STEP_FUNDING]:
            self.pay_funding(ts, *e.data)
        if steps[STEP_FUNDING]:
            self.margin_check(ts)
        # 3. oracle rows, then a margin check.
        for e in steps[STEP_ORACLE]:
            market, price = e.data
            self.oracle[market] = price
        if steps[STEP_ORACLE]:
            self.margin_check(ts)
        # 4. orders and cancels whose arrival time is <= ts.
        self.process_arrivals(ts)
        self.past_step4 = True
        # 5. trades one at a time in table order, each followed by a margin check; then
        #      reorgs at this timestamp, each followed by a margin check.
        for e in steps[STEP_MATCH]:
            if e.kind == "trade":
                self.on_trade(e.data)
            else:
                self.apply_reorg(e.data)
            self.margin_check(ts)
        # 6. book rows: the book after the trades of their time (book.BookRules).
        for e in steps[STEP_BOOK]:
            self.apply_book_op(e.data)
        # 7. client-side stops on observed trades.
        for e in steps[STEP_STOPS]:
            self.observe_trade(ts, e.data)
        # 8. intents sent now: one decision, reading one state (decisions.begin_decision).
        if steps[STEP_SEND]:
            self.begin_decision(ts, [e.data for e in steps[STEP_SEND]])
        for e in steps[STEP_SEND]:
            if isinstance(e.data, CancelIntent):
                self.send_cancel(ts, e.data)
            elif isinstance(e.data, TargetIntent):
                self.decide_target(ts, e.data)
            elif isinstance(e.data, TransferIntent):
                self.send_transfer(ts, e.data)
            else:
                self.send_order(ts, e.data)

    def audit_conservation(self):
        """Money conservation: trader equity (collateral on a bridge included) + insurance +
        counterparty equity is constant."""
        total = sum(self.equity(a) for a in self.accounts.values()) + self.in_transit
        total += sum(self.insurance.values()) + self.equity(self.cp)
        err = abs(total - self.initial_total)
        self.max_conservation_error = max(self.max_conservation_error, err)

    # ------------------------------------------------------------------ funding (step 2)
    def funding_price(self, row):
        """Paid at the row's oracle_price, or when NaN at the market's oracle price in force
        before this timestamp's oracle rows (no oracle yet: the last trade price; none: NaN)."""
        p = row["oracle_price"]
        if p is not None and not math.isnan(p):
            return p
        m = self.mark(row["market"])           # step 3 of this ts has not run yet
        return NAN if m is None else m

    def pay_funding(self, ts, index, row):
        """Funding: each account holding the market is paid ``-S * price * rate``.

        CHOICE: one record per account with a non-zero position; funding is paid whether or
        not the venue is up."""
        market = row["market"]
        price = self.funding_price(row)
        for acct in self.accounts.values():
            if market not in acct.positions or acct.positions[market][0] == 0.0:
                continue
            S = acct.positions[market][0]
            payment = NAN if math.isnan(price) else -S * price * row["rate"]
            self.funding_rows.append(dict(ts=ts, account=acct.name, venue=acct.venue, market=market,
                                          position=S, price=price, rate=row["rate"], payment=payment))
            if not math.isnan(payment):
                self.move_cash(ts, acct, payment, "funding", market, index)

    # ------------------------------------------------------------------ sending (step 8, 7)
    def new_order(self, ts, it, parent_id=-1) -> Order:
        spec = self.specs.get(it.market)
        if spec is None:
            raise ValueError(f"order for unknown market {it.market!r}")
        if it.side not in (1, -1) or not it.size > 0:
            raise ValueError(f"invalid order side/size: {it}")
        if it.type not in ("market", "limit", "stop_market"):
            raise ValueError(f"unknown order type {it.type!r}")
        if it.type == "limit" and it.ioc and it.post_only:
            # CHOICE: post_only ("never takes") and ioc ("never rests") contradict each other.
            raise ValueError("an order cannot be both post_only and ioc")
        if it.type == "limit" and not math.isfinite(it.limit_price):
            raise ValueError("a limit order needs a finite limit_price")
        if it.type == "stop_market" and not math.isfinite(it.trigger_price):
            raise ValueError("a stop_market order needs a finite trigger_price")
        o = Order(order_id=len(self.orders), venue=spec.venue, market=it.market, side=int(it.side),
                  size=float(it.size), type=it.type, limit_price=float(it.limit_price),
                  trigger_price=float(it.trigger_price), reduce_only=bool(it.reduce_only),
                  post_only=bool(it.post_only), ioc=bool(it.ioc), sent_ts=ts, arrive_ts=ts,
                  parent_id=parent_id, account=self.account_of[it.market], remaining=float(it.size))
        self.orders.append(o)
        return o

    def charge_gas(self, ts, acct: Account, venue, market, ref):
        """Gas: each submit and each cancel costs the gas_fee of the trace row in force at
        the send time, charged at the send time (ledger ``gas``)."""
        gas = self.traces[venue].at(ts).gas_fee
        self.move_cash(ts, acct, -gas, "gas", market, ref)

    def send_order(self, ts, it):
        """Orders: ids 0, 1, 2, ... in send order. Stops are held by the client (no gas,
        no latency); other orders pay gas and travel to the engine."""
        o = self.new_order(ts, it)
        if o.type == "stop_market":
            # CHOICE: arming a client-side stop is not a transaction (no gas); its arrive_ts
            # is its sent_ts. Its triggered market order pays gas like any submit.
            return
        self.dispatch(ts, o)

    def send_market_order(self, ts, market, side, size) -> int:
        """A plain market order sent at ``ts`` (a target's order); returns its id."""
        o = self.new_order(ts, OrderIntent(ts, market, side, size))
        self.dispatch(ts, o)
        return o.order_id

    def dispatch(self, ts, o: Order):
        """Arrival: arrive_ts = sent_ts + latency_scale * order_latency(sent_ts); a venue
        down at arrive_ts queues it to the next up row (policy queue) or rejects it."""
        acct = self.accounts[o.account]
        self.charge_gas(ts, acct, o.venue, o.market, o.order_id)
        trace = self.traces[o.venue]
        arrive = ts + _scaled(trace.at(ts).order_latency, self.cfg.latency_scale)
        o.arrive_ts = arrive
        if not trace.at(arrive).up:
            back = trace.next_up_after(arrive) if self.cfg.downtime_policy == "queue" else None
            if back is None:
                o.down_at_arrival = True     # rejected VENUE_DOWN when the arrival is processed
            else:
                o.arrive_ts = back
        self.schedule_arrival("order", o.arrive_ts, o)

    def send_cancel(self, ts, c: CancelIntent):
        """Cancel: sent at t, reaches the engine at t + latency_scale * order_latency(t), gas
        at the send time.

        CHOICE: a cancel naming an order id not yet assigned at its send time is ignored (no
        gas). Cancels are not subject to downtime (only orders are queued/rejected)."""
        if not (0 <= c.order_id < len(self.orders)):
            return
        target = self.orders[c.order_id]
        acct = self.accounts[target.account]
        self.charge_gas(ts, acct, target.venue, target.market, target.order_id)
        trace = self.traces[target.venue]
        arrive = ts + _scaled(trace.at(ts).order_latency, self.cfg.latency_scale)
        self.schedule_arrival("cancel", arrive, target)

    # ------------------------------------------------------------------ arrivals (step 4)
    def process_arrivals(self, ts):
        """Step 4: what has arrived by ts, in (arrival time, send order)."""
        due = sorted((p for p in self.pending if p[1] <= ts), key=lambda p: (p[1], p[2]))
        self.pending = [p for p in self.pending if p[1] > ts]
        for kind, _arrive, _seq, o in due:
            self.reach_engine(kind, o)

    def reach_engine(self, kind, o):
        """An order, a cancel or a transfer (``o`` is then a records.Transfer) arrives."""
        if kind == "cancel":
            self.cancel_at_engine(o)
        elif kind == "transfer":
            self.arrive_transfer(o)
        else:
            self.arrive(o)

    def cancel_at_engine(self, o: Order):
        """A cancel cancels what is left of the order when it arrives (CANCELLED).

        CHOICE: this includes orders still in flight and untriggered stops."""
        if o.status in LIVE:
            self.close_order(o, "cancelled", CANCELLED)

    def arrive(self, o: Order):
        """Arrival: VENUE_DOWN rejection, then admission (not for reduce-only), then the book."""
        if o.status not in LIVE:               # cancelled in flight, or liquidated
            return
        if o.down_at_arrival:
            self.close_order(o, "rejected", VENUE_DOWN)
            return
        if not o.reduce_only:
            reason = self.admission(o)
            if reason != NONE:
                self.close_order(o, "rejected", reason)
                return
        if self.has_book(o.market):
            # takers walk, limits queue (book.BookRules). CHOICE: no margin check follows a walk
            # (the contract's checks are at steps 2, 3 and 5).
            self.arrive_on_book(o)
        else:
            o.in_book = True

    def admission(self, o: Order) -> int:
        """Admission at arrival: with S' the position after the full order and
        IMR' = sum |S'_i| P_i IMF_i over the order's account, reject INSUFFICIENT_MARGIN if
        IMR' > NC and IMR' > IMR; no price for the market: NO_PRICE."""
        if self.mark(o.market) is None:
            return NO_PRICE
        acct = self.accounts[o.account]
        S_after = acct.positions[o.market][0] + o.side * o.size
        imr_after = self.requirement(acct, "imf", override=(o.market, S_after))
        if imr_after > self.equity(acct) and imr_after > self.requirement(acct, "imf"):
            return INSUFFICIENT_MARGIN
        return NONE

    def close_order(self, o: Order, status, reason):
        o.status, o.reason = status, reason
        o.in_book = False

    # ------------------------------------------------------------------ matching (step 5)
    def on_trade(self, t):
        """Step 5: record the trade (last price, impact window), then, if the venue is up,
        match the book of its market in arrival order (ties by order id)."""
        m = t["market"]
        self.last_trade[m] = t["price"]
        self.window[m].append((t["ts"], t["size"]))
        venue = self.specs[m].venue
        if not self.up(venue, t["ts"]):
            return                              # Downtime: no trade is matched (CHOICE: nor a queue advanced)
        book = sorted((o for o in self.orders if o.in_book and o.market == m and o.status in LIVE),
                      key=lambda o: (o.arrive_ts, o.order_id))
        available = t["size"]                   # what limit orders may take from this trade
        for o in book:
            if o.status not in LIVE:           # (a liquidation cannot happen mid-trade; safety)
                continue
            if o.type == "market" or o.ioc:
                self.fill_taker(o, t)
            elif self.has_book(m):
                available = self.fill_queued(o, t, available)
            else:
                available = self.fill_maker(o, t, available)

    def reduce_only_size(self, o: Order, want: float):
        """Reduce-only: clip the fill to |S| when it reduces the position; cancel the order
        (REDUCE_ONLY) when the position is flat or on the same side. Returns the size or None."""
        S = self.accounts[o.account].positions[o.market][0]
        if S == 0.0 or _sign(S) == o.side:
            self.close_order(o, "cancelled", REDUCE_ONLY)
            return None
        return min(want, abs(S))

    def taker_price(self, o: Order, size, t) -> float:
        """Market order price: trade.price * (1 + side * s),
        s = m(t) * (half_spread + impact * sqrt(size / V)).

        CHOICE: ``size`` is the size actually filled (after reduce-only clipping)."""
        spec = self.specs[o.market]
        V = self.traded_volume(o.market, t["ts"])
        s = self.slippage_multiplier(t["ts"]) * (spec.half_spread + spec.impact * math.sqrt(size / V))
        s = min(s, MAX_SLIPPAGE)  # a taker never pays over 1.5x, nor sells under 0.5x, the print
        return t["price"] * (1 + o.side * s)

    def fill_taker(self, o: Order, t):
        """Market orders (and IOC limits) fill in full against the first trade after arrival
        as taker. IOC: only if the price is no worse than limit_price, else IOC_UNFILLED.

        CHOICE: a reduce-only clip leaves a remainder, which is cancelled (REDUCE_ONLY)."""
        size = o.remaining
        if o.reduce_only:
            size = self.reduce_only_size(o, size)
            if size is None:
                return
        price = self.taker_price(o, size, t)
        if o.ioc and o.type == "limit" and o.side * (price - o.limit_price) > 0:
            self.close_order(o, "cancelled", IOC_UNFILLED)
            return
        fee = self.specs[o.market].taker_fee * size * price
        slippage_cost = size * abs(price - t["price"])
        self.fill(o, t["ts"], size, price, t["price"], "taker", fee, slippage_cost)
        if o.remaining > 0:
            self.close_order(o, "cancelled", REDUCE_ONLY)

    def fill_maker(self, o: Order, t, available) -> float:
        """Limit orders: a trade strictly through the limit fills them at limit_price, as
        maker, up to the trade's size in total; partial fills keep resting. Returns what is
        left of the trade's size. (post_only orders rest and fill the same way.)"""
        crosses = t["price"] < o.limit_price if o.side > 0 else t["price"] > o.limit_price
        if not crosses or available <= 0.0:
            return available
        size = min(o.remaining, available)
        if o.reduce_only:
            size = self.reduce_only_size(o, size)
            if size is None:
                return available
        fee = self.specs[o.market].maker_fee * size * o.limit_price
        # CHOICE: slippage_cost is defined for taker fills only; a maker fill's is 0.
        self.fill(o, t["ts"], size, o.limit_price, t["price"], "maker", fee, 0.0)
        return available - size

    def fill(self, o: Order, ts, size, price, trade_price, liquidity, fee, slippage_cost):
        """One fill of an order: position and realized PnL, fee, fill record, order status."""
        acct = self.accounts[o.account]
        fill_id = len(self.fills)
        pnl = self.trade_position(ts, acct, o.market, o.side * size, price, "realized_pnl", fill_id)
        self.move_cash(ts, acct, -fee, "fee", o.market, fill_id)
        self.fills.append(self.fill_record(fill_id, o.order_id, ts, o.venue, acct.name, o.market,
                                           o.side, size, price, trade_price, liquidity, fee,
                                           slippage_cost))
        self.fills[-1].realized_pnl = pnl
        o.filled_size += size
        # CHOICE: the unfilled size is ``size - filled_size`` (the running sum of the fills) and
        # the order is filled once that sum reaches its size. A running difference
        # (remaining -= size) lands an ulp away after many partial fills, and a reduce-only clip
        # exactly at the boundary then ends the order as "filled" in one bookkeeping and as
        # "cancelled (REDUCE_ONLY)" with dust left in the other.
        if o.filled_size >= o.size:
            o.remaining = 0.0
            o.status = "filled"
            o.in_book = False
        else:
            o.remaining = o.size - o.filled_size
            o.status = "partially_filled"

    def fill_record(self, fill_id, order_id, ts, venue, account, market, side, size, price,
                    trade_price, liquidity, fee, slippage_cost) -> Fill:
        """Acknowledgement at ts + scale*ack_latency(ts); final at ts + scale*finality(ts)."""
        row = self.traces[venue].at(ts)
        scale = self.cfg.latency_scale
        return Fill(fill_id, order_id, ts, venue, account, market, side, size, price, trade_price,
                    liquidity, fee, slippage_cost, ts + _scaled(row.ack_latency, scale),
                    ts + _scaled(row.finality, scale))

    # ------------------------------------------------------------------ margin (steps 2, 3, 5)
    def margin_check(self, ts):
        """After each event: every account with positions and NC < MMR is liquidated.

        CHOICE: only while its venue is up ("the first margin check after recovery may
        liquidate at a gap"); accounts in order (venues by first appearance, then markets)."""
        for acct in self.accounts.values():
            if not any(S != 0.0 for S, _E in acct.positions.values()):
                continue
            if not self.up(acct.venue, ts):
                continue
            if self.equity(acct) < self.requirement(acct, "mmf"):
                self.liquidate(ts, acct)

    def liquidate(self, ts, acct: Account):
        """Liquidation, steps 1-4 of docs/simulation.md."""
        venue = acct.venue
        held = [(m, S, self.mark(m)) for m, (S, _E) in acct.positions.items() if S != 0.0]
        notionals = [abs(S) * P for _m, S, P in held]
        total_notional = sum(notionals)
        # 1. each position closes at P * (1 - sign(S) * liq_spread * MMF * ABR), no trading
        #    fee, where ABR = clamp(1 - NC / MMR, 0, 1) is measured before closing.
        nc, mmr = self.equity(acct), self.requirement(acct, "mmf")
        abr = min(max(1.0 - nc / mmr, 0.0), 1.0)
        prices = []
        for m, S, P in held:
            spec = self.specs[m]
            price = self.book_close_price(m, S, P, ts)          # None: no book to close against
            if price is None:
                price = P * (1 - _sign(S) * self.cfg.liq_spread * spec.mmf * abr)
            prices.append(price)
            fill_id = len(self.fills)
            pnl = self.trade_position(ts, acct, m, -S, price, "realized_pnl", fill_id)
            # CHOICE: slippage_cost of a liquidation fill is 0 (its cost is in liquidations).
            self.fills.append(self.fill_record(fill_id, -1, ts, venue, acct.name, m, -_sign(S),
                                               abs(S), price, NAN, "liquidation", 0.0, 0.0))
            self.fills[-1].realized_pnl = pnl
        # 2. fee min(liq_fee * notional, max(Q, 0)) to the insurance fund.
        #    CHOICE: with per-market liq_fee the cap is sum_i liq_fee_i * |S_i| P_i.
        liq_no = self.n_liquidations           # ledger ref of the account-level rows
        self.n_liquidations += 1
        cap = sum(self.specs[m].liq_fee * n for (m, _S, _P), n in zip(held, notionals))
        fee = min(cap, max(acct.cash, 0.0))
        acct.cash -= fee
        self.insurance[venue] += fee
        self.post(ts, acct.name, venue, "liquidation_fee", "", -fee, liq_no)
        self.post(ts, f"insurance:{venue}", venue, "liquidation_fee", "", fee, liq_no)
        # 3. a negative balance is paid by the insurance fund, the rest socialized.
        deficit = max(-acct.cash, 0.0)
        paid = min(deficit, self.insurance[venue])
        socialized = deficit - paid
        if deficit > 0.0:
            self.insurance[venue] -= paid
            self.post(ts, acct.name, venue, "insurance_payout", "", paid, liq_no)
            self.post(ts, f"insurance:{venue}", venue, "insurance_payout", "", -paid, liq_no)
            self.cp.cash -= socialized
            self.post(ts, acct.name, venue, "socialized_loss", "", socialized, liq_no)
            self.post(ts, ACCOUNT_CP, venue, "socialized_loss", "", -socialized, liq_no)
            acct.cash = 0.0
        # 4. open orders of the account are cancelled (LIQUIDATED).
        #    CHOICE: every live order of the account: resting, in flight, untriggered stops.
        for o in self.orders:
            if o.account == acct.name and o.status in LIVE:
                self.close_order(o, "cancelled", LIQUIDATED)
        #    One record per position; fee, deficit, insurance and socialized shares are all
        #    pro rata to notional (CHOICE for the last three).
        for (m, S, P), n, price in zip(held, notionals, prices):
            w = n / total_notional
            self.liq_rows.append(dict(ts=ts, account=acct.name, venue=venue, market=m, size=S,
                                      oracle_price=P, price=price, fee=fee * w, deficit=deficit * w,
                                      insurance_paid=paid * w, socialized=socialized * w))

    # ------------------------------------------------------------------ stops (step 7)
    def observe_trade(self, ts, t):
        """Stop-market: a buy stop triggers when an observed trade price >= trigger_price, a
        sell stop when <= trigger_price; it then sends a market order (new id, gas, latency)
        with its size, side and flags at ts + feed_latency (= now). Stops in id order."""
        for stop in list(self.orders):
            if stop.type != "stop_market" or stop.status not in LIVE or stop.market != t["market"]:
                continue
            hit = t["price"] >= stop.trigger_price if stop.side > 0 else t["price"] <= stop.trigger_price
            if not hit:
                continue
            stop.status, stop.reason = "triggered", NONE
            child = OrderIntent(ts, stop.market, stop.side, stop.size, "market",
                                reduce_only=stop.reduce_only, post_only=stop.post_only, ioc=stop.ioc)
            # The child is a market order: its ioc/post_only flags are recorded but moot.
            self.dispatch(ts, self.new_order(ts, child, parent_id=stop.order_id))

    # ------------------------------------------------------------------ reorgs
    def apply_reorg(self, r: Reorg):
        """A reorg at R on a venue reverts its fills with fill_ts <= R < final_ts, latest
        first: the opposite fill at the same price, fee refunded (ledger reorg_reversal), the
        order cancelled with reason REORG.

        CHOICE: liquidation fills are not reverted; a reverted fill keeps its row with
        ``reverted=True`` (no new fill row); the order's filled_size drops by the reverted size."""
        R = r.ts
        hit = [f for f in self.fills if f.venue == r.venue and f.liquidity != "liquidation"
               and not f.reverted and f.ts <= R < f.final_ts]
        for f in sorted(hit, key=lambda f: f.fill_id, reverse=True):
            o = self.orders[f.order_id]
            acct = self.accounts[f.account]
            self.trade_position(R, acct, f.market, -f.side * f.size, f.price, "reorg_reversal", f.fill_id)
            self.move_cash(R, acct, f.fee, "reorg_reversal", f.market, f.fill_id)
            f.reverted, f.reverted_ts = True, R
            o.filled_size -= f.size
            self.close_order(o, "cancelled", REORG)

    # ------------------------------------------------------------------ results
    def result(self) -> RefResult:
        orders = frame([o.row() for o in self.orders], ORDER_COLUMNS)
        fills = frame([f.row() for f in self.fills], FILL_COLUMNS)
        return RefResult(orders=orders, fills=fills,
                         funding=frame(self.funding_rows, FUNDING_COLUMNS),
                         liquidations=frame(self.liq_rows, LIQ_COLUMNS),
                         ledger=frame(self.ledger, LEDGER_COLUMNS),
                         final=self.final_state(),
                         transfers=frame([t.row() for t in self.transfers], TRANSFER_COLUMNS),
                         targets=frame(self.target_rows, TARGET_COLUMNS))

    def final_state(self) -> dict:
        marks = {m: (NAN if self.mark(m) is None else self.mark(m)) for m in self.market_names}
        # Transfers: "Collateral on a bridge counts in the trader's total equity but in no
        # account's NC".
        trader = sum(self.equity(a) for a in self.accounts.values()) + self.in_transit
        cp = self.equity(self.cp)
        return {
            "cash": {a.name: a.cash for a in self.accounts.values()},
            "positions": {(a.name, m): {"size": S, "entry_price": E}
                          for a in self.accounts.values() for m, (S, E) in a.positions.items()},
            "equity": {a.name: self.equity(a) for a in self.accounts.values()},
            "insurance": dict(self.insurance),
            "counterparty_cash": self.cp.cash,
            "counterparty_positions": {m: {"size": S, "entry_price": E}
                                       for m, (S, E) in self.cp.positions.items()},
            "counterparty_equity": cp,
            "trader_equity": trader,
            "oracle": marks,
            "initial_total": self.initial_total,
            "total": trader + sum(self.insurance.values()) + cp,
            "max_conservation_error": self.max_conservation_error,
        }
