"""Order-book rules of the reference engine (docs/simulation.md, "Order book (markets with book
data)"): book rows, the stressed view a taker sees, taker walks at arrival, post-only rejection,
queue position of resting limits, liquidation closes against the book.

``BookRules`` is a mixin of ``engine.Simulation`` like ``decisions.DecisionRules``: it reads the
simulation's state and acts through its primitives (``fill``, ``close_order``,
``reduce_only_size``, ``traded_volume``, ``slippage_multiplier``). A market without book rows
never reaches any of it, so every result on data without a book is the trade-tape answer.

State per market ``m`` and book side ``s`` (+1 bid, -1 ask):

* ``self.depth[m][s]``: ``{price: D}``, the data size of each level (absent: 0);
* ``self.taken[m][s]``: ``{price: taken}``, what our takers and liquidation closes took at the
  level since the data last set it (in the stressed units of ``D / m``).

Each resting limit on a book market carries ``queue_ahead`` (``A``) and ``traded_at_level``
(``T``) on its ``records.Order``; ``queue_ahead`` is NaN for an order that never rested there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .records import IOC_UNFILLED, POST_ONLY, REDUCE_ONLY, Event, rows_of
from .records import sign as _sign

NAN = float("nan")
LIVE = ("open", "partially_filled")
MAX_SLIPPAGE = 0.5
STEP_BOOK = 6
QUEUE_MODELS = ("conservative", "probabilistic")
#: at-limit fills smaller than this share of the trade are float dust (docs: "Queue position")
DUST = 1e-9


@dataclass
class BookOp:
    """One step of a market's book data: an update row (``snapshot=False``, one level) or a
    snapshot group (``snapshot=True``: the side is cleared, then ``levels`` set)."""
    ts: int
    market: str
    side: int
    snapshot: bool
    levels: list = field(default_factory=list)    # [(price, size)], table order


def _empty(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def book_ops(dataset) -> list[tuple[int, int, BookOp]]:
    """``(sub, tie, op)`` of every book row of ``dataset`` in processing order at a timestamp:
    the top table (sub 0) before the levels table (sub 1), table order within each.

    A top row is two snapshot groups of one row each, bid then ask ("a side with size 0 or a
    NaN price is an empty side": the group then only clears the side). In the levels table a
    snapshot group is a run of *consecutive* rows with ``is_snapshot`` and the same ts, market
    and side; a row of another market or side in between ends the run."""
    out = []
    top = getattr(dataset, "book", None)
    if top is not None and top.num_rows:
        for r in rows_of(top, ["ts", "market", "bid", "bid_size", "ask", "ask_size"]):
            for k, (side, price, size) in enumerate(((1, r["bid"], r["bid_size"]), (-1, r["ask"], r["ask_size"]))):
                shown = not (_empty(price) or _empty(size) or size <= 0.0)
                op = BookOp(r["ts"], r["market"], side, True, [(price, size)] if shown else [])
                out.append((0, 2 * r["row"] + k, op))
    levels = getattr(dataset, "book_levels", None)
    if levels is not None and levels.num_rows:
        group, key = None, None
        for r in rows_of(levels, ["ts", "market", "side", "price", "size", "is_snapshot"]):
            this = (r["ts"], r["market"], int(r["side"]))
            if r["is_snapshot"] and group is not None and key == this:
                group.levels.append((r["price"], r["size"]))
                continue
            op = BookOp(r["ts"], r["market"], int(r["side"]), bool(r["is_snapshot"]), [(r["price"], r["size"])])
            out.append((1, r["row"], op))
            group, key = (op, this) if op.snapshot else (None, None)
    return out


# ============================================================================ the rules
class BookRules:
    """Book data, stress, taker walks, post-only, queue position, liquidation closes."""

    # ------------------------------------------------------------------ setup
    def _load_book(self, dataset):
        if self.cfg.queue_model not in QUEUE_MODELS:
            raise ValueError(f"queue_model must be one of {QUEUE_MODELS}, got {self.cfg.queue_model!r}")
        power = float(self.cfg.queue_power)
        if not (math.isfinite(power) and power >= 0.0):
            raise ValueError(f"queue_power must be finite and >= 0, got {self.cfg.queue_power!r}")
        # "SimConfig(book=False) applies the trade-tape rules everywhere": no market has book data.
        rows = book_ops(dataset) if self.cfg.book else []
        self.book_rows = [(sub, tie, op) for sub, tie, op in rows if op.market in self.specs]
        # "A market with rows in a book table (it has book data)": rows anywhere in the run,
        # also after the order in question (before its first row its book is empty).
        self.book_markets = {op.market for _s, _t, op in self.book_rows}
        self.depth = {m: {1: {}, -1: {}} for m in self.market_names}
        self.taken = {m: {1: {}, -1: {}} for m in self.market_names}

    def book_events(self) -> list[Event]:
        return [Event(op.ts, STEP_BOOK, sub, tie, "book", op) for sub, tie, op in self.book_rows]

    def has_book(self, market) -> bool:
        return market in self.book_markets

    # ------------------------------------------------------------------ book rows (step 6)
    def apply_book_op(self, op: BookOp):
        """An update row sets the size of its level (0 removes it) and resets its ``taken``;
        a snapshot group clears the side (and all its ``taken``), then sets its rows. Then the
        queue of every resting limit whose level's data size changed (``queue_on_change``)."""
        side = op.side
        depth, taken = self.depth[op.market][side], self.taken[op.market][side]
        resting = [o for o in self.queued_orders(op.market) if o.side == side]
        if not op.snapshot:
            price = op.levels[0][0]
            resting = [o for o in resting if o.limit_price == price]
        prev = [depth.get(o.limit_price, 0.0) for o in resting]
        if op.snapshot:
            depth.clear()
            taken.clear()
        for price, size in op.levels:
            if size > 0.0:
                depth[price] = size
            else:
                depth.pop(price, None)
            taken.pop(price, None)
        for o, before in zip(resting, prev):
            after = depth.get(o.limit_price, 0.0)
            if after != before:
                self.queue_on_change(o, before, after)

    def queued_orders(self, market) -> list:
        """Limits resting with a queue position on ``market``, in (arrival, id) order."""
        return sorted((o for o in self.orders if o.market == market and o.in_book and o.status in LIVE
                       and not math.isnan(o.queue_ahead)), key=lambda o: (o.arrive_ts, o.order_id))

    def out_of_view(self, market, side, limit) -> bool:
        """"The side is empty, or every level it shows is better than the limit".

        CHOICE: "shows" is the data's side, not the stressed view: stress thins what our takers
        see; the data still tells where the queue is (a level hidden by stress is not unknown)."""
        return all(side * (price - limit) > 0 for price in self.depth[market][side])

    def queue_on_change(self, o, prev, new):
        """A book row changed D(limit) on the order's side from ``prev`` to ``new``: unless the
        limit is out of view, ``chg = prev - new - T``, ``T = 0``, then the queue model."""
        if self.out_of_view(o.market, o.side, o.limit_price):
            return
        chg = prev - new - o.traded_at_level
        o.traded_at_level = 0.0
        A = o.queue_ahead
        if self.cfg.queue_model == "probabilistic" and chg > 0:
            front, back = A, max(prev - A, 0.0)
            power = float(self.cfg.queue_power)
            f_back, f_front = back ** power, front ** power
            p = 1.0 if f_back + f_front == 0.0 else f_back / (f_back + f_front)
            A = max(min(front - (1.0 - p) * chg + min(back - p * chg, 0.0), new), 0.0)
        else:
            A = min(A, new)
        o.queue_ahead = A

    # ------------------------------------------------------------------ what a taker sees
    def shown_levels(self, market, side, t) -> list[tuple[float, float]]:
        """Stress: the side's best ``ceil(n / m)`` levels (all when ``m <= 1``), each of size
        ``D / m``, best first.

        CHOICE: ``m = 0`` (frictionless) shows every level with unbounded size: ``D / m`` taken
        as its limit, so a taker fills at the touch."""
        mult = self.slippage_multiplier(t)
        prices = sorted(self.depth[market][side], key=lambda p: -side * p)
        if mult > 1.0:
            prices = prices[: math.ceil(len(prices) / mult)]
        D = self.depth[market][side]
        return [(p, D[p] / mult if mult > 0.0 else math.inf) for p in prices]

    def available(self, market, side, price, shown) -> float:
        return max(shown - self.taken[market][side].get(price, 0.0), 0.0)

    def touch(self, market, taker_side, t):
        """The best shown price with available size on the side a taker of ``taker_side``
        takes from (the opposite book side); None when there is none."""
        side = -taker_side
        for price, shown in self.shown_levels(market, side, t):
            if self.available(market, side, price, shown) > 0.0:
                return price
        return None

    def walk(self, market, taker_side, q, t, limit=None):
        """Taking: ``min(rest, available)`` at each shown level, best first, until ``q`` is
        taken, the shown levels run out, or the next level is worse than ``limit``. Adds what
        it takes to the levels' ``taken``. Returns ``([(price, size)], rest)``."""
        side = -taker_side
        takes, rest = [], q
        for price, shown in self.shown_levels(market, side, t):
            if rest <= 0.0:
                break
            if limit is not None and taker_side * (price - limit) > 0:
                break
            x = min(rest, self.available(market, side, price, shown))
            if x <= 0.0:
                continue
            takes.append((price, x))
            self.taken[market][side][price] = self.taken[market][side].get(price, 0.0) + x
            rest -= x
        return takes, rest

    # ------------------------------------------------------------------ arrivals (step 4)
    def arrive_on_book(self, o):
        """An admitted market, IOC or limit order reaches a market with book data."""
        if o.type == "market":
            self._arrive_market(o)
        elif o.ioc:
            self._arrive_ioc(o)
        else:
            self._arrive_limit(o)

    def _clip(self, o):
        """Reduce-only at the walk: the size to walk (clipped to |S|), or None when the order
        was cancelled (flat or same side)."""
        if not o.reduce_only:
            return o.remaining
        return self.reduce_only_size(o, o.remaining)

    def _arrive_market(self, o):
        """Market orders walk at arrival. Beyond the shown levels the rest fills in the same
        record at ``edge * (1 + side * s)``, ``s = min(m * impact * sqrt(rest / V), 0.5)`` with
        ``edge`` the deepest price of the data's side (shown under stress or not) and ``V`` the
        impact volume of the market's last trade processed before now; without a trade yet the
        rest waits for the trade-tape rule, and so does the whole order when no shown level has
        available size.

        CHOICE: a reduce-only clip (``q < unfilled``) whose walk filled all of ``q`` cancels
        the rest (``REDUCE_ONLY``) like a clipped tape fill; a rest left waiting for the tape
        (no trade yet) is clipped again at that fill."""
        t, m = self.now, o.market
        touch = self.touch(m, o.side, t)
        if touch is None:
            o.in_book = True                    # waits for the trade-tape rule
            return
        q = self._clip(o)
        if q is None:
            return
        clipped = q < o.remaining
        takes, rest = self.walk(m, o.side, q, t)
        if rest > 0.0 and self.window[m]:
            takes.append((self.impact_price(m, o.side, rest, t), rest))
            rest = 0.0
        self.fill_walk(o, takes, q - rest, touch)
        if o.status in LIVE:
            if rest > 0.0:
                o.in_book = True                # the rest waits for the first trade
            elif clipped:
                self.close_clipped(o)

    # ------------------------------------------------------------------ beyond the shown levels
    def edge(self, market, taker_side) -> float:
        """The deepest price of the data's side a taker of ``taker_side`` takes from (its worst
        level, shown under stress or not).

        CHOICE: only asked for after a walk that began at a touch, so the side has a level; with
        none it would be NaN (a price that fills nothing)."""
        side = -taker_side
        prices = self.depth[market][side]
        if not prices:
            return NAN
        return max(prices, key=lambda p: -side * p)

    def impact_volume(self, market) -> float | None:
        """``V``: the impact volume of the market's last trade processed so far (None before
        the first)."""
        if not self.window[market]:
            return None
        return self.traded_volume(market, self.window[market][-1][0])

    def impact_price(self, market, taker_side, size, t) -> float:
        """A market order's rest beyond the shown levels: ``edge * (1 + side * s)``,
        ``s = min(m(t) * impact * sqrt(size / V), 0.5)``."""
        s = self.slippage_multiplier(t) * self.specs[market].impact * math.sqrt(size / self.impact_volume(market))
        return self.edge(market, taker_side) * (1 + taker_side * min(s, MAX_SLIPPAGE))

    def beyond_limit(self, o, rest, t):
        """An IOC or crossing limit whose walk used up the side (no shown level has available
        size left) takes beyond the shown levels what the impact model prices no worse than its
        limit. Returns ``(price, q_b)``, or None when nothing goes beyond.

        ``x = side * (limit / edge - 1)``; ``q_b = min(rest, V * (x / (m * impact))^2)`` at
        ``edge * (1 + side * m * impact * sqrt(q_b / V))``; all of the rest at the market
        order's (capped) price when ``m * impact = 0`` or ``x >= 0.5``. Nothing beyond without
        a trade yet (no ``V``).

        CHOICE: with ``m * impact = 0`` the rest goes beyond (at ``edge``) when ``x >= 0``, i.e.
        the edge is no worse than the limit (``x == 0``: the limit is the edge itself); with
        ``m * impact > 0``, ``x <= 0`` takes nothing (``q_b`` would be 0). ``q_b`` and the price
        are the formulas in plain floats, not rounded towards the limit: the beyond piece's price
        equals the limit up to float rounding (either way). ``q_b`` equal to the rest (the
        ``min`` picks it) fills the order's walk size exactly."""
        m = o.market
        if rest <= 0.0 or self.touch(m, o.side, t) is not None:
            return None                                   # the side is not used up
        V = self.impact_volume(m)
        if V is None:
            return None
        edge = self.edge(m, o.side)
        x = o.side * (o.limit_price / edge - 1)
        k = self.slippage_multiplier(t) * self.specs[m].impact
        if not x >= 0.0:
            return None
        if k == 0.0 or x >= MAX_SLIPPAGE:
            return self.impact_price(m, o.side, rest, t), rest
        if x == 0.0:
            return None
        q_b = min(rest, V * (x / k) ** 2)
        return edge * (1 + o.side * k * math.sqrt(q_b / V)), q_b

    def _arrive_ioc(self, o):
        """IOC limits walk at arrival up to their limit, and beyond the shown levels when the
        walk used up the side (``beyond_limit``); the rest is cancelled (IOC_UNFILLED).
        Nothing available at arrival: the trade-tape rule.

        CHOICE: "nothing available" is the market order's test (no shown level with available
        size at any price); levels that are all worse than the limit cancel the order with no
        fill (IOC_UNFILLED), without a reduce-only check (no fill would happen). A clipped
        reduce-only IOC whose walk filled all of ``q`` ends REDUCE_ONLY, one whose walk did not
        ends IOC_UNFILLED."""
        t, m = self.now, o.market
        touch = self.touch(m, o.side, t)
        if touch is None:
            o.in_book = True
            return
        if o.side * (touch - o.limit_price) > 0:
            self.close_order(o, "cancelled", IOC_UNFILLED)
            return
        q = self._clip(o)
        if q is None:
            return
        clipped = q < o.remaining
        takes, rest = self.walk(m, o.side, q, t, limit=o.limit_price)
        rest = self._take_beyond(o, takes, rest, t)
        self.fill_walk(o, takes, q - rest, touch)
        if o.status in LIVE:
            if clipped and rest == 0.0:
                self.close_clipped(o)
            else:
                self.close_order(o, "cancelled", IOC_UNFILLED)

    def _arrive_limit(self, o):
        """Limits that cross (a shown level with available size at or better than the limit)
        walk up to their limit as takers (and beyond the shown levels when the walk used up the
        side: ``beyond_limit``), the rest rests; a crossing post-only is rejected
        (POST_ONLY). A resting order's queue ahead starts at ``D(limit)`` on its own side.

        CHOICE: the admission check comes first (an order both short of margin and crossing
        is INSUFFICIENT_MARGIN). A crossing reduce-only limit is clipped at the walk like a
        taker: a clip whose walk filled all of ``q`` cancels the rest (REDUCE_ONLY)."""
        t, m = self.now, o.market
        touch = self.touch(m, o.side, t)
        if touch is not None and o.side * (touch - o.limit_price) <= 0:
            if o.post_only:
                self.close_order(o, "rejected", POST_ONLY)
                return
            q = self._clip(o)
            if q is None:
                return
            clipped = q < o.remaining
            takes, rest = self.walk(m, o.side, q, t, limit=o.limit_price)
            rest = self._take_beyond(o, takes, rest, t)
            self.fill_walk(o, takes, q - rest, touch)
            if o.status in LIVE and clipped and rest == 0.0:
                self.close_clipped(o)
            if o.status not in LIVE:
                return
        o.in_book = True
        o.queue_ahead = self.depth[m][o.side].get(o.limit_price, 0.0)
        o.traded_at_level = 0.0

    def _take_beyond(self, o, takes, rest, t) -> float:
        """Appends the beyond piece of a limit's walk (``beyond_limit``) to ``takes``; returns
        the rest after it (``rest - q_b``: exactly 0 when ``q_b`` is the whole rest)."""
        piece = self.beyond_limit(o, rest, t)
        if piece is None:
            return rest
        price, q_b = piece
        takes.append((price, q_b))
        return rest - q_b

    def close_clipped(self, o):
        self.close_order(o, "cancelled", REDUCE_ONLY)

    def fill_walk(self, o, takes, size, touch):
        """One taker record of a walk: the size-weighted price of what was taken,
        ``trade_price`` = the touch, ``slippage_cost = size * |price - touch|``, taker fee.

        CHOICE: the record's size is ``q - rest`` (the walked size exactly, not a float sum of
        the pieces), so an order walked in full is ``filled`` exactly."""
        if size <= 0.0:
            return
        price = sum(p * x for p, x in takes) / sum(x for _p, x in takes)
        fee = self.specs[o.market].taker_fee * size * price
        self.fill(o, self.now, size, price, touch, "taker", fee, size * abs(price - touch))

    # ------------------------------------------------------------------ trades (step 5)
    def fill_queued(self, o, t, available) -> float:
        """Queue position at a trade (the order's market has book data): strictly through the
        limit fills ``min(unfilled, avail)`` as maker and sets ``A = 0``; exactly at the limit
        fills ``min(unfilled, avail - A)`` when that exceeds ``1e-9 * trade size``, then
        ``A = max(A - size, 0)`` and ``T += size``. Returns what is left of ``avail``.

        CHOICE: the queue update (A, T) applies whatever the fill did: also when ``avail`` is
        exhausted by earlier orders, when the fill completes the order, and when a reduce-only
        check cancels it (its recorded ``queue_ahead`` is then the value after this trade)."""
        price, lim = t["price"], o.limit_price
        through = price < lim if o.side > 0 else price > lim
        if through:
            if available > 0.0:
                available = self._maker_fill(o, t, min(o.remaining, available), available)
            o.queue_ahead = 0.0
        elif price == lim:
            room = available - o.queue_ahead
            if room > DUST * t["size"]:
                available = self._maker_fill(o, t, min(o.remaining, room), available)
            o.queue_ahead = max(o.queue_ahead - t["size"], 0.0)
            o.traded_at_level += t["size"]
        return available

    def _maker_fill(self, o, t, size, available) -> float:
        if o.reduce_only:
            size = self.reduce_only_size(o, size)
            if size is None:
                return available
        fee = self.specs[o.market].maker_fee * size * o.limit_price
        self.fill(o, t["ts"], size, o.limit_price, t["price"], "maker", fee, 0.0)
        return available - size

    # ------------------------------------------------------------------ liquidation
    def book_close_price(self, market, S, P, t):
        """A liquidation close against the book: walk the shown levels for ``|S|``, only levels
        no worse than ``B = P * (1 - sign(S) * liq_spread * MMF)``; the rest closes at ``B``;
        the price is the size-weighted price of both. None (the trade-tape price applies)
        when the market has no book data or no shown level has available size.

        CHOICE: "nothing available" is the market order's test (no shown level with available
        size at any price); when levels are shown but all are worse than ``B``, the whole
        position closes at ``B`` (the full spread, not the ABR-scaled tape price)."""
        if not self.has_book(market):
            return None
        side = -_sign(S)
        if self.touch(market, side, t) is None:
            return None
        B = P * (1 - _sign(S) * self.cfg.liq_spread * self.specs[market].mmf)
        takes, rest = self.walk(market, side, abs(S), t, limit=B)
        return (sum(p * x for p, x in takes) + rest * B) / abs(S)
