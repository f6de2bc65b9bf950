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
from backtester.driver import is_fast_path
from backtester.engine import Engine
from backtester.kernel import enums as E
from backtester.prepare import Layout, layout_for
from backtester.result import RejectedOrdersWarning
from tests.reference.engine import CancelIntent
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
        sample_every="1h",
    )


class KernelRun:
    """The kernel's records in the reference's column layout."""

    def __init__(self, engine: Engine):
        self.engine = engine
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
            "size": o["size"], "type": [E.ORDER_TYPE_NAMES[t] for t in o["type"]],
            "limit_price": o["limit_price"], "trigger_price": o["trigger_price"],
            "reduce_only": o["reduce_only"], "post_only": o["post_only"], "ioc": o["ioc"],
            "sent_ts": o["sent_ts"], "arrive_ts": o["arrive_ts"],
            "status": [_REF_STATUS.get(E.STATUS_NAMES[s], E.STATUS_NAMES[s]) for s in o["status"]],
            "reason": o["reason"].astype(int),
            "filled_size": o["filled"], "parent_id": o["parent_id"],
        })

    @property
    def fills(self) -> pd.DataFrame:
        f = self.engine.records("fills")
        return pd.DataFrame({
            "fill_id": f["fill_id"], "order_id": f["order_id"], "ts": f["ts"],
            "venue": self._name(self.venues, f["venue"]), "account": self._name(self.accounts, f["account"]),
            "market": self._name(self.markets, f["market"]), "side": f["side"].astype(int), "size": f["size"],
            "price": f["price"], "trade_price": f["trade_price"],
            "liquidity": [E.LIQUIDITY_NAMES[x] for x in f["liquidity"]], "fee": f["fee"],
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
            base = dict(ts=int(r["ts"]), venue=venue, kind=E.LEDGER_NAMES[kind], market=market, ref=int(r["ref"]))
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
        marks = [float(mark_nb(st, m)) for m in range(M)]
        equity = {name: float(account_state_nb(eng.inputs, st, a)[0]) for a, name in enumerate(lay.accounts)}
        trader = sum(equity.values())
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


def layout_with_specs(dataset, cfg: bt.SimConfig, markets) -> Layout:
    """The kernel layout of ``dataset`` widened to every market of the reference's spec list.

    ``layout_for`` takes the markets from the data only; the reference simulates every market
    it is given, so an order for a market with no rows at all is rejected ``NO_PRICE`` there.
    """
    lay = layout_for(dataset, cfg)
    extra = [m.name for m in markets if m.name not in lay.markets]
    if not extra:
        return lay
    names = sorted(set(lay.markets) | set(extra))
    specs = [cfg.market(n) for n in names]
    venues = sorted(set(lay.venues) | {s.venue for s in specs})
    accounts = list(venues) if cfg.margin_mode == "cross" else [f"{s.venue}/{s.name}" for s in specs]
    return Layout(names, venues, accounts, specs, lay.start_ns, lay.end_ns)


def _send_times(intents) -> list[int]:
    """The distinct send times of ``intents``, sorted (the replaying strategy's decisions)."""
    return sorted({int(it.sent_ts) for it in intents})


class ReplayIntents(bt.Strategy):
    """Sends the reference's intents through the public ``Context`` at their send times.

    ``every`` must be the intents' distinct send times (:func:`_send_times`); at each decision
    the intents sent then go out in list order, as the reference processes them (step 8 of
    their ``sent_ts``, ties in list order).

    Parameters
    ----------
    intents : list
        ``OrderIntent`` and ``CancelIntent`` of ``tests/reference``.
    """

    params = dict(intents=())

    def init(self, data):
        self._by_time: dict[int, list] = {}
        for it in self.intents:
            self._by_time.setdefault(int(it.sent_ts), []).append(it)

    def on_decision(self, ctx):
        for it in self._by_time.get(ctx.ts, []):
            if isinstance(it, CancelIntent):
                try:
                    ctx.cancel(it.order_id)
                except KeyError:
                    pass  # an id not assigned yet: the reference ignores the cancel (CHOICES 16)
                continue
            size = float(it.side) * float(it.size)
            if it.type == "limit":
                ctx.submit(it.market, size, limit=float(it.limit_price), reduce_only=it.reduce_only,
                           post_only=it.post_only, ioc=it.ioc)
            elif it.type == "stop_market":
                ctx.submit(it.market, size, stop=float(it.trigger_price), reduce_only=it.reduce_only,
                           post_only=it.post_only, ioc=it.ioc)
            elif it.type == "market":
                ctx.submit(it.market, size, reduce_only=it.reduce_only, post_only=it.post_only, ioc=it.ioc)
            else:
                raise ValueError(f"unknown order type {it.type!r}")


def run_kernel(dataset, markets, config, intents, reorgs=()) -> KernelRun:
    """The kernel's answer to the reference's ``run_reference`` inputs, in hook mode.

    ``bt.run`` drives a :class:`ReplayIntents` strategy: the production hybrid driver, the
    kernel's decision hook and ``Context``, exactly as a user's ``on_decision`` runs.
    """
    cfg = sim_config(markets, config)
    strategy = ReplayIntents(intents=list(intents), every=np.array(_send_times(intents), np.int64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedOrdersWarning)  # rejections are compared, not news
        result = bt.run(strategy, dataset, cfg, reorgs=[(r.ts, r.venue) for r in reorgs])
    assert not is_fast_path(result.engine)
    return KernelRun(result.engine)
