"""Run the numba kernel on the reference engine's inputs and return the same frames.

The reference (``tests/reference``) takes scheduled order intents; here they become decisions
of the hybrid driver at each distinct send time, so both engines see exactly the same orders.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

import backtester as bt
from backtester.engine import Engine
from backtester.kernel import enums as E
from backtester.prepare import layout_for, prepare
from tests.reference.engine import CancelIntent

_OTYPE = {"market": E.OT_MARKET, "limit": E.OT_LIMIT, "stop_market": E.OT_STOP_MARKET}
# the reference calls every live order "open" (in flight, resting, armed stop)
_REF_STATUS = {"inflight": "open", "armed": "open"}


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
        g = self.engine.records("ledger")
        acc = self._name(self.accounts, g["account"])
        n_trader = len(self.engine.layout.accounts)
        ac_venue = self.engine.inputs.ac_venue
        venue = [self.venues[ac_venue[a]] if a < n_trader else self.venues[a - n_trader] for a in g["account"]]
        return pd.DataFrame({
            "ts": g["ts"], "account": acc, "venue": venue, "kind": [E.LEDGER_NAMES[k] for k in g["kind"]],
            "market": self._name(self.markets, g["market"]), "amount": g["amount"], "ref": g["ref"],
        })

    @property
    def final(self) -> dict:
        from backtester.kernel.accounts_nb import account_state_nb, mark_nb

        eng = self.engine
        st = eng.state
        marks = np.array([mark_nb(st, m) for m in range(len(self.markets))])
        trader = sum(account_state_nb(eng.inputs, st, a)[0] for a in range(len(eng.layout.accounts)))
        cp = st.cp[0] + float(np.nansum(st.cp_pos * np.where(np.isnan(marks), 0.0, marks)))
        return {
            "cash": dict(zip(eng.layout.accounts, st.cash.tolist())),
            "positions": {self.markets[m]: (float(st.pos[m]), float(st.entry[m])) for m in range(len(self.markets))},
            "insurance": dict(zip(self.venues, st.insurance.tolist())),
            "trader_equity": trader,
            "counterparty_equity": cp,
            "total": trader + float(st.insurance.sum()) + cp,
            "initial_total": float(eng.initial_cash.sum() + eng.initial_insurance.sum()),
            "oracle": dict(zip(self.markets, marks.tolist())),
        }


def run_kernel(dataset, markets, config, intents, reorgs=()) -> KernelRun:
    """The kernel's answer to the reference's ``run_reference`` inputs."""
    cfg = sim_config(markets, config)
    lay = layout_for(dataset, cfg)
    order = sorted(range(len(intents)), key=lambda i: (intents[i].sent_ts, i))
    times = sorted({intents[i].sent_ts for i in order})
    inp, _ = prepare(dataset, cfg, lay, decision_ts=np.array(times, np.int64), target_mode=-1,
                     reorgs=[(r.ts, r.venue) for r in reorgs])
    eng = Engine(inp, lay, cfg)
    by_time: dict[int, list] = {}
    for i in order:
        by_time.setdefault(intents[i].sent_ts, []).append(intents[i])
    while eng.step() == E.EXIT_DECISION:
        t = int(inp.dc_ts[eng.decision_index])
        for it in by_time.get(t, []):
            if isinstance(it, CancelIntent):
                if it.order_id < int(eng.state.counters[E.C_ORDERS]):
                    eng.cancel(t, it.order_id)
                continue
            m = lay.markets.index(it.market)
            eng.submit(t, m, int(it.side), float(it.size), _OTYPE[it.type], it.limit_price, it.trigger_price,
                       it.reduce_only, it.post_only, it.ioc)
        eng.next_decision()
    return KernelRun(eng)
