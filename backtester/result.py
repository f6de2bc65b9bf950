"""`Result`: a run's records as pandas objects with timestamps and names, plus stats.

Examples
--------
>>> res = bt.run(strategy, data)          # doctest: +SKIP
>>> res.equity[["equity", "margin_ratio"]].tail()   # doctest: +SKIP
>>> res.stats()                           # doctest: +SKIP
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .kernel import enums as E
from .kernel.accounts_nb import mark_price_nb
from .kernel.orders_nb import is_live_nb
from .kernel.state import CI_BOOK_LEVELS, CI_SAMPLE_EVERY
from .market_data import MarketData
from .records import INTERNAL_COLUMNS, decode, names_of, to_ns
from .records import to_timestamps as _ts


class RejectedOrdersWarning(UserWarning):
    """A run had orders rejected (too little margin, venue down, no price yet)."""


class UnfillableOrdersWarning(UserWarning):
    """A run sent orders on a market that has no trades in the data: they could never fill (a
    market seen only in funding or oracle rows still has a price, so they are admitted and wait
    to the end)."""

_YEAR_NS = 365 * 24 * 3600 * 10**9


def margin_ratio(equity: np.ndarray, mmr: np.ndarray) -> np.ndarray:
    """NC / MMR of equity samples (inf without a requirement): ``Result.equity``'s column."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mmr > 0, equity / mmr, np.inf)


def drawdown(equity: np.ndarray, initial: float) -> np.ndarray:
    """Fall of each equity sample from the running peak (0 at a peak, -0.25 for 25 % below).

    The run starts at the initial cash, which can be above every sample (samples are on the
    ``sample_every`` clock, so a loss before the first one would otherwise be unseen).

    Examples
    --------
    >>> drawdown(np.array([90.0, 120.0, 60.0]), 100.0).tolist()
    [-0.09999999999999998, 0.0, -0.5]
    """
    peak = np.fmax.accumulate(equity) if len(equity) else equity.copy()
    peak[np.isnan(equity)] = np.nan  # as pandas' cummax: a NaN sample has no peak (drawdown 0)
    peak = np.maximum(peak, initial)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak > 0, equity / peak - 1.0, 0.0)


class Result:
    """The records of one run.

    Attributes
    ----------
    data : data_loaders.Dataset
        The dataset the run replayed (after any scenario was applied).
    equity : DataFrame
        Sampled every ``SimConfig.sample_every``: equity (net collateral), cash, unrealized
        PnL, IMR, MMR, margin ratio (NC / MMR), gross notional, insurance fund, drawdown.
    orders, fills, funding, liquidations, ledger : DataFrame
        One row per record; market, venue, account, status, reason, kind as names.
    """

    def __init__(self, engine, strategy, data, config):
        self.engine = engine
        self.strategy = strategy
        self.config = config
        self.data = data
        self.layout = engine.layout
        #: seconds the run took (init, kernel, this object), when measured by ``run_many``
        self.elapsed_s: float | None = None
        self._cache: dict[str, pd.DataFrame] = {}

    def __repr__(self) -> str:
        s = self.stats()
        rejected = f", {int(s['n_rejected'])} orders rejected" if s["n_rejected"] else ""
        markets = "; ".join(m.describe() for m in self.layout.market_specs)
        return (f"Result({self.strategy.name}: total return {s['total_return']:.2%}, max drawdown "
                f"{s['max_drawdown']:.2%}, {int(s['n_fills'])} fills, {int(s['n_liquidations'])} liquidations"
                f"{rejected}; markets: {markets})")

    @property
    def markets(self) -> pd.DataFrame:
        """The market specifications the run used, one row per market: venue, IMF, MMF, fees,
        spread, impact, liquidation fee, and ``tier`` (given, or which dYdX v4 preset)."""
        from dataclasses import asdict

        df = pd.DataFrame([asdict(m) for m in self.layout.market_specs]).set_index("name")
        return df

    @property
    def sample_every(self) -> pd.Timedelta:
        """The clock of :attr:`equity` (``SimConfig.sample_every``, resolved when ``"auto"``)."""
        return pd.Timedelta(int(self.engine.inputs.cfg_i[CI_SAMPLE_EVERY]), "ns")

    def rejections(self) -> pd.Series:
        """Rejected orders counted by reason (an empty Series when none were rejected)."""
        counts = self.rejection_counts()
        if not counts:
            return pd.Series(dtype=np.int64, name="rejected")
        return pd.Series(list(counts.values()), index=list(counts), dtype=np.int64, name="rejected")

    def rejection_counts(self) -> dict:
        """``{reason: rejected orders}`` (:meth:`rejections` as a dict; empty when none)."""
        o = self.engine.records("orders", copy=False)
        codes, counts = np.unique(o["reason"][o["status"] == E.ST_REJECTED], return_counts=True)
        return {E.REASON_NAMES[c]: int(n) for c, n in zip(codes, counts)}

    def warn_rejections(self) -> None:
        """Warn once (:class:`RejectedOrdersWarning`) when the run rejected orders, naming how
        many and why: a run whose every order bounced otherwise just reports 0 fills."""
        rejected = self.rejections()
        if not len(rejected):
            return
        n_orders = int(self.engine.state.counters[E.C_ORDERS])
        why = ", ".join(f"{k}: {v}" for k, v in rejected.items())
        hint = (" (too little collateral for the asked size: lower the size or leverage, or raise "
                "initial_cash)" if "insufficient_margin" in rejected else "")
        warnings.warn(f"{self.strategy.name}: {int(rejected.sum())} of {n_orders} orders were rejected ({why})"
                      f"{hint}; see res.orders[res.orders.status == 'rejected']", RejectedOrdersWarning,
                      stacklevel=3)

    def warn_unfillable(self) -> None:
        """Warn once (:class:`UnfillableOrdersWarning`) when the run sent orders on markets with
        no trades in the data, naming the markets and how many orders are still open at the
        end: nothing else would tell such an order from one that merely waits for its price.
        Rejected orders are left to :meth:`warn_rejections`."""
        traded = getattr(self.engine, "traded", None)
        if traded is None or traded.all():
            return
        o = self.engine.records("orders", copy=False)
        idle = ~traded[o["market"]] & (o["status"] != E.ST_REJECTED)
        if not idle.any():
            return
        markets = [self.layout.markets[m] for m in np.unique(o["market"][idle])]
        still_open = int(np.count_nonzero(idle & is_live_nb(o["status"])))
        warnings.warn(f"{self.strategy.name}: {int(idle.sum())} orders on {', '.join(markets)}, which "
                      f"{'has' if len(markets) == 1 else 'have'} no trades in the data, could never fill "
                      f"({still_open} still open at the end); see res.orders[res.orders.market.isin({markets!r})]",
                      UnfillableOrdersWarning, stacklevel=3)

    # ------------------------------------------------------------------ frames
    def _frame(self, name: str) -> pd.DataFrame:
        if name in self._cache:
            return self._cache[name]
        df = decode(name, self.engine.records(name), self.layout)
        if name == "orders":
            df = df.drop(columns=list(INTERNAL_COLUMNS["orders"]))
        if name == "fills":
            df["time_to_finality"] = df["final_ts"] - df["ts"]
        self._cache[name] = df
        return df

    @property
    def orders(self) -> pd.DataFrame:
        return self._frame("orders")

    @property
    def fills(self) -> pd.DataFrame:
        return self._frame("fills")

    @property
    def funding(self) -> pd.DataFrame:
        return self._frame("funding")

    @property
    def liquidations(self) -> pd.DataFrame:
        return self._frame("liquidations")

    @property
    def ledger(self) -> pd.DataFrame:
        return self._frame("ledger")

    @property
    def transfers(self) -> pd.DataFrame:
        """Collateral transfers between accounts (``ctx.transfer``)."""
        return self._frame("transfers")

    @property
    def reorgs(self) -> pd.DataFrame:
        """The reorgs the run replayed (ts, venue)."""
        inp = self.engine.inputs
        return pd.DataFrame({"ts": _ts(inp.ro_ts), "venue": names_of(inp.ro_venue, self.layout.venues)})

    @property
    def initial_cash(self) -> pd.Series:
        """Cash of every margin account when the run started (quote), indexed by account.

        Examples
        --------
        >>> res.initial_cash.sum()    # doctest: +SKIP
        10000.0
        """
        return pd.Series(np.asarray(self.engine.initial_cash, float), index=pd.Index(self.layout.accounts,
                                                                                      name="account"),
                         name="initial_cash")

    def marks(self, at=None) -> pd.Series:
        """Mark price of every market (the oracle in force, else the last trade; NaN before
        either), at ``at`` or, by default, after the run's last event.

        At ``at`` (a timestamp, or int ns) the marks are those after every event stamped at or
        before it, read from the very oracle rows the run replayed (derived from trades for a
        market without oracle rows).

        Examples
        --------
        >>> res.marks("2022-11-08 12:00")["BTC-USD"]   # doctest: +SKIP
        18210.5
        """
        names = self.layout.markets
        if at is None:  # the engine's own marks after its last event
            px = self.final_marks()
        else:
            if "_market_data" not in self._cache:
                self._cache["_market_data"] = MarketData(self.engine.inputs)
            md, t = self._cache["_market_data"], to_ns(at)
            px = [mark_price_nb(md.last_oracle(m, t), md.last_trade(m, t)) for m in range(len(names))]
        return pd.Series(dict(zip(names, px)), dtype=float, name="price")

    def book(self, market: str, at, depth: int | None = 10):
        """The order book of ``market`` from the book rows stamped ``<= at``, as the data shows it
        (no stress, none of the run's own takes): a :class:`~backtester.market_data.BookView`,
        best first, ``depth`` levels a side (None: all). Empty on a market without book data.

        Examples
        --------
        >>> res.book("BTC-USD", "2024-08-08 23:55").best_ask   # doctest: +SKIP
        61832.4
        """
        if "_market_data" not in self._cache:
            self._cache["_market_data"] = MarketData(self.engine.inputs)
        m = self.layout.market_index[market]
        levels = int(self.engine.inputs.cfg_i[CI_BOOK_LEVELS]) if depth is None else int(depth)
        return self._cache["_market_data"].book(m, to_ns(at), levels, 1.0)

    def final_marks(self) -> np.ndarray:
        """The mark of every market after the run's last event, in ``layout.markets`` order
        (:meth:`marks` without pandas)."""
        st = self.engine.state
        return np.array([mark_price_nb(float(o), float(x)) for o, x in zip(st.oracle, st.last)])

    @property
    def equity(self) -> pd.DataFrame:
        if "equity" not in self._cache:
            df = pd.DataFrame(self.engine.records("samples"))
            df.index = _ts(df.pop("ts"))
            df.index.name = "ts"
            df["margin_ratio"] = margin_ratio(df["equity"].to_numpy(), df["mmr"].to_numpy())
            df["drawdown"] = drawdown(df["equity"].to_numpy(), float(self.engine.initial_cash.sum()))
            self._cache["equity"] = df
        return self._cache["equity"]

    # ------------------------------------------------------------------ summary
    def final_equity(self) -> float:
        """Trader equity at the end, at the last oracle marks."""
        from .kernel.accounts_nb import account_state_nb

        eng = self.engine
        accounts = sum(account_state_nb(*eng.refs(), a)[0] for a in range(len(self.layout.accounts)))
        return float(accounts + eng.state.transit[0])

    def stats(self) -> pd.Series:
        """Headline figures of the run (see the index for names)."""
        from .stats import compute_stats

        return compute_stats(self)

    def stats_values(self) -> dict:
        """:meth:`stats` as a plain ``{name: float or int}`` dict, in the same order; cheaper
        (no pandas), for loops over many runs.

        Examples
        --------
        >>> res.stats_values()["total_return"] == res.stats()["total_return"]   # doctest: +SKIP
        True
        """
        from .stats import stats_values

        return stats_values(self)

    def plot(self, kind: str = "equity", **kwargs):
        """Plot this run; returns the matplotlib Figure (see :mod:`backtester.plots`).

        Parameters
        ----------
        kind : {'equity', 'margin', 'ladder', 'waterfall', 'funding', 'finality', 'dashboard'}
        **kwargs
            Passed to the plot function (``ax=``, ``fig=``, ``at=`` for the ladder, ...).

        Examples
        --------
        >>> fig = res.plot("waterfall")      # doctest: +SKIP
        >>> fig.savefig("waterfall.png")     # doctest: +SKIP
        """
        from . import plots
        from ._names import check_names

        kinds = {"equity": plots.plot_equity, "margin": plots.plot_margin, "ladder": plots.plot_ladder,
                 "waterfall": plots.plot_waterfall, "funding": plots.plot_funding,
                 "finality": plots.plot_finality, "dashboard": plots.dashboard}
        try:
            check_names("Result.plot", "kind", [kind], kinds)
        except TypeError as e:
            raise ValueError(str(e)) from None
        return kinds[kind](self, **kwargs)
