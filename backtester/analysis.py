"""The numbers behind every plot, as DataFrames and Series that tests and notebooks can check.

Each function here feeds exactly one plot of :mod:`backtester.plots` (which only draws) and
uses nothing but a :class:`~backtester.result.Result`'s public frames, its dataset and config.

The account state at any time ``at`` is rebuilt from the records, after every event stamped at
or before ``at`` (docs/simulation.md, "Accounting"):

* position ``S`` = signed fills up to ``at`` (a fill reverted by a reorg counts until the reorg);
* cash ``Q`` = initial cash + the account's ledger rows up to ``at``;
* cost basis ``S * E`` = what the fills cost (``sum q * p``) + realized PnL of the market, an
  identity of average-entry accounting, so the entry price needs no replay of the kernel;
* marks ``P`` = the oracle in force (derived from trades for markets without oracle rows),
  else the last trade price;
* ``NC = Q + sum S * P - S * E``, ``MMR = sum |S| * P * MMF``.

An equity sample at a decision time is taken before that decision sends anything, so the gas
of orders sent at ``at`` is in :func:`accounts_at` but not yet in ``Result.equity`` at ``at``.

Examples
--------
>>> import backtester as bt, data_loaders as dl
>>> from strategies import BuyAndHold
>>> from backtester import analysis as an
>>> res = bt.run(BuyAndHold(leverage=3.0), dl.sample("btcusdt-tape"))
>>> an.pnl_breakdown(res).index.tolist()
['price_pnl', 'fees', 'slippage', 'funding', 'gas', 'liquidation_losses', 'insurance_cover', 'net']
>>> bool(an.liquidation_ladder(res).loc["BTC-USD", "liq_move"] < 0)   # a long dies on a fall
True
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .cadence import decision_times
from .kernel import enums as E
from .kernel.accounts_nb import requirement_nb
from .records import to_ns
from .sizing import FundingAwareSizing

_MAX = np.iinfo(np.int64).max
_LIQ_KINDS = ("liquidation_fee", "insurance_payout", "socialized_loss")
#: the bars of the P&L waterfall, in order
PNL_ITEMS = ["price_pnl", "fees", "slippage", "funding", "gas", "liquidation_losses", "insurance_cover", "net"]


# ============================================================================ helpers
def _i8(col) -> np.ndarray:
    """Datetime column (tz-aware) -> int64 ns."""
    return pd.DatetimeIndex(col).asi8 if len(col) else np.zeros(0, np.int64)


def _check_result(res, what: str) -> None:
    # the frames are properties: look them up on the class (hasattr on the instance would
    # build them, which was most of a sweep run's stats() time)
    if not (all(hasattr(type(res), a) for a in ("fills", "ledger", "equity"))
            and all(hasattr(res, a) for a in ("engine", "layout", "config"))):
        raise TypeError(f"{what}: expected a backtester Result (bt.run(...)), got {type(res).__name__}")


def _account_of_market(res) -> dict:
    """Market name -> margin account name (cross: the venue; isolated: 'venue/market')."""
    cross = res.config.margin_mode == "cross"
    return {s.name: (s.venue if cross else f"{s.venue}/{s.name}") for s in res.layout.market_specs}


def marks_at(res, at=None) -> pd.Series:
    """Mark price of every market at ``at``: the oracle in force, else the last trade price
    (:meth:`Result.marks <backtester.result.Result.marks>`).

    Parameters
    ----------
    res : Result
    at : timestamp, optional
        Default: after the last event of the run (the final marks).

    Returns
    -------
    Series indexed by market (NaN where the market has no price yet).

    Examples
    --------
    >>> marks_at(res, "2022-11-08 12:00")["BTC-USD"]   # doctest: +SKIP
    18210.5
    """
    return res.marks(None if at is None else to_ns(at))


def _fills(res) -> pd.DataFrame:
    """Fills with int ns times, signed size ``q`` and the time its reorg reversal happened
    (int64 max when never reverted)."""
    f = res.fills
    out = pd.DataFrame({"market": f["market"].to_numpy(), "account": f["account"].to_numpy(),
                        "ts": _i8(f["ts"]), "final_ts": _i8(f["final_ts"]),
                        "q": (f["side"] * f["size"]).to_numpy(float),
                        "price": f["price"].to_numpy(float), "fee": f["fee"].to_numpy(float)})
    out["undone_ts"] = _reversal_times(res, f, out)
    return out


def _reversal_times(res, f: pd.DataFrame, g: pd.DataFrame) -> np.ndarray:
    """A reverted fill is undone by the first reorg on its venue with ``fill_ts <= R < final_ts``
    (docs/simulation.md, "Finality and reorgs")."""
    out = np.full(len(f), _MAX, np.int64)
    rev = np.flatnonzero(f["reverted"].to_numpy(bool)) if len(f) else []
    if not len(rev):
        return out
    reorgs = res.reorgs
    ro_ts, ro_v = _i8(reorgs["ts"]), reorgs["venue"].to_numpy()
    for i in rev:
        hit = ro_ts[(ro_v == f["venue"].iat[i]) & (ro_ts >= g["ts"].iat[i]) & (ro_ts < g["final_ts"].iat[i])]
        out[i] = hit.min() if len(hit) else g["ts"].iat[i]  # no such reorg given: never in effect
    return out


def _trader_ledger(res) -> pd.DataFrame:
    led = res.ledger
    if not len(led):
        return pd.DataFrame({"ts": np.zeros(0, np.int64), "account": [], "kind": [], "market": [],
                             "amount": np.zeros(0)})
    led = led[led["account"].isin(res.layout.accounts)]
    return pd.DataFrame({"ts": _i8(led["ts"]), "account": led["account"].to_numpy(),
                         "kind": led["kind"].to_numpy(), "market": led["market"].to_numpy(),
                         "amount": led["amount"].to_numpy(float)})


# ============================================================================ account state
def positions_at(res, at=None) -> pd.DataFrame:
    """Every market's position, entry price and mark at ``at`` (after all events stamped at or
    before it), rebuilt from fills, ledger and oracle.

    Parameters
    ----------
    res : Result
    at : timestamp, optional
        Default: :func:`default_at` (the time of the largest gross notional).

    Returns
    -------
    DataFrame indexed by market: account, position (signed base units), entry_price, price
    (mark), notional (``|S| * P``), upnl (``S * (P - E)``), imf, mmf.

    Examples
    --------
    >>> positions_at(res, "2022-11-09 12:00").loc["BTC-USD", "position"]   # doctest: +SKIP
    1.47
    """
    _check_result(res, "positions_at")
    t = default_at(res).value if at is None else to_ns(at)
    f = _fills(res)
    led = _trader_ledger(res)
    prices = marks_at(res, t)
    acct = _account_of_market(res)
    specs = {spec.name: spec for spec in res.layout.market_specs}  # what the run used
    done = (f["ts"] <= t).to_numpy()
    undone = (f["undone_ts"] <= t).to_numpy()
    rows = {}
    for m in res.layout.markets:
        mine = (f["market"] == m).to_numpy()
        q, p = f["q"].to_numpy(), f["price"].to_numpy()
        size = q[mine & done].sum() - q[mine & undone].sum()
        cost = (q * p)[mine & done].sum() - (q * p)[mine & undone].sum()
        # realized PnL of the market: realized rows plus the reversal rows less their fee refunds
        lm = (led["market"] == m).to_numpy() & (led["ts"] <= t).to_numpy()
        realized = led.loc[lm & led["kind"].isin(["realized_pnl", "reorg_reversal"]).to_numpy(), "amount"].sum()
        realized -= f.loc[mine & undone, "fee"].sum()
        if abs(size) <= 1e-9 * max(np.abs(q[mine & done]).sum(), 1e-300):
            size = 0.0  # a float residue of equal buys and sells is flat (the kernel snaps it)
        spec = specs[m]
        rows[m] = dict(account=acct[m], position=size, basis=cost + realized, price=prices[m],
                       imf=spec.imf, mmf=spec.mmf)
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "market"
    held = out["position"] != 0.0
    out["entry_price"] = np.where(held, out["basis"] / out["position"].where(held, 1.0), 0.0)
    out["notional"] = out["position"].abs() * out["price"].fillna(0.0)
    out["upnl"] = np.where(held, out["position"] * out["price"].fillna(0.0) - out["basis"], -out["basis"])
    out.attrs["at"] = pd.Timestamp(t, tz="UTC")
    return out[["account", "position", "entry_price", "price", "notional", "upnl", "imf", "mmf"]]


def accounts_at(res, at=None, positions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Cash, net collateral, IMR, MMR, margin ratio and net exposure of every margin account.

    Parameters
    ----------
    res : Result
    at : timestamp, optional
        Default: :func:`default_at`.
    positions : DataFrame, optional
        :func:`positions_at` of the same ``at`` (saves recomputing it).

    Returns
    -------
    DataFrame indexed by account: cash, equity (NC), imr, mmr, margin_ratio (``inf`` when
    flat), exposure (``sum S * P``), gross_notional. ``attrs["transit"]``: collateral on a
    bridge at ``at``; ``attrs["at"]``.

    Examples
    --------
    >>> accounts_at(res)["equity"].sum()     # doctest: +SKIP
    10412.3
    """
    _check_result(res, "accounts_at")
    pos = positions_at(res, at) if positions is None else positions
    t = pos.attrs["at"].value
    led = _trader_ledger(res)
    led = led[led["ts"] <= t]
    init = res.initial_cash
    held = pos[pos["position"] != 0.0]
    rows = {}
    for a in res.layout.accounts:
        mine = pos[pos["account"] == a]
        h = held[held["account"] == a]
        cash = init[a] + led.loc[led["account"] == a, "amount"].sum()
        mmr, imr = (_requirement(h, fraction) for fraction in ("mmf", "imf"))
        nc = cash + float(mine["upnl"].sum())
        rows[a] = dict(cash=cash, equity=nc, imr=imr, mmr=mmr,
                       margin_ratio=nc / mmr if mmr > 0 else np.inf,
                       exposure=float((h["position"] * h["price"]).sum()), gross_notional=float(h["notional"].sum()))
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "account"
    # transfers leave with a negative row and land with a positive one: the difference is in transit
    out.attrs["transit"] = 0.0 - float(led.loc[led["kind"] == "transfer", "amount"].sum())
    out.attrs["at"] = pos.attrs["at"]
    return out


def _requirement(held: pd.DataFrame, fraction: str) -> float:
    """IMR (``fraction='imf'``) or MMR (``'mmf'``) of :func:`positions_at` rows: the kernel's
    ``requirement_nb`` over them."""
    def col(values):  # one array type: one compiled signature
        return np.ascontiguousarray(values, np.float64)

    gross = col(held["position"].abs())
    return float(pd.Series(requirement_nb(gross, col(held["price"].fillna(0.0)), col(held[fraction]))).sum())


def default_at(res) -> pd.Timestamp:
    """The sample time of the largest gross notional, or the last sample when never exposed.

    Examples
    --------
    >>> default_at(res)    # doctest: +SKIP
    Timestamp('2022-11-08 00:01:00+0000', tz='UTC')
    """
    eq = res.equity
    if not len(eq):
        return pd.Timestamp(res.layout.end_ns, tz="UTC")
    g = eq["gross_notional"]
    return g.idxmax() if g.max() > 0 else eq.index[-1]


# ============================================================================ equity and margin
def equity_frame(res) -> pd.DataFrame:
    """Equity (net collateral, quote) and drawdown (fraction of the running peak) per sample.

    Examples
    --------
    >>> equity_frame(res)["drawdown"].min()   # doctest: +SKIP
    -0.088
    """
    _check_result(res, "equity_frame")
    return res.equity[["equity", "drawdown"]].copy()


def margin_frame(res) -> pd.DataFrame:
    """Margin ratio (NC / MMR; NaN while flat instead of ``inf``), equity and MMR per sample.

    Examples
    --------
    >>> margin_frame(res)["margin_ratio"].min()   # doctest: +SKIP
    26.8
    """
    _check_result(res, "margin_frame")
    eq = res.equity
    ratio = eq["margin_ratio"].where(np.isfinite(eq["margin_ratio"]))
    return pd.DataFrame({"margin_ratio": ratio, "equity": eq["equity"], "mmr": eq["mmr"]})


def liquidation_events(res) -> pd.DataFrame:
    """One row per account liquidation: ts, account, markets, notional closed (at the oracle)
    and the margin ratio just before it.

    The ratio comes from the close price: the engine closes at ``P * (1 - sign(S) * liq_spread *
    MMF * ABR)`` with ``ABR = clamp(1 - NC / MMR, 0, 1)``, so ``NC / MMR = 1 - ABR`` (0 means
    equity was at or below zero; NaN when ``liq_spread`` is 0).

    Examples
    --------
    >>> liquidation_events(res)[["ts", "account", "margin_ratio"]]   # doctest: +SKIP
    """
    _check_result(res, "liquidation_events")
    liq = res.liquidations
    cols = ["ts", "account", "markets", "notional", "margin_ratio"]
    if not len(liq):
        return pd.DataFrame(columns=cols)
    mmf = liq["market"].map(lambda m: res.config.market(m).mmf)
    width = res.config.liq_spread * mmf
    with np.errstate(divide="ignore", invalid="ignore"):
        abr = np.sign(liq["size"]) * (1.0 - liq["price"] / liq["oracle_price"]) / width
    d = liq.assign(notional=liq["size"].abs() * liq["oracle_price"], ratio=np.where(width > 0, 1.0 - abr, np.nan))
    g = d.groupby(["ts", "account"], sort=False)
    out = g.agg(markets=("market", lambda s: ", ".join(s)), notional=("notional", "sum"),
                margin_ratio=("ratio", "first")).reset_index()
    out["margin_ratio"] = out["margin_ratio"].clip(lower=0.0)
    return out[cols]


# ============================================================================ liquidation ladder
def liquidation_ladder(res, at=None) -> pd.DataFrame:
    """Where each position held at ``at`` would be liquidated.

    Per position: ``liq_price``, the oracle price of that market alone at which its account
    reaches ``NC = MMR`` (other prices fixed; in cross margin the whole account's collateral
    backs it), and ``account_liq_price``, the price of this market when every market of the
    account moves by the same percentage (``account_liq_move``) and the account reaches
    maintenance. With ``NC(x) = NC0 + S (x - P)`` and ``MMR(x) = MMR0 + |S| MMF (x - P)``:

        liq_price = P + (NC0 - MMR0) / (|S| MMF - S)
        account_liq_move = (NC0 - MMR0) / (MMR0 - sum_i S_i P_i)

    NaN where no positive price liquidates (a long backed by more than its notional).

    Parameters
    ----------
    res : Result
    at : timestamp, optional
        Default: :func:`default_at` (the time of the largest gross notional).

    Returns
    -------
    DataFrame indexed by the markets held: account, position, entry_price, price, notional,
    liq_price, liq_move (fraction from price), account_liq_price, account_liq_move,
    account_equity, account_mmr, and on markets with book data (NaN elsewhere) close_depth (the
    size the book shows at ``at`` on the side a close takes: bids for a long) and close_price
    (the size-weighted price of closing the whole position against it; NaN when the shown
    size does not cover it). ``attrs["at"]``.

    Examples
    --------
    >>> lad = liquidation_ladder(res, "2022-11-08 06:00")   # doctest: +SKIP
    >>> lad[["price", "liq_price", "account_liq_price"]]    # doctest: +SKIP
    """
    _check_result(res, "liquidation_ladder")
    pos = positions_at(res, at)
    acc = accounts_at(res, positions=pos)
    held = pos[pos["position"] != 0.0].copy()
    nc, mmr, expo = (held["account"].map(acc[c]).astype(float) for c in ("equity", "mmr", "exposure"))
    s, p = held["position"], held["price"]
    slack = nc - mmr
    liq = p + slack / (s.abs() * held["mmf"] - s)
    with np.errstate(divide="ignore", invalid="ignore"):
        move = slack / (mmr - expo)
    move = move.where(np.isfinite(move) & (move > -1.0))
    held["liq_price"] = liq.where(liq > 0)
    held["liq_move"] = held["liq_price"] / p - 1.0
    held["account_liq_price"] = p * (1.0 + move)
    held["account_liq_move"] = move
    held["account_equity"] = nc
    held["account_mmr"] = mmr
    cols = ["account", "position", "entry_price", "price", "notional", "liq_price", "liq_move",
            "account_liq_price", "account_liq_move", "account_equity", "account_mmr"]
    out = held[cols].astype({c: float for c in cols if c != "account"})
    out["close_depth"], out["close_price"] = _book_close(res, out, pos.attrs["at"])
    out.attrs["at"] = pos.attrs["at"]
    return out


def _book_close(res, lad: pd.DataFrame, at) -> tuple[np.ndarray, np.ndarray]:
    """Per position of ``lad``: the size the book shows at ``at`` on the side a close takes
    (bids for a long), and the size-weighted price of closing the whole position against it
    (NaN when the shown size does not cover it, or the market has no book data)."""
    depth = np.full(len(lad), np.nan)
    price = np.full(len(lad), np.nan)
    books = res.engine.inputs.mk_book
    for i, (market, s) in enumerate(zip(lad.index, lad["position"])):
        m = res.layout.market_index[market]
        if not books[m]:
            continue
        view = res.book(market, at, depth=None)
        px, sz = (view.bid_price, view.bid_size) if s > 0 else (view.ask_price, view.ask_size)
        depth[i] = float(sz.sum())
        took = np.minimum(np.maximum(abs(s) - np.concatenate([[0.0], np.cumsum(sz)[:-1]]), 0.0), sz)
        if depth[i] >= abs(s) > 0:
            price[i] = float((took * px).sum() / abs(s))
    return depth, price


def shock_table(res, at=None, shocks=None) -> pd.DataFrame:
    """Equity and margin after moving every price by the same fraction, positions held.

    Parameters
    ----------
    res : Result
    at : timestamp, optional
        Default: :func:`default_at`.
    shocks : array of float, optional
        Fractional price moves; default ``np.linspace(-0.5, 0.5, 21)`` (-50 % .. +50 %).

    Returns
    -------
    DataFrame indexed by shock: equity (all accounts plus collateral in transit), mmr,
    margin_ratio (summed NC / summed MMR; ``inf`` when flat), accounts_below (how many
    accounts would be under maintenance, i.e. liquidated). ``attrs["at"]``.

    Examples
    --------
    >>> shock_table(res).loc[0.0, "equity"]   # doctest: +SKIP
    10412.3
    """
    _check_result(res, "shock_table")
    shocks = np.linspace(-0.5, 0.5, 21) if shocks is None else np.asarray(shocks, float)
    if shocks.ndim != 1 or not np.all(np.isfinite(shocks)) or np.any(shocks <= -1.0):
        raise ValueError("shocks: expected a 1-d array of finite fractions > -1 (e.g. -0.5 .. 0.5)")
    # linspace gives -0.09999999999999998 and 1e-17: round so .loc[-0.1] and .loc[0.0] work
    shocks = np.round(shocks, 12) + 0.0
    acc = accounts_at(res, at)
    nc = acc["equity"].to_numpy()[None, :] + shocks[:, None] * acc["exposure"].to_numpy()[None, :]
    mmr = (1.0 + shocks)[:, None] * acc["mmr"].to_numpy()[None, :]
    held = (acc["gross_notional"] > 0).to_numpy()[None, :]
    total_mmr = mmr.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(total_mmr > 0, nc.sum(axis=1) / total_mmr, np.inf)
    out = pd.DataFrame({"equity": nc.sum(axis=1) + acc.attrs["transit"], "mmr": total_mmr,
                        "margin_ratio": ratio, "accounts_below": (held & (nc < mmr)).sum(axis=1)},
                       index=pd.Index(shocks, name="shock"))
    out.attrs["at"] = acc.attrs["at"]
    return out


# ============================================================================ P&L waterfall
def pnl_breakdown(res) -> pd.Series:
    """Net P&L split into price P&L and costs (costs negative), summing exactly to ``net``.

    * ``price_pnl``: mark-to-market of every fill valued *before* costs (a taker at the trade
      print, a maker at its limit, a liquidation at the oracle price), positions marked at the
      final oracle, computed from the fills, independently of the ledger;
    * ``fees``, ``slippage``: of fills not reverted by a reorg (a reverted fill's fee is refunded);
    * ``funding``, ``gas``: the ledger's rows;
    * ``liquidation_losses``: the liquidation spread (close price vs oracle) and fee;
    * ``insurance_cover``: what the insurance fund and socialization paid to cover a deficit
      (the part of a gap loss beyond the account's equity, which the trader does not bear);
    * ``net`` = final equity - initial cash.

    Examples
    --------
    >>> b = pnl_breakdown(res)                       # doctest: +SKIP
    >>> abs(b.drop("net").sum() - b["net"]) < 1e-6   # doctest: +SKIP
    True
    """
    _check_result(res, "pnl_breakdown")
    return pd.Series(pnl_values(res), name="pnl")[PNL_ITEMS]


def pnl_values(res) -> dict:
    """The lines of :func:`pnl_breakdown` as a dict (no pandas: ``stats()`` of every sweep run
    reads them)."""
    # from the raw records (codes, not names; no frames): this runs in every sweep run's stats()
    fr = res.engine.records("fills", copy=False)
    f = fr[~fr["reverted"]]
    q = f["side"] * f["size"]
    kind = f["liquidity"]
    # value before costs: taker at the print, maker at its own limit, liquidation at the oracle
    value = np.where(kind == E.LQ_TAKER, f["trade_price"], f["price"])
    liq_fill = kind == E.LQ_LIQUIDATION
    liq = res.engine.records("liquidations", copy=False)
    if liq_fill.sum() != len(liq):
        raise RuntimeError(f"{int(liq_fill.sum())} liquidation fills but {len(liq)} liquidation records")
    if len(liq):  # fills and records are written together, in the same order
        value[liq_fill] = liq["oracle_price"]
    marks = res.final_marks()
    held = np.zeros(len(marks))
    np.add.at(held, f["market"], q)
    price_pnl = float(-(q * value).sum() + sum(held[m] * marks[m] for m in range(len(marks)) if held[m] != 0.0))
    led = res.engine.records("ledger", copy=False)
    acc = led["account"]
    led = led[(acc >= 0) & (acc < len(res.layout.accounts))]  # the trader's, not the insurance funds'
    total = lambda *kinds: float(led["amount"][np.isin(led["kind"], kinds)].sum())  # noqa: E731
    spread = float(-(q[liq_fill] * (f["price"][liq_fill] - value[liq_fill])).sum())
    return {
        "price_pnl": price_pnl,
        "fees": -float(f["fee"].sum()),
        "slippage": -float(f["slippage_cost"].sum()),
        "funding": total(E.LG_FUNDING),
        "gas": total(E.LG_GAS),
        "liquidation_losses": spread + total(E.LG_LIQ_FEE),
        "insurance_cover": total(E.LG_INSURANCE, E.LG_SOCIALIZED),
        "net": res.final_equity() - float(np.sum(res.engine.initial_cash)),
    }


# ============================================================================ funding and sizing
def funding_frame(source, market: str | None = None, sizing=None, every: str | None = None) -> pd.DataFrame:
    """Funding rate, its z-score and the funding-aware sizing they produce, on a time grid.

    Parameters
    ----------
    source : Result or data_loaders.Dataset
    market : str, optional
        Default: the strategy's ``market`` param, else the first market with funding rows.
    sizing : backtester.sizing.FundingAwareSizing, optional
        Default: the strategy's ``sizing`` attribute if it has one, else a rule with
        ``base_risk_cap`` = the initial cash (10,000 for a Dataset).
    every : str, optional
        Grid step: the strategy's ``every`` for a Result, else ``"1h"``.

    Returns
    -------
    DataFrame (index: grid times, UTC) of :meth:`FundingAwareSizing.frame`: price, vol,
    volatility_adjuster, funding_rate (per funding interval), funding_z,
    funding_risk_multiplier, max_notional. ``attrs``: market, z_threshold.

    Examples
    --------
    >>> import data_loaders as dl
    >>> ff = funding_frame(dl.sample(), "BTC-USD")
    >>> bool(ff["funding_risk_multiplier"].min() >= 1.0)
    True
    """
    is_result = hasattr(source, "equity") and hasattr(source, "data")
    data = source.data if is_result else source
    if not all(hasattr(data, t) for t in ("trades", "funding")):
        raise TypeError(f"funding_frame: expected a Result or a data_loaders.Dataset, got {type(source).__name__}")
    strat = getattr(source, "strategy", None) if is_result else None
    fu = data.funding.to_pandas() if data.funding.num_rows else pd.DataFrame(columns=["ts", "market", "rate"])
    fu["market"] = fu["market"].astype(str)
    if market is None:
        own = strat.params.get("market") if strat is not None and hasattr(strat, "params") else None
        market = own or (min(fu["market"].unique()) if len(fu) else None)
    rates = fu[fu["market"] == market].sort_values("ts", kind="stable").drop_duplicates("ts", keep="last")
    if not len(rates):
        raise ValueError(f"funding_frame: no funding rows for market {market!r}; have {sorted(fu['market'].unique())}")
    if sizing is None:
        sizing = getattr(strat, "sizing", None)
        if not isinstance(sizing, FundingAwareSizing):
            cap = float(source.initial_cash.sum()) if is_result else 10_000.0
            sizing = FundingAwareSizing(base_risk_cap=cap)
    every = every or (getattr(strat, "every", None) if strat is not None else None) or "1h"
    tr_ts, tr_px = data.market_prices("trades", market)
    if not len(tr_ts):
        raise ValueError(f"funding_frame: no trades for market {market!r}")
    grid = decision_times(every, int(tr_ts[0]), int(tr_ts[-1])).asi8  # the strategy's own grid
    i = np.searchsorted(tr_ts, grid, side="right") - 1
    idx = pd.DatetimeIndex(pd.to_datetime(grid, utc=True), name="ts")
    prices = pd.Series(np.where(i >= 0, tr_px[np.maximum(i, 0)], np.nan), index=idx)
    funding = pd.Series(rates["rate"].to_numpy(float), index=pd.DatetimeIndex(rates["ts"]).tz_convert("UTC"))
    out = sizing.frame(prices, funding, every)
    out.insert(0, "price", prices)
    out.attrs.update(market=market, z_threshold=sizing.z_threshold)
    return out


# ============================================================================ finality
def finality_frame(res) -> pd.DataFrame:
    """Per fill: when it happened, when it became final, its notional and time to finality.

    Returns
    -------
    DataFrame indexed by fill_id: ts, final_ts, market, liquidity, notional (``size * price``,
    quote), time_to_finality_s, reverted.

    Examples
    --------
    >>> finality_frame(res)["time_to_finality_s"].max()   # doctest: +SKIP
    3.25
    """
    _check_result(res, "finality_frame")
    f = res.fills
    out = pd.DataFrame({"ts": f["ts"], "final_ts": f["final_ts"], "market": f["market"],
                        "liquidity": f["liquidity"], "notional": (f["size"] * f["price"]).astype(float),
                        "time_to_finality_s": (_i8(f["final_ts"]) - _i8(f["ts"])) / 1e9,
                        "reverted": f["reverted"].astype(bool)})
    out.index = pd.Index(f["fill_id"].to_numpy(), name="fill_id")
    return out


def pending_exposure(res) -> pd.Series:
    """Absolute notional of fills not yet final, as a step series (value in force from each
    index time to the next): a fill counts from its ``ts`` until its ``final_ts`` or, when a
    reorg reverts it, until that reorg.

    Examples
    --------
    >>> pending_exposure(res).max()    # doctest: +SKIP
    29876.0
    """
    _check_result(res, "pending_exposure")
    f = _fills(res)
    if not len(f):
        return pd.Series([], dtype=float, index=pd.DatetimeIndex([], tz="UTC", name="ts"), name="pending_notional")
    notional = np.abs(f["q"].to_numpy() * f["price"].to_numpy())
    end = np.minimum(f["final_ts"].to_numpy(), f["undone_ts"].to_numpy())
    steps = pd.Series(np.concatenate([notional, -notional]), index=np.concatenate([f["ts"].to_numpy(), end]))
    level = steps.groupby(level=0).sum().sort_index().cumsum()
    level = level.where(level.abs() > 1e-9 * notional.sum(), 0.0)  # float residue of +x - x
    out = pd.Series(level.to_numpy(), index=pd.DatetimeIndex(pd.to_datetime(level.index, utc=True), name="ts"),
                    name="pending_notional")
    return out


# ============================================================================ scenario x strategy
def heatmap_table(table: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Scenario (rows) x strategy (columns) values of one metric, averaged over seeds.

    Parameters
    ----------
    table : DataFrame
        Tidy, with columns ``scenario, strategy, metric, value`` (and ``seed``), as
        ``bt.compare(...).table``; or wide, with ``scenario, strategy`` and one column per
        metric; or already pivoted (index scenarios, columns strategies, numbers).
    metric : str
        The metric to show (required for tidy and wide tables).

    Returns
    -------
    DataFrame of floats, scenarios in order of first appearance. ``attrs["metric"]``.

    Examples
    --------
    >>> t = pd.DataFrame({"scenario": ["normal"] * 2, "strategy": ["A", "A"], "seed": [0, 1],
    ...                   "metric": "total_return", "value": [0.1, 0.3]})
    >>> float(heatmap_table(t, "total_return").loc["normal", "A"])
    0.2
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"heatmap_table: expected a DataFrame, got {type(table).__name__}")
    cols = set(table.columns)
    if {"scenario", "strategy"} <= cols:
        if {"metric", "value"} <= cols:
            if metric is None:
                raise ValueError(f"heatmap_table: name a metric, one of {sorted(table['metric'].unique())}")
            rows = table[table["metric"] == metric]
            if not len(rows):
                raise ValueError(f"heatmap_table: no rows of metric {metric!r}; "
                                 f"metrics: {sorted(table['metric'].unique())}")
            values = rows["value"]
        elif metric in cols:
            rows, values = table, table[metric]
        else:
            raise ValueError(f"heatmap_table: expected columns 'metric' and 'value', or a column {metric!r}; "
                             f"got {sorted(map(str, cols))}")
        d = pd.DataFrame({"scenario": rows["scenario"].to_numpy(), "strategy": rows["strategy"].to_numpy(),
                          "value": pd.to_numeric(values, errors="coerce").to_numpy(float)})
        out = d.groupby(["scenario", "strategy"], sort=False)["value"].mean().unstack("strategy")
        out = out.reindex(index=pd.unique(d["scenario"]), columns=pd.unique(d["strategy"]))
    else:
        out = table.apply(pd.to_numeric, errors="coerce")
        if out.isna().all().all():
            raise ValueError("heatmap_table: a pivoted table must hold numbers (scenarios x strategies)")
    out = out.astype(float)
    out.index.name, out.columns.name = "scenario", "strategy"
    out.attrs["metric"] = metric
    return out
