"""`Context`: what a strategy sees and does at one decision time.

Market data is observed ``feed_latency`` late: a decision at ``t`` sees rows with
``ts <= t - feed_latency``. Positions are as acknowledged (fills whose acknowledgement has
arrived) or final. Balances (equity, free collateral, margin ratio) are the venue account's
at ``t``, marked at the oracle in force at ``t``, as a venue's account endpoint reports them,
taken when the decision starts.

Orders, cancels and transfers are queued and executed by the kernel, in the order given, as
soon as ``on_decision`` returns, each exactly as if sent at ``t`` (a zero-latency order
reaches the engine before the next one is sent). Ids are returned at once.
"""
from __future__ import annotations

import math
from types import MappingProxyType

import numpy as np
import pandas as pd

from .kernel import enums as E
from .kernel.accounts_nb import mark_price_nb, requirement_nb
from .kernel.decisions_nb import to_position_nb, would_trade_nb
from .kernel.orders_nb import is_live_nb
from .kernel.state import CI_FEED_LATENCY
from .kernel.fills_nb import step_value_nb
from .records import INTERNAL_COLUMNS, decode_columns


def _finite_target(method: str, market: str, value) -> float:
    """``value`` as a float for a target method; NaN passes (it means "no order at this
    decision", as on the fast path) but +-inf is a ``ValueError``: no position is infinite, and
    the rebalance band of an infinite target is infinite too, so it would silently trade nothing."""
    v = float(value)
    if math.isinf(v):
        raise ValueError(f"{method}({market!r}, {value!r}): a target must be a finite number (NaN means "
                         "no order at this decision)")
    return v


class Context:
    """Handed to ``Strategy.on_decision``; see the module docstring.

    Examples
    --------
    Inside ``on_decision(self, ctx)``::

        px = ctx.price("BTC-USD")                 # last observed trade price
        hist = ctx.history("BTC-USD", "1h")       # observed trades of the last hour
        if ctx.margin_ratio() < 3:
            ctx.target_leverage("BTC-USD", 0.0)
        ctx.submit("ETH-USD", -0.5, limit=1600.0)  # sell 0.5 ETH at 1600 or better

    Targets (docs/simulation.md, "Targets") are built from three public pieces that wrappers
    such as ``strategies.guarded.Guarded`` reuse: :meth:`mark` (the price), :meth:`to_position`
    (kind conversion) and :meth:`would_trade` (the rebalance band).
    """

    #: ``kind`` of :meth:`requirement` -> the :class:`~backtester.Market` margin fraction it uses
    REQUIREMENT_FRACTIONS = MappingProxyType({"initial": "imf", "maintenance": "mmf"})

    __slots__ = ("_engine", "_md", "_st", "decision", "ts", "_seen", "_queued", "_orders_queued",
                 "_transfers_queued", "_pending")

    def __init__(self, engine, market_data, decision: int, ts: int):
        self._engine = engine
        self._md = market_data
        self._st = engine.state
        self.decision = decision
        self.ts = int(ts)
        self._seen = self.ts - int(engine.inputs.cfg_i[CI_FEED_LATENCY])
        self._queued = 0
        self._orders_queued = 0
        self._transfers_queued = 0
        self._pending = None  # per-market size of orders queued in this decision

    # ------------------------------------------------------------------ helpers
    @property
    def time(self) -> pd.Timestamp:
        """The decision time (UTC)."""
        return pd.Timestamp(self.ts, tz="UTC")

    @property
    def markets(self) -> list:
        return list(self._engine.layout.markets)

    @property
    def config(self):
        """The run's :class:`~backtester.SimConfig` (read-only)."""
        return self._engine.config

    @property
    def seen_ts(self) -> int:
        """Observation horizon (ns): market data stamped after it is not visible yet
        (``ts - feed_latency``)."""
        return self._seen

    def market_spec(self, market: str):
        """The :class:`~backtester.Market` the run uses for ``market`` (IMF, MMF, fees, venue)."""
        self._m(market)
        return self._engine.market_spec(market)

    def account(self, market: str) -> int:
        """Index of the margin account holding ``market`` (cross: its venue's; isolated: its
        own); ``Result.layout.accounts`` names it."""
        return self._account_of(market)

    def _m(self, market: str) -> int:
        try:
            return self._engine.layout.market_index[market]
        except KeyError:
            raise KeyError(f"unknown market {market!r}; markets: {self.markets}") from None

    def _account_of(self, market: str | None) -> int:
        return 0 if market is None else int(self._engine.inputs.mk_account[self._m(market)])

    # ------------------------------------------------------------------ market data
    def price(self, market: str) -> float:
        """Last observed trade price (NaN before the first)."""
        return self._md.last_trade(self._m(market), self._seen)

    def oracle(self, market: str) -> float:
        """Last observed oracle price (NaN before the first)."""
        return self._md.last_oracle(self._m(market), self._seen)

    def funding_rate(self, market: str) -> float:
        """Last observed funding rate of one interval (NaN before the first)."""
        return self._md.last_funding(self._m(market), self._seen)

    def book(self, market: str, depth: int = 10):
        """The order book of ``market`` as observed now: the book rows stamped ``<= t -
        feed_latency``, shown under the slippage multiplier in force now (a stressed book shows
        fewer, thinner levels; docs/simulation.md, "Order book"). Our own takes are not in it.

        Returns a :class:`~backtester.market_data.BookView` (``bid_price``, ``bid_size``,
        ``ask_price``, ``ask_size`` arrays, best first, at most ``depth`` levels a side; and
        ``best_bid``, ``best_ask``, ``mid``). Both sides are empty on a market without book
        data, before its first book row, and in a run with ``SimConfig(book=False)`` (which
        keeps no book).

        Examples
        --------
        >>> import backtester as bt, data_loaders as dl
        >>> class Quote(bt.Strategy):
        ...     every = "1min"
        ...     def on_decision(self, ctx):
        ...         b = ctx.book("BTC-USD", depth=1)
        ...         self.spreads.append(b.best_ask - b.best_bid)
        >>> s = Quote(); s.spreads = []
        >>> _ = bt.run(s, dl.sample("btcusdt-tape"))
        >>> min(s.spreads) > 0
        True
        """
        if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
            raise ValueError(f"ctx.book: depth must be a whole number of levels >= 1, got {depth!r}")
        inp = self._engine.inputs
        mult = step_value_nb(inp.sl_ts, inp.sl_val, self.ts)
        return self._md.book(self._m(market), self._seen, int(depth), mult)

    def history(self, market: str, window="1h") -> pd.DataFrame:
        """Observed trades of ``market`` in ``(t - window, t - feed_latency]`` (ts, price, size)."""
        start = self._seen - pd.Timedelta(window).value
        return self._md.trades_between(self._m(market), start, self._seen)

    # ------------------------------------------------------------------ account
    def position(self, market: str, final: bool = False) -> float:
        """Acknowledged position (base units), or with ``final=True`` the part that is final."""
        m = self._m(market)
        if final:
            n = int(self._st.counters[E.C_FILLS])
            f = self._st.fills[:n]
            ok = (f["market"] == m) & (f["final_ts"] <= self.ts) & (f["ack_ts"] <= self.ts) & ~f["reverted"]
            return float(np.sum(f["side"][ok] * f["size"][ok]))
        return float(self._st.ack_pos[m])

    def expected_position(self, market: str) -> float:
        """Acknowledged position plus what unsettled orders (including those queued now) still
        intend to trade."""
        m = self._m(market)
        extra = 0.0 if self._pending is None else self._pending.get(m, 0.0)
        return float(self._st.view_pos[m]) + extra

    def entry_price(self, market: str) -> float:
        """Average entry price of the venue's position in ``market`` (NaN when flat), as a
        venue's positions endpoint reports it at ``t``."""
        m = self._m(market)
        return float(self._st.entry[m]) if self._st.pos[m] != 0.0 else float("nan")

    def unrealized_pnl(self, market: str) -> float:
        """The venue's position in ``market`` marked at the oracle in force at ``t`` against its
        entry price (0 when flat)."""
        m = self._m(market)
        s = float(self._st.pos[m])
        if s == 0.0:
            return 0.0
        px = mark_price_nb(float(self._st.oracle[m]), float(self._st.last[m]))  # the venue's mark at t
        return s * (px - float(self._st.entry[m]))

    def equity(self, market: str | None = None) -> float:
        """Net collateral of the account (of ``market``'s account in isolated mode)."""
        return float(self._st.snapshot[self._account_of(market), E.SN_NC])

    def total_equity(self) -> float:
        """Net collateral summed over every account plus collateral on a bridge: what
        ``Result.equity['equity']`` samples."""
        return float(self._st.snapshot[:, E.SN_NC].sum() + self._st.transit[0])

    def free_collateral(self, market: str | None = None) -> float:
        """Net collateral less the initial margin requirement."""
        row = self._st.snapshot[self._account_of(market)]
        return float(row[E.SN_NC] - row[E.SN_IMR])

    def margin_ratio(self, market: str | None = None) -> float:
        """Net collateral / maintenance requirement (inf when flat; liquidation below 1)."""
        row = self._st.snapshot[self._account_of(market)]
        return float(row[E.SN_NC] / row[E.SN_MMR]) if row[E.SN_MMR] > 0 else float("inf")

    def requirement(self, markets=None, kind: str = "maintenance") -> float:
        """Margin requirement of ``markets`` at their expected positions and observed marks:
        ``sum |X_i| * p_i * F_i`` with ``F`` the IMF (``kind='initial'``) or the MMF
        (``'maintenance'``); markets without a price count nothing.

        It is the venue's IMR or MMR once the orders already sent have traded, at the prices
        this decision has seen. Risk rules size on it rather than on :meth:`margin_ratio` (the
        venue's figures now), so a cut still in flight is not cut again at the next decision.

        Parameters
        ----------
        markets : str or sequence of str, optional
            Default: every market of the run (an account's: ``[m for m in ctx.markets if
            ctx.account(m) == a]``).
        kind : {'maintenance', 'initial'}

        Examples
        --------
        Inside ``on_decision(self, ctx)``::

            mmr = ctx.requirement(["BTC-USD", "ETH-USD"])       # maintenance, after orders in flight
            cushion = ctx.equity("BTC-USD") / mmr if mmr > 0 else float("inf")
        """
        if kind not in self.REQUIREMENT_FRACTIONS:
            raise ValueError(f"kind must be 'maintenance' or 'initial', got {kind!r}")
        markets = self.markets if markets is None else [markets] if isinstance(markets, str) else markets
        total = 0.0
        for m in markets:
            px = self.mark(m)
            if math.isfinite(px):
                fraction = getattr(self.market_spec(m), self.REQUIREMENT_FRACTIONS[kind])
                total += requirement_nb(abs(self.expected_position(m)), px, fraction)
        return float(total)

    def open_orders(self, market: str | None = None) -> pd.DataFrame:
        """Orders not yet done (in flight, resting, armed stops), of ``market`` or of all.

        Columns as :attr:`Result.orders <backtester.result.Result.orders>` (market, type, status
        and reason as names, times as timestamps), plus ``remaining``: the size not filled yet
        (what cancelling the order withdraws from :meth:`expected_position`, signed by ``side``).
        Orders queued in this decision are not in it yet.
        """
        o = self._st.orders[: int(self._st.counters[E.C_ORDERS])]
        live = is_live_nb(o["status"])
        if market is not None:
            live &= o["market"] == self._m(market)
        cols = decode_columns("orders", o[live], self._engine.layout)
        for col in INTERNAL_COLUMNS["orders"]:
            del cols[col]
        cols["remaining"] = cols["size"] - cols["filled"]
        return pd.DataFrame(cols)

    def transfers(self) -> pd.DataFrame:
        """Transfers sent so far (status in_transit, arrived or rejected)."""
        return pd.DataFrame(self._engine.records("transfers"))

    # ------------------------------------------------------------------ actions
    def _queue(self, kind, a, b, size, otype=0, limit=np.nan, trigger=np.nan, flags=0):
        buf = self._st.intents
        i = int(self._st.counters[E.C_INTENTS])
        if i >= len(buf):
            raise RuntimeError(f"more than {len(buf)} orders, cancels and transfers in one decision")
        buf[i] = (kind, a, b, size, otype, limit, trigger, flags)
        self._st.counters[E.C_INTENTS] = i + 1
        self._queued += 1

    def submit(self, market: str, size: float, *, limit: float | None = None, stop: float | None = None,
               reduce_only: bool = False, post_only: bool = False, ioc: bool = False) -> int:
        """Send an order now; ``size`` is signed (+ buy, - sell). Returns the order id.

        Market by default; ``limit=`` makes it a limit order (``ioc=True``: fill at once or
        cancel), ``stop=`` a client-side stop-market that fires on observed prices.
        """
        if not np.isfinite(size) or size == 0:
            raise ValueError(f"size must be a non-zero finite number, got {size!r}")
        if limit is not None and stop is not None:
            raise ValueError("give limit= or stop=, not both")
        if limit is not None and not np.isfinite(limit):
            raise ValueError(f"limit must be a finite price, got {limit!r}")
        if stop is not None and not np.isfinite(stop):
            raise ValueError(f"stop must be a finite price, got {stop!r}")
        m = self._m(market)
        otype = E.OT_LIMIT if limit is not None else E.OT_STOP_MARKET if stop is not None else E.OT_MARKET
        flags = ((E.FLAG_REDUCE_ONLY if reduce_only else 0) | (E.FLAG_POST_ONLY if post_only else 0)
                 | (E.FLAG_IOC if ioc else 0))
        self._queue(E.IN_ORDER, m, 1 if size > 0 else -1, abs(float(size)), otype,
                    np.nan if limit is None else float(limit), np.nan if stop is None else float(stop), flags)
        if otype != E.OT_STOP_MARKET:
            if self._pending is None:
                self._pending = {}
            self._pending[m] = self._pending.get(m, 0.0) + float(size)
        oid = int(self._st.counters[E.C_ORDERS]) + self._orders_queued
        self._orders_queued += 1
        return oid

    def stop(self, market: str, trigger: float, size: float | None = None) -> int:
        """A reduce-only stop-market closing the acknowledged position (or ``size``) at ``trigger``."""
        qty = -self.position(market) if size is None else size
        if qty == 0:
            raise ValueError(f"no position in {market!r} to protect; pass size=")
        return self.submit(market, qty, stop=trigger, reduce_only=size is None)

    def cancel(self, order_id: int) -> bool:
        """Send a cancel for ``order_id`` (gas is paid); False if it is already done."""
        live = self.is_live(order_id)
        self._queue(E.IN_CANCEL, int(order_id), 0, 0.0)
        return live

    def is_live(self, order_id: int) -> bool:
        """True while order ``order_id`` is not done: in flight, resting, an armed stop, or
        queued in this decision (a cheap check before :meth:`cancel`, which pays gas even
        for an order already done). ``KeyError`` for an id never given out."""
        n = int(self._st.counters[E.C_ORDERS]) + self._orders_queued
        if not 0 <= order_id < n:
            raise KeyError(f"no order {order_id}; ids so far are 0..{n - 1}")
        if order_id >= int(self._st.counters[E.C_ORDERS]):
            return True  # queued in this decision: still live
        return bool(is_live_nb(int(self._st.orders[order_id]["status"])))

    def transfer(self, amount: float, source: str, destination: str) -> int:
        """Move ``amount`` of *final* collateral between accounts (venue names in cross mode,
        ``"venue/market"`` in isolated mode). Between venues it arrives after
        ``SimConfig.bridge_delay``. Returns the transfer id; :meth:`transfers` tells whether it
        was rejected (more than the withdrawable amount: free collateral, less unfinal gains).
        """
        accounts = self._engine.layout.accounts
        for name in (source, destination):
            if name not in accounts:
                raise KeyError(f"unknown account {name!r}; accounts: {accounts}")
        if source == destination:
            raise ValueError("source and destination are the same account")
        if not np.isfinite(amount) or amount <= 0:
            raise ValueError(f"amount must be a positive number, got {amount!r}")
        self._queue(E.IN_TRANSFER, accounts.index(source), accounts.index(destination), float(amount))
        tid = int(self._st.counters[E.C_TRANSFERS]) + self._transfers_queued
        self._transfers_queued += 1
        return tid

    def mark(self, market: str) -> float:
        """Observed oracle price, else the last observed trade (NaN before either): the price
        targets convert and band with (the kernel's mark rule on observed data)."""
        oracle = self.oracle(market)
        # the trade is looked up only when the rule falls back to it (as observed_price_nb)
        return float(mark_price_nb(oracle, self.price(market) if math.isnan(oracle) else math.nan))

    def to_position(self, market: str, value: float, kind: str = "position") -> float:
        """A target of ``kind`` as a position in base units, as the ``target_*`` methods and the
        fast path convert it: ``'position'`` as given, ``'leverage'`` x the account's net
        collateral (negative equity counts as 0) at :meth:`mark`, ``'notional'`` (quote) at
        :meth:`mark`. NaN when a conversion needs a price and none was observed, or for a NaN
        ``value``; an infinite ``value`` is a ``ValueError``.

        Examples
        --------
        Inside ``on_decision(self, ctx)``::

            size = ctx.to_position("BTC-USD", 3.0, "leverage")   # 3x equity, in BTC
            ctx.target_position("BTC-USD", min(size, 2.0))      # capped at 2 BTC
        """
        if kind not in E.TARGET_KIND_NAMES:
            raise ValueError(f"target kind must be 'position', 'leverage' or 'notional', got {kind!r}")
        value = _finite_target("to_position", market, value)
        if kind == "position":
            return value
        px = self.mark(market)
        if not np.isfinite(px):
            return float("nan")
        nc = self.equity(market) if kind == "leverage" else 0.0
        return float(to_position_nb(E.TARGET_KIND_NAMES.index(kind), float(value), px, nc))

    def would_trade(self, market: str, size: float, current: float | None = None) -> bool:
        """True when a target of ``size`` base units sends an order now: the gap from
        ``current`` (default: :meth:`expected_position`) is worth more than
        ``SimConfig.rebalance_band`` of the target's notional and ``min_trade_notional``, at
        :meth:`mark`. False without a price.

        Examples
        --------
        Inside ``on_decision(self, ctx)``::

            if ctx.would_trade("BTC-USD", 1.0):     # else target_position would send nothing
                ...
        """
        px = self.mark(market)
        if not np.isfinite(px):
            return False
        current = self.expected_position(market) if current is None else float(current)
        cfg = self._engine.config
        return bool(would_trade_nb(float(size), current, px, float(cfg.min_trade_notional),
                                   float(cfg.rebalance_band)))

    def target_position(self, market: str, size: float) -> int | None:
        """Trade toward a position of ``size`` base units (net of orders still in flight).

        No order when the gap is within ``SimConfig.rebalance_band`` of the target's notional
        or under ``min_trade_notional`` (:meth:`would_trade`), nor for a NaN target (as on the
        fast path). An infinite ``size`` is a ``ValueError``.
        """
        size = _finite_target("target_position", market, size)
        if math.isnan(size):
            return None
        current = self.expected_position(market)
        if not np.isfinite(self.mark(market)):
            return None
        if not self.would_trade(market, size, current):
            return None
        return self.submit(market, float(size) - current)

    def target_leverage(self, market: str, leverage: float) -> int | None:
        """Trade toward ``leverage`` x net collateral in ``market`` (signed: negative is short).
        NaN: no order; infinite: ``ValueError``."""
        size = self.to_position(market, _finite_target("target_leverage", market, leverage), "leverage")
        return None if not np.isfinite(size) else self.target_position(market, size)

    def target_notional(self, market: str, notional: float) -> int | None:
        """Trade toward a position worth ``notional`` (quote, signed). NaN: no order; infinite:
        ``ValueError``."""
        size = self.to_position(market, _finite_target("target_notional", market, notional), "notional")
        return None if not np.isfinite(size) else self.target_position(market, size)


class ContextView:
    """A context passed on to a wrapped strategy: every attribute is the real context's,
    except what a subclass defines (a wrapper overriding ``target_position``, or ``decision``).

    A subclass lists its own fields in ``__slots__``; reading one that is not set yet (while
    copying or pickling) is an ``AttributeError``, not a lookup on the real context.

    Examples
    --------
    >>> class Shifted(ContextView):
    ...     __slots__ = ("decision",)
    ...     def __init__(self, ctx, decision):
    ...         super().__init__(ctx)
    ...         self.decision = decision
    >>> class Real:
    ...     decision, ts = 7, "2022-11-08"
    >>> v = Shifted(Real(), 2)
    >>> v.decision, v.ts
    (2, '2022-11-08')
    """

    __slots__ = ("_ctx",)
    _own: frozenset = frozenset(__slots__)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # read once per class: __getattr__ runs on every attribute the wrapped strategy reads
        cls._own = frozenset(n for k in cls.__mro__ for n in getattr(k, "__slots__", ()))

    def __init__(self, ctx):
        self._ctx = ctx

    def __getattr__(self, name):
        if name in self._own:  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self._ctx, name)
