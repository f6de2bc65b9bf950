"""Funding carry: hold the side that receives funding while the funding rate is extreme, sized
by the seeds' funding-aware rule; a hedged variant; and a per-market P&L split (basis risk).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from backtester import Strategy

from ._signals import _last_prices, check_finite, funding_series, observed_lag
from .sizing import FundingAwareSizing


def carry_sides(rate: np.ndarray, z: np.ndarray, z_entry: float, z_exit: float,
                min_rate: float = 0.0) -> np.ndarray:
    """The side to hold at each decision, from the observed rate and its z-score.

    Flat: enter when ``|z| >= z_entry`` and ``|rate| >= min_rate``, on the side that receives
    the rate (``-sign(rate)``: short when longs pay). Holding: stay while ``|z| >= z_exit`` and
    the rate still pays this side; otherwise leave (and enter again at once only if the new
    rate is itself extreme).

    Examples
    --------
    >>> rate = np.array([1e-5, 9e-5, 5e-5, -2e-5, 1e-5])
    >>> carry_sides(rate, np.array([0.1, 3.0, 1.0, 1.0, 0.2]), 2.0, 0.5).tolist()
    [0.0, -1.0, -1.0, 0.0, 0.0]
    """
    side = np.zeros(len(rate))
    held = 0.0
    for i, (r, s) in enumerate(zip(rate, np.abs(z))):
        ok = np.isfinite(r) and np.isfinite(s) and r != 0.0
        receives = ok and -np.sign(r) == held
        if held != 0.0 and not (receives and s >= z_exit):
            held = 0.0  # signal decayed, or the rate turned against the side held
        if held == 0.0 and ok and s >= z_entry and abs(r) >= min_rate:
            held = -np.sign(r)
        side[i] = held
    return side


class FundingCarry(Strategy):
    """Collect funding: short when the observed rate is positive, long when negative, while the
    funding z-score is extreme; flat once it decays.

    At each decision ``t`` the strategy looks at the last funding row it has observed
    (``ts <= t - feed_latency``) and its z-score against the ``z_window`` rows before it
    (:func:`strategies.sizing.funding_zscore`). It enters when ``|z| >= z_entry`` (and the rate
    is at least ``min_rate``) on the side that receives the observed rate, and leaves when
    ``|z| < z_exit`` or the rate turns against that side (:func:`carry_sides`). Size:
    ``notional = min(max_notional, max_leverage * equity)`` with
    ``max_notional = base_risk_cap * volatility_adjuster / funding_risk_multiplier``
    (:class:`strategies.sizing.FundingAwareSizing`), so the carry shrinks as the funding
    z-score runs further past ``z_threshold``.

    Parameters
    ----------
    market : str
        Market carried (default ``"BTC-USD"``).
    z_entry, z_exit : float
        Enter at ``|z| >= z_entry`` (default 2.0), exit under ``z_exit`` (default 0.5).
    min_rate : float
        Smallest ``|rate|`` (per funding interval) worth entering for (default 2e-5 per hour,
        about 17.5 % a year): a z-score can be extreme while the rate is near zero.
    z_window : int
        Funding rows in the z-score window (default 72: three days of hourly funding, so the
        six-day sample has a score from its second day).
    base_risk_cap : float
        Notional allowed in calm conditions (default 20,000, i.e. 2x the default 10,000 cash).
    max_leverage : float
        Cap of notional / equity (default 3.0).
    target_vol : float
        Annualised volatility at which the volatility adjuster is 1 (default 0.6).
    z_threshold, z_slope : float
        Funding risk multiplier ``1 + z_slope * max(|z| - z_threshold, 0)`` (defaults 2.0, 0.5):
        the entry level itself is not penalised, runs beyond it are.
    rebalance : float
        While holding a side, resize only when the held notional is off the target by more than
        this fraction of it (default 0.25): the cap moves every hour with volatility and the
        z-score, and chasing it would pay more in fees than the funding brings.
    every : str
        Decision cadence (default ``"1h"``, the funding interval).

    Attributes
    ----------
    plan : DataFrame
        After a run, per decision time: observed funding rate and z-score, side, volatility,
        volatility adjuster, funding risk multiplier and ``max_notional`` (what the funding
        plot shows).

    Notes
    -----
    Hybrid, not plan-only: the cap ``max_leverage * equity`` needs the equity at the decision,
    which a plan made in ``init`` cannot know. Everything else is vectorised once, at the first
    decision (when the context tells the feed latency, so the plan uses exactly the rows each
    decision has observed); each decision then costs one lookup and at most one order.

    Examples
    --------
    >>> import backtester as bt, data_loaders as dl
    >>> res = bt.run(FundingCarry(), dl.sample())
    >>> bool(res.stats()["funding"] > 0)
    True
    """

    params = dict(market="BTC-USD", z_entry=2.0, z_exit=0.5, min_rate=2e-5, z_window=72,
                  base_risk_cap=20_000.0, max_leverage=3.0, target_vol=0.6, z_threshold=2.0, z_slope=0.5,
                  rebalance=0.25, every="1h")

    def init(self, data):
        check_finite(self, "max_leverage")
        if not 0 <= self.z_exit <= self.z_entry:
            raise ValueError(f"need 0 <= z_exit <= z_entry, got z_exit={self.z_exit}, z_entry={self.z_entry}")
        if self.max_leverage <= 0 or self.rebalance < 0:
            raise ValueError(f"need max_leverage > 0 and rebalance >= 0, got {self.max_leverage!r}, "
                             f"{self.rebalance!r}")
        self.sizing = FundingAwareSizing(base_risk_cap=self.base_risk_cap, target_vol=self.target_vol,
                                         z_threshold=self.z_threshold, z_slope=self.z_slope,
                                         z_window=int(self.z_window))
        self._data = data
        self.plan = None

    def make_plan(self, data, lag_ns: int = 0) -> pd.DataFrame:
        """Signal and cap at every decision time from what each decision has observed.

        Parameters
        ----------
        data : data_loaders.Dataset
        lag_ns : int
            Feed latency: decision ``t`` sees rows with ``ts <= t - lag_ns``.

        Returns
        -------
        DataFrame
            Indexed by decision time: ``funding_rate``, ``funding_z``, ``side``, ``vol``,
            ``volatility_adjuster``, ``funding_risk_multiplier``, ``max_notional``.
        """
        times = self.decision_times
        seen = times - pd.Timedelta(lag_ns, "ns")
        prices = _last_prices(data, self.market, seen)
        rates = funding_series(data, self.market)
        if rates.empty:  # no funding to collect: the carry never trades
            rates = pd.Series([np.nan], index=seen[:1] if len(seen) else pd.DatetimeIndex([], tz="UTC"))
        frame = self.sizing.frame(prices, rates, self.every)  # funding known at each seen time
        frame.index = times
        frame.insert(2, "side", carry_sides(frame["funding_rate"].to_numpy(), frame["funding_z"].to_numpy(),
                                            self.z_entry, self.z_exit, self.min_rate))
        return frame

    def carry_notional(self, ctx) -> float:
        """Signed notional of the carry leg at this decision (0 when flat)."""
        if self.plan is None:
            self.plan = self.make_plan(self._data, observed_lag(ctx))
        row = self.plan.iloc[ctx.decision]
        if row["side"] == 0:
            return 0.0
        cap = self.max_leverage * max(ctx.equity(self.market), 0.0) / self._legs(ctx)
        return float(row["side"] * min(row["max_notional"], cap))

    def _legs(self, ctx) -> float:
        """Gross notional per unit of carry notional held in the carry's margin account."""
        return 1.0

    def trade_to(self, ctx, market: str, notional: float) -> None:
        """Go to ``notional`` at once on entry, exit or flip; resize a held side only beyond
        ``rebalance``."""
        px = ctx.mark(market)
        if not np.isfinite(px):
            return
        held = ctx.expected_position(market) * px
        if notional != 0.0 and np.sign(held) == np.sign(notional) and \
                abs(held - notional) <= self.rebalance * abs(notional):
            return
        ctx.target_notional(market, notional)

    def on_decision(self, ctx):
        self.trade_to(ctx, self.market, self.carry_notional(ctx))


class HedgedCarry(FundingCarry):
    """:class:`FundingCarry` plus the opposite notional, times ``hedge_ratio``, in ``hedge_market``:
    the carry's funding without (most of) its price risk, and the basis risk in exchange.

    The hedge is a second market (default ETH-USD against BTC-USD: correlated, not identical,
    and it pays or receives its own funding) or the same underlying on a second venue. For the
    latter, name the second market in the data (e.g. ``"BTC-USD@hl"`` with its own trades,
    funding and oracle) and place it on its venue in the config::

        cfg = bt.SimConfig(markets={"BTC-USD@hl": bt.Market.preset("BTC-USD@hl", venue="hl")})
        bt.run(HedgedCarry(hedge_market="BTC-USD@hl"), data, cfg)

    (the preset reads the tier from the base asset, ``BTC``; each venue then has its own
    cross-margin account, funded with ``initial_cash``, and its own latency trace if the data
    has one).

    Parameters
    ----------
    hedge_market : str
        Market of the hedge leg (default ``"ETH-USD"``).
    hedge_ratio : float
        Hedge notional per unit of carry notional, opposite side (default 1.0).
    market, z_entry, z_exit, min_rate, z_window, base_risk_cap, max_leverage, target_vol, \
    z_threshold, z_slope, rebalance, every
        As for :class:`FundingCarry` (same defaults); they drive the carry leg.

    Notes
    -----
    ``max_leverage`` caps each margin account's gross notional: when both legs share an account
    the carry notional is at most ``max_leverage * equity / (1 + hedge_ratio)``; on separate
    venues each leg is capped by its own account's equity. :func:`leg_pnl` splits the result by
    market, which is where the basis risk shows.

    Examples
    --------
    >>> import backtester as bt, data_loaders as dl
    >>> res = bt.run(HedgedCarry(), dl.sample())
    >>> sorted(leg_pnl(res).index)
    ['BTC-USD', 'ETH-USD']
    """

    params = dict(hedge_market="ETH-USD", hedge_ratio=1.0)

    def init(self, data):
        check_finite(self, "hedge_ratio")
        if self.hedge_market == self.market:
            raise ValueError(f"hedge_market must differ from market ({self.market!r})")
        if self.hedge_ratio < 0:
            raise ValueError(f"hedge_ratio must be >= 0, got {self.hedge_ratio!r}")
        super().init(data)

    def _legs(self, ctx) -> float:
        shared = ctx.account(self.market) == ctx.account(self.hedge_market)
        return 1.0 + self.hedge_ratio if shared else 1.0

    def on_decision(self, ctx):
        carry = self.carry_notional(ctx)
        hedge = -self.hedge_ratio * carry
        if self._legs(ctx) == 1.0 and hedge != 0.0:  # separate account: its own leverage cap
            hedge_cap = self.max_leverage * max(ctx.equity(self.hedge_market), 0.0)
            if abs(hedge) > hedge_cap:
                hedge = np.sign(hedge) * hedge_cap
                carry = -hedge / self.hedge_ratio
        self.trade_to(ctx, self.market, carry)
        self.trade_to(ctx, self.hedge_market, hedge)


def leg_pnl(result) -> pd.DataFrame:
    """P&L of a run split by market (one row per leg), to make basis risk visible.

    Columns: ``price_pnl`` (positions valued at printed trade prices and, at the end, at the
    final marks), ``slippage``, ``fees``, ``funding``, ``gas``, ``liquidation`` (the liquidation
    fee share paid, plus any deficit covered by the insurance fund or socialized) and ``net``.
    Reverted fills are left out. Summed over markets, ``net`` is the run's P&L
    (``final_equity - initial_equity``, with no transfers).

    Examples
    --------
    >>> import backtester as bt, data_loaders as dl
    >>> res = bt.run(HedgedCarry(), dl.sample())
    >>> split = leg_pnl(res)
    >>> bool(abs(split["net"].sum() - (res.final_equity() - res.stats()["initial_equity"])) < 1e-6)
    True
    """
    markets = list(result.layout.markets)
    marks = result.marks().to_numpy()  # the marks of final_equity()
    out = pd.DataFrame(0.0, index=pd.Index(markets, name="market"),
                       columns=["price_pnl", "slippage", "fees", "funding", "gas", "liquidation", "net"])
    fills = result.fills
    if len(fills):
        f = fills[~fills["reverted"]]
        q = f["side"] * f["size"]
        # at printed prices: a taker's fill price less its slippage (liquidation fills: their price)
        g = pd.DataFrame({"market": f["market"], "q": q, "cash": -q * f["price"] + f["slippage_cost"],
                          "slip": -f["slippage_cost"], "fee": -f["fee"]}).groupby("market").sum()
        for m, row in g.iterrows():
            out.loc[m, ["price_pnl", "slippage", "fees"]] = [row["cash"] + row["q"] * marks[markets.index(m)],
                                                             row["slip"], row["fee"]]
    ledger = result.ledger
    if len(ledger):
        trader = ledger[~ledger["account"].astype(str).str.startswith("insurance:")]
        for kind, col in (("funding", "funding"), ("gas", "gas")):
            by = trader[trader["kind"] == kind].groupby("market")["amount"].sum()
            out.loc[by.index, col] += by
    liq = result.liquidations
    if len(liq):  # the ledger books liquidation money per account; its records split it per market
        by = (liq["insurance_paid"] + liq["socialized"] - liq["fee"]).groupby(liq["market"]).sum()
        out.loc[by.index, "liquidation"] += by
    out["net"] = out.drop(columns="net").sum(axis=1)
    return out
