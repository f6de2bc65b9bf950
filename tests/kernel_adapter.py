"""Run the numba kernel on the reference engine's inputs and return the same frames.

The reference (``tests/reference``) takes scheduled intents; here they are sent by the paths
users run:

* hook mode (:func:`run_kernel`): ``bt.run`` with a strategy that decides exactly at the
  intents' distinct send times (``every`` = those times) and, in ``on_decision``, sends that
  time's intents in list order through the public :class:`~backtester.context.Context`
  (``ctx.submit``, ``ctx.cancel``);
* the fast path (:func:`run_fast_path`): when every intent is a target, a plan-only strategy
  whose ``init`` calls ``set_targets`` on those times, run in one kernel call.

Both return a :class:`KernelRun`: the kernel's records in the reference's column layout.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

import backtester as bt
from backtester.driver import NoDecisionsWarning, is_fast_path
from backtester.engine import Engine
from backtester.kernel import enums as E
from backtester.records import decode_codes
from backtester.result import RejectedOrdersWarning
from tests.reference.records import ACCOUNT_CP

# the reference calls every live order "open" (in flight, resting, armed stop)
_REF_STATUS = {"inflight": "open", "armed": "open"}
# trader cash movements the reference mirrors on the counterparty book (CHOICES.md 24); the
# liquidation fee and the insurance payout are mirrored on ``insurance:<venue>``, which the
# kernel writes itself
_CP_MIRRORED = {E.LG_FEE, E.LG_GAS, E.LG_FUNDING, E.LG_REALIZED, E.LG_REORG, E.LG_SOCIALIZED}


def sim_config(markets, config) -> bt.SimConfig:
    slip = config.slippage_multiplier
    if isinstance(slip, (list, tuple)):
        slip = pd.Series([v for _, v in slip], index=pd.to_datetime([t for t, _ in slip], utc=True))
    return bt.SimConfig(
        initial_cash=dict(config.initial_cash), insurance_fund=dict(config.insurance_fund),
        markets={m.name: bt.Market(name=m.name, venue=m.venue, imf=m.imf, mmf=m.mmf, taker_fee=m.taker_fee,
                                   maker_fee=m.maker_fee, half_spread=m.half_spread, impact=m.impact,
                                   liq_fee=m.liq_fee) for m in markets},
        margin_mode=config.margin_mode, latency_scale=config.latency_scale,
        feed_latency=pd.Timedelta(config.feed_latency_ns, "ns"), slippage_multiplier=slip,
        downtime_policy=config.downtime_policy, impact_window=pd.Timedelta(config.impact_window_ns, "ns"),
        liq_spread=config.liq_spread, oracle_delay=pd.Timedelta(config.oracle_delay_ns, "ns"),
        bridge_delay=pd.Timedelta(config.bridge_delay_ns, "ns"), rebalance_band=config.rebalance_band,
        min_trade_notional=config.min_trade_notional, sample_every="1h",
        book=getattr(config, "book", True), queue_model=getattr(config, "queue_model", "conservative"),
        queue_power=getattr(config, "queue_power", 2.0),
    )


class KernelRun:
    """The kernel's records in the reference's column layout.

    Parameters
    ----------
    engine : Engine
        The engine of the finished run (``Result.engine``).
    targets : pandas.DataFrame, optional
        What each target saw and did, as ``ReplayIntents`` recorded it through ``Context``
        (hook mode only: the fast path trades its targets inside the kernel and records none).
    """

    def __init__(self, engine: Engine, targets: pd.DataFrame | None = None):
        self.engine = engine
        self._targets = targets
        lay = engine.layout
        self.markets = lay.markets
        self.venues = lay.venues
        self.accounts = lay.accounts + [f"insurance:{v}" for v in lay.venues]

    def _name(self, names, codes):
        return [names[c] if c >= 0 else None for c in codes]

    @property
    def orders(self) -> pd.DataFrame:
        o = self.engine.records("orders")
        return pd.DataFrame({
            "order_id": o["order_id"], "venue": self._name(self.venues, o["venue"]),
            "market": self._name(self.markets, o["market"]), "side": o["side"].astype(int),
            "size": o["size"], "type": decode_codes("orders", "type", o["type"]),
            "limit_price": o["limit_price"], "trigger_price": o["trigger_price"],
            "reduce_only": o["reduce_only"], "post_only": o["post_only"], "ioc": o["ioc"],
            "sent_ts": o["sent_ts"], "arrive_ts": o["arrive_ts"],
            "status": [_REF_STATUS.get(s, s) for s in decode_codes("orders", "status", o["status"])],
            "reason": o["reason"].astype(int),
            "filled_size": o["filled"], "parent_id": o["parent_id"], "queue_ahead": o["queue_ahead"],
        })

    @property
    def fills(self) -> pd.DataFrame:
        f = self.engine.records("fills")
        return pd.DataFrame({
            "fill_id": f["fill_id"], "order_id": f["order_id"], "ts": f["ts"],
            "venue": self._name(self.venues, f["venue"]), "account": self._name(self.accounts, f["account"]),
            "market": self._name(self.markets, f["market"]), "side": f["side"].astype(int), "size": f["size"],
            "price": f["price"], "trade_price": f["trade_price"],
            "liquidity": decode_codes("fills", "liquidity", f["liquidity"]), "fee": f["fee"],
            "slippage_cost": f["slippage_cost"], "ack_ts": f["ack_ts"], "final_ts": f["final_ts"],
            "reverted": f["reverted"],
        })

    @property
    def funding(self) -> pd.DataFrame:
        f = self.engine.records("funding")
        return pd.DataFrame({
            "ts": f["ts"], "account": self._name(self.accounts, f["account"]),
            "venue": self._name(self.venues, f["venue"]), "market": self._name(self.markets, f["market"]),
            "position": f["position"], "price": f["price"], "rate": f["rate"], "payment": f["payment"],
        })

    @property
    def liquidations(self) -> pd.DataFrame:
        r = self.engine.records("liquidations")
        return pd.DataFrame({
            "ts": r["ts"], "account": self._name(self.accounts, r["account"]),
            "venue": self._name(self.venues, r["venue"]), "market": self._name(self.markets, r["market"]),
            **{c: r[c] for c in ("size", "oracle_price", "price", "fee", "deficit", "insurance_paid", "socialized")},
        })

    @property
    def transfers(self) -> pd.DataFrame:
        """Transfers in the reference's layout; a rejected transfer's ``arrive_ts`` is its
        ``sent_ts`` there (the kernel writes ``NO_TS``: it never arrives)."""
        r = self.engine.records("transfers")
        accounts = self.engine.layout.accounts
        rejected = r["status"] == E.TR_REJECTED
        return pd.DataFrame({
            "transfer_id": r["transfer_id"], "src": [accounts[a] for a in r["src"]],
            "dst": [accounts[a] for a in r["dst"]],
            "status": [E.TRANSFER_STATUS_NAMES[x] for x in r["status"]], "amount": r["amount"],
            "withdrawable": r["withdrawable"], "sent_ts": r["sent_ts"],
            "arrive_ts": np.where(rejected, r["sent_ts"], r["arrive_ts"]),
        })

    @property
    def targets(self) -> pd.DataFrame:
        """Per target: ``ts, market, kind, value, acknowledged, expected, price, target,
        delta, order_id`` as the strategy saw them through ``Context`` (hook mode)."""
        if self._targets is None:
            raise AttributeError("no target records: the fast path trades targets inside the kernel")
        return self._targets

    @property
    def ledger(self) -> pd.DataFrame:
        """The kernel's ledger plus the counterparty mirror rows the reference writes.

        The kernel keeps the counterparty as one cash balance without ledger rows; every
        trader-side fee, gas, funding, realized PnL, reorg reversal and socialized-loss row
        gets a ``counterparty`` row of the opposite amount right after it, as in the reference
        (whose counterparty realizes exactly the negative of the trader's PnL: its position is
        the mirror image, with the same average entry). Account-level rows (market code -1)
        have market ``""`` as in the reference. ``ref`` is the kernel's own (order id for fee,
        realized PnL and reorg rows, -1 for liquidation rows), not the reference's fill id /
        liquidation counter.
        """
        g = self.engine.records("ledger")
        n_trader = len(self.engine.layout.accounts)
        ac_venue = self.engine.inputs.ac_venue
        rows = []
        for r in g:
            a, kind = int(r["account"]), int(r["kind"])
            venue = self.venues[ac_venue[a]] if a < n_trader else self.venues[a - n_trader]
            market = self.markets[r["market"]] if r["market"] >= 0 else ""
            base = dict(ts=int(r["ts"]), venue=venue, kind=E.RECORD_CODES["ledger"]["kind"][kind], market=market, ref=int(r["ref"]))
            rows.append(dict(base, account=self.accounts[a], amount=float(r["amount"])))
            if a < n_trader and kind in _CP_MIRRORED:
                rows.append(dict(base, account=ACCOUNT_CP, amount=-float(r["amount"])))
        cols = ["ts", "account", "venue", "kind", "market", "amount", "ref"]
        df = pd.DataFrame(rows, columns=cols)
        return df.astype({"ts": "int64", "amount": "float64", "ref": "int64"})

    @property
    def final(self) -> dict:
        """The reference's ``Simulation.final_state()`` structure, from the kernel state.

        The counterparty book of the kernel is in cash-flow form (cash = what it received,
        position = minus the trader's); the reference books it like a trader (average entry,
        realized PnL in cash). Each market has exactly one trader account, so the
        counterparty's position is ``-S`` with the trader's entry ``E`` (average entry is
        symmetric under negation) and its entry-price cash is ``cash_flow + sum(-S * E)``; its equity is the same in both forms. The kernel has no
        per-timestamp audit: ``max_conservation_error`` is ``|total - initial_total|`` at the end.
        """
        from backtester.kernel.accounts_nb import account_state_nb, mark_nb

        eng = self.engine
        st = eng.state
        lay = eng.layout
        mk_account = eng.inputs.mk_account
        M = len(self.markets)
        marks = [float(mark_nb(eng.refs()[1], m)) for m in range(M)]
        equity = {name: float(account_state_nb(*eng.refs(), a)[0]) for a, name in enumerate(lay.accounts)}
        trader = sum(equity.values()) + float(st.transit[0])  # collateral on a bridge is the trader's
        cp_size = [float(st.cp_pos[m]) + 0.0 for m in range(M)]  # + 0.0: no -0.0 when flat
        cp_entry = [float(st.entry[m]) if cp_size[m] != 0.0 else 0.0 for m in range(M)]
        cp_cash = float(st.cp[0]) + sum(cp_size[m] * cp_entry[m] for m in range(M) if cp_size[m] != 0.0)
        cp_equity = float(st.cp[0]) + sum(cp_size[m] * marks[m] for m in range(M) if cp_size[m] != 0.0)
        insurance = dict(zip(self.venues, st.insurance.tolist()))
        initial_total = float(eng.initial_cash.sum() + eng.initial_insurance.sum())
        total = trader + sum(insurance.values()) + cp_equity
        return {
            "cash": dict(zip(lay.accounts, st.cash.tolist())),
            "positions": {(lay.accounts[mk_account[m]], self.markets[m]):
                          {"size": float(st.pos[m]), "entry_price": float(st.entry[m])} for m in range(M)},
            "equity": equity,
            "insurance": insurance,
            "counterparty_cash": cp_cash,
            "counterparty_positions": {self.markets[m]: {"size": cp_size[m], "entry_price": cp_entry[m]}
                                       for m in range(M)},
            "counterparty_equity": cp_equity,
            "trader_equity": trader,
            "oracle": dict(zip(self.markets, marks)),
            "initial_total": initial_total,
            "total": total,
            "max_conservation_error": abs(total - initial_total),
        }


def _kind(intent) -> str:
    """The intent's class name: pytest imports ``tests/reference`` as the package ``reference``
    for its own tests and as ``tests.reference`` here, so the classes differ by identity."""
    return type(intent).__name__


def _send_times(intents) -> list[int]:
    """The distinct send times of ``intents``, sorted (the replaying strategy's decisions)."""
    return sorted({int(it.sent_ts) for it in intents})


TARGET_COLUMNS = ["ts", "market", "kind", "value", "acknowledged", "expected", "price", "target",
                  "delta", "order_id"]


class ReplayIntents(bt.Strategy):
    """Sends the reference's intents through the public ``Context`` at their send times.

    ``every`` must be the intents' distinct send times (:func:`_send_times`); at each decision
    the intents sent then go out in list order, as the reference processes them (step 8 of
    their ``sent_ts``, ties in list order): orders through ``ctx.submit``, cancels through
    ``ctx.cancel``, targets through ``ctx.target_position / target_leverage /
    target_notional`` and transfers through ``ctx.transfer``.

    Parameters
    ----------
    intents : list
        ``OrderIntent``, ``CancelIntent``, ``TargetIntent`` and ``TransferIntent`` of
        ``tests/reference``.
    """

    params = dict(intents=())

    def init(self, data):
        self.target_rows: list[dict] = []
        self._by_time: dict[int, list] = {}
        for it in self.intents:
            self._by_time.setdefault(int(it.sent_ts), []).append(it)

    def on_decision(self, ctx):
        for it in self._by_time.get(ctx.ts, []):
            kind = _kind(it)
            if kind == "CancelIntent":
                try:
                    ctx.cancel(it.order_id)
                except KeyError:
                    pass  # an id not assigned yet: the reference ignores the cancel (CHOICES 16)
            elif kind == "TargetIntent":
                self._target(ctx, it)
            elif kind == "TransferIntent":
                ctx.transfer(it.amount, it.source, it.destination)
            elif kind == "OrderIntent":
                self._order(ctx, it)
            else:
                raise TypeError(f"unknown intent {it!r}")

    @staticmethod
    def _order(ctx, it):
        size = float(it.side) * float(it.size)
        flags = dict(reduce_only=it.reduce_only, post_only=it.post_only, ioc=it.ioc)
        if it.type == "limit":
            ctx.submit(it.market, size, limit=float(it.limit_price), **flags)
        elif it.type == "stop_market":
            ctx.submit(it.market, size, stop=float(it.trigger_price), **flags)
        elif it.type == "market":
            ctx.submit(it.market, size, **flags)
        else:
            raise ValueError(f"unknown order type {it.type!r}")

    def _target(self, ctx, it):
        """``ctx.target_<kind>`` and a record of what it saw (the reference's ``targets`` row;
        ``target`` and ``delta`` are recomputed here from what ``Context`` shows)."""
        value = float(it.value)
        row = dict(ts=ctx.ts, market=it.market, kind=it.kind, value=value,
                   acknowledged=ctx.position(it.market), expected=ctx.expected_position(it.market),
                   price=ctx.mark(it.market), target=np.nan, delta=np.nan)
        send = {"position": ctx.target_position, "leverage": ctx.target_leverage,
                "notional": ctx.target_notional}[it.kind]
        oid = send(it.market, value)
        p = row["price"]
        if np.isfinite(p) and not np.isnan(value):
            row["target"] = {"position": value, "notional": value / p,
                             "leverage": value * max(ctx.equity(it.market), 0.0) / p}[it.kind]
            row["delta"] = row["target"] - row["expected"]
        row["order_id"] = -1 if oid is None else int(oid)
        self.target_rows.append(row)


def _quiet_run(strategy, dataset, cfg, reorgs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedOrdersWarning)  # rejections are compared, not news
        warnings.simplefilter("ignore", NoDecisionsWarning)  # no intents, or all outside the data
        return bt.run(strategy, dataset, cfg, reorgs=[(r.ts, r.venue) for r in reorgs])


def run_kernel(dataset, markets, config, intents, reorgs=(), *, book: bool = True) -> KernelRun:
    """The kernel's answer to the reference's ``run_reference`` inputs, in hook mode.

    ``bt.run`` drives a :class:`ReplayIntents` strategy: the production hybrid driver, the
    kernel's decision hook and ``Context``, exactly as a user's ``on_decision`` runs.
    ``book=False`` runs with ``SimConfig(book=False)`` (the trade-tape rules everywhere).
    """
    strategy = ReplayIntents(intents=list(intents), every=np.array(_send_times(intents), np.int64))
    cfg = sim_config(markets, config)
    result = _quiet_run(strategy, dataset, cfg if book else cfg.with_(book=False), reorgs)
    assert not is_fast_path(result.engine), "ReplayIntents must run in hook mode"
    return KernelRun(result.engine, pd.DataFrame(strategy.target_rows, columns=TARGET_COLUMNS))


class PlanTargets(bt.Strategy):
    """A plan-only strategy: ``set_targets`` for each market in ``init``, no ``on_decision``.

    Parameters
    ----------
    plan : dict
        Market -> one target per decision time (NaN: no order).
    kind : {'position', 'leverage', 'notional'}
    """

    params = dict(plan=None, kind="position")

    def init(self, data):
        for market, values in self.plan.items():
            self.set_targets(market, values, self.kind)


def target_plan(intents, market_names):
    """``(times, kind, {market: values})`` when ``intents`` can be a fast-path plan, else None.

    A plan has one kind, at most one target per (time, market), and at each time its targets
    in the kernel's market order (``market_names``: the layout's), which is the order the
    fast path trades them in and the reference processes them in (list order).
    """
    if not intents or not all(_kind(it) == "TargetIntent" for it in intents):
        return None
    if len({it.kind for it in intents}) != 1:
        return None
    times = _send_times(intents)
    ordered = sorted(intents, key=lambda it: (it.sent_ts, market_names.index(it.market)))
    if any(a is not b for a, b in zip(ordered, intents)):
        return None
    if len({(it.sent_ts, it.market) for it in intents}) != len(intents):
        return None
    row = {t: i for i, t in enumerate(times)}
    plan = {m: np.full(len(times), np.nan) for m in sorted({it.market for it in intents})}
    for it in intents:
        plan[it.market][row[int(it.sent_ts)]] = float(it.value)
    return times, intents[0].kind, plan


def run_fast_path(dataset, markets, config, intents, reorgs=()) -> KernelRun:
    """The kernel's answer on the fast path: the targets as a :class:`PlanTargets` plan run by
    ``bt.run`` in one kernel call (``apply_targets_nb``); asserts it really took the fast path.

    Raises
    ------
    ValueError
        When the intents are not a plan (see :func:`target_plan`).
    """
    cfg = sim_config(markets, config)
    plan = target_plan(list(intents), sorted(m.name for m in markets))
    if plan is None:
        raise ValueError("the intents are not a fast-path plan (targets only, one kind, one per "
                         "time and market, in market order)")
    times, kind, values = plan
    strategy = PlanTargets(plan=values, kind=kind, every=np.array(times, np.int64))
    result = _quiet_run(strategy, dataset, cfg, reorgs)
    assert is_fast_path(result.engine), "PlanTargets must take the fast path"
    return KernelRun(result.engine)


# ============================================================================ comparing answers
TOL = dict(rtol=1e-9, atol=1e-7)

ORDER_COLUMNS = ["order_id", "market", "side", "size", "type", "sent_ts", "arrive_ts", "status", "reason",
                 "filled_size", "parent_id", "queue_ahead"]
FILL_COLUMNS = ["order_id", "ts", "account", "market", "side", "size", "price", "trade_price", "liquidity",
                "fee", "slippage_cost", "ack_ts", "final_ts", "reverted"]
FUNDING_COLUMNS = ["ts", "account", "market", "position", "price", "rate", "payment"]
LIQUIDATION_COLUMNS = ["ts", "account", "market", "size", "oracle_price", "price", "fee", "deficit",
                       "insurance_paid", "socialized"]
TRANSFER_COMPARED = ["transfer_id", "src", "dst", "status", "amount", "withdrawable", "sent_ts", "arrive_ts"]
TARGET_COMPARED = ["ts", "market", "kind", "acknowledged", "expected", "price", "target", "delta", "order_id"]


def assert_frames(kernel: pd.DataFrame, ref: pd.DataFrame, columns, what: str) -> None:
    """Same rows, and per column the same values (floats to ``TOL``, NaN equal to NaN)."""
    assert len(kernel) == len(ref), f"{what}: kernel has {len(kernel)} rows, reference {len(ref)}\n" \
                                    f"kernel:\n{kernel[columns]}\nreference:\n{ref[columns]}"
    for c in columns:
        k, r = kernel[c].to_numpy(), ref[c].to_numpy()
        if k.dtype.kind == "f" or r.dtype.kind == "f":
            ok = np.isclose(k.astype(float), r.astype(float), equal_nan=True, **TOL)
        else:
            ok = np.array([a == b or (a is None and b is None) for a, b in zip(k.tolist(), r.tolist())], bool)
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise AssertionError(f"{what}.{c} differs at row {i}: kernel {k[i]!r}, reference {r[i]!r}\n"
                                 f"kernel:\n{kernel.iloc[max(i - 2, 0):i + 3]}\n"
                                 f"reference:\n{ref.iloc[max(i - 2, 0):i + 3]}")


def ledger_totals(ledger: pd.DataFrame) -> pd.Series:
    """Sums per (account, kind) of the trader and insurance accounts (the reference also
    writes counterparty mirror rows, which the kernel keeps as one balance instead); rows
    under 1e-12 are dust (the funding of a +-1e-16 position, see ``_without_dust``)."""
    ledger = ledger[(ledger["account"] != ACCOUNT_CP) & (ledger["amount"].abs() > 1e-12)]
    if not len(ledger):
        return pd.Series(dtype=float)
    return ledger.groupby(["account", "kind"])["amount"].sum().sort_index()


def _without_dust(funding: pd.DataFrame) -> pd.DataFrame:
    """Funding rows of real positions: a position closed by a target can be left at +-1e-16
    in one engine and exactly 0 in the other (the expected position is a float sum taken in
    another order), and only a non-zero position gets a funding row."""
    return funding[(funding["position"] * funding["price"]).abs() > 1e-9].reset_index(drop=True)


def _real_fills(fills: pd.DataFrame) -> pd.DataFrame:
    """Fills worth more than 1e-9 quote: the kernel keeps an order's rest as ``size - filled``
    and can fill a rest of ~1e-16 left by float subtraction as one more maker fill, where the
    reference completes the order (it tracks the remaining size apart)."""
    return fills[(fills["size"] * fills["price"]).abs() > 1e-9].reset_index(drop=True)


def assert_same_answer(kernel, ref, targets: bool = False) -> None:
    """``kernel`` (a :class:`KernelRun`) gives ``ref``'s answer (a reference ``RefResult`` or
    another ``KernelRun``): orders, fills, funding, liquidations, transfers, ledger totals per
    (account, kind), trader equity and insurance funds; with ``targets``, also what each target
    saw and sent (both must have target records)."""
    assert_frames(kernel.orders, ref.orders, ORDER_COLUMNS, "orders")
    assert_frames(_real_fills(kernel.fills), _real_fills(ref.fills), FILL_COLUMNS, "fills")
    assert_frames(_without_dust(kernel.funding), _without_dust(ref.funding), FUNDING_COLUMNS, "funding")
    assert_frames(kernel.liquidations, ref.liquidations, LIQUIDATION_COLUMNS, "liquidations")
    assert_frames(kernel.transfers, ref.transfers, TRANSFER_COMPARED, "transfers")
    if targets:
        assert_frames(kernel.targets, ref.targets, TARGET_COMPARED, "targets")
    kt, rt = ledger_totals(kernel.ledger), ledger_totals(ref.ledger)
    assert list(kt.index) == list(rt.index), f"ledger kinds differ:\n{kt}\n{rt}"
    np.testing.assert_allclose(kt.to_numpy(), rt.to_numpy(), **TOL)
    kf, rf = kernel.final, ref.final
    np.testing.assert_allclose(kf["trader_equity"], rf["trader_equity"], **TOL)
    for venue, value in rf["insurance"].items():
        np.testing.assert_allclose(kf["insurance"][venue], value, **TOL)


def assert_same_final_and_ledger(kernel, ref) -> None:
    """The adapter's ``final`` dict (cash, positions, equity, insurance, counterparty book,
    marks, totals) equals the reference's key for key, and so do the ledger's totals per
    (account, kind) with the counterparty mirror rows, and its number of rows."""

    def same(k, r, path):
        if isinstance(r, dict):
            assert isinstance(k, dict) and set(k) == set(r), f"{path}: keys {sorted(k)} != {sorted(r)}"
            for key in r:
                same(k[key], r[key], f"{path}[{key!r}]")
        else:
            assert np.isclose(k, r, rtol=1e-9, atol=1e-7, equal_nan=True), f"{path}: kernel {k!r}, reference {r!r}"

    final_ker, final_ref = dict(kernel.final), dict(ref.final)
    # the reference audits after every timestamp, the kernel only at the end: both ~0
    assert final_ker.pop("max_conservation_error") < 1e-9
    assert final_ref.pop("max_conservation_error") < 1e-9
    same(final_ker, final_ref, "final")
    totals = [led.groupby(["account", "kind"])["amount"].sum().sort_index() for led in (kernel.ledger, ref.ledger)]
    assert list(totals[0].index) == list(totals[1].index), f"ledger rows differ:\n{totals[0]}\n{totals[1]}"
    np.testing.assert_allclose(totals[0].to_numpy(), totals[1].to_numpy(), rtol=1e-9, atol=1e-9)
    assert len(kernel.ledger) == len(ref.ledger)


# ============================================================================ known answers
#: the engines every known-answer test of tests/reference/test_reference.py runs on (the
#: ``run_engine`` fixture of tests/conftest.py)
ENGINES = ("reference", "kernel")

#: pytest name of a known-answer test's kernel run -> why the kernel's answer differs; it runs
#: as ``xfail(strict=True)``, so it must keep failing until the difference is settled
KNOWN_DIFFERENCES: dict[str, str] = {
}


def kernel_answer(dataset, markets, config, intents, reorgs=(), *, reference=None) -> KernelRun:
    """The kernel's answer for the known-answer tests: hook mode (:func:`run_kernel`), whose
    final state and ledger must equal the reference's key for key, and which must equal the
    fast path's (:func:`run_fast_path`) when the intents are a plan of targets.

    ``reference`` is the ``run_reference`` of the module the intents' classes come from
    (default: ``tests.reference.engine``'s).
    """
    if reference is None:
        from tests.reference.engine import run_reference as reference

    hook = run_kernel(dataset, markets, config, intents, reorgs=reorgs)
    assert_same_final_and_ledger(hook, reference(dataset, markets, config, intents, reorgs=reorgs))
    if target_plan(list(intents), sorted(m.name for m in markets)) is not None:
        assert_same_answer(run_fast_path(dataset, markets, config, intents, reorgs=reorgs), hook)
    return hook
