"""What a decision sees and does beyond plain orders: the acknowledged and expected position,
the observed price, targets (docs/simulation.md, "Targets (the fast path and ctx.target_*)")
and collateral transfers ("Transfers").

``DecisionRules`` is a mixin of ``engine.Simulation``: its methods read the simulation's state
(``self.orders``, ``self.fills``, ``self.accounts``, ...) and act through the simulation's own
primitives (``send_market_order``, ``charge_gas``, ``post``, ``schedule_arrival``), so every
rule is written once.
"""
from __future__ import annotations

import math

from .interface import TargetIntent, TransferIntent
from .records import Transfer, sign as _sign

NAN = float("nan")
LIVE = ("open", "partially_filled")
TARGET_KINDS = ("position", "leverage", "notional")


# ============================================================================ the rules
class DecisionRules:
    """Acknowledged/expected position, observed price, targets and transfers."""

    # ------------------------------------------------------------------ what a decision sees
    def acknowledged_position(self, market, t) -> float:
        """The acknowledged position of ``market`` at ``t``: fills with ``ack_ts <= t``.

        "A reverted fill that was already acknowledged (ack_ts <= R) leaves the acknowledged
        position at R; one not yet acknowledged never enters it": a fill reverted at
        ``reverted_ts <= t`` counts nothing.

        CHOICE: liquidation fills count like any fill, from their ack_ts (CHOICE 20)."""
        return sum(f.side * f.size for f in self.fills
                   if f.market == market and f.ack_ts <= t and not self._reverted_by(f, t))

    @staticmethod
    def _reverted_by(f, t) -> bool:
        return f.reverted and f.reverted_ts <= t

    def expected_position(self, market, t) -> float:
        """Targets: X = the acknowledged position plus what unsettled orders still intend to
        trade (in flight, resting or partly filled: the unfilled size; a stop-market nothing
        until it triggers), in the state as it is now. The orders the current decision has
        sent are added at their full size by ``decide_target`` on top of the decision's
        snapshot of this value ("One decision, one state", ``begin_decision``).

        CHOICE: "unfilled" is seen from the strategy: an order's expected total (its size while
        live; what it filled, net of reversals, once filled, cancelled or rejected) minus its
        fills acknowledged by t. So a filled order whose fill is not acknowledged yet still
        counts the unacknowledged part (it is not sent twice), and a rejection or cancellation
        of an order sent at an earlier decision is known at the first decision after it, with
        no acknowledgement latency, like a reversal. The child of a triggered stop is a market
        order and counts; the triggered stop itself does not. A reduce-only order counts its
        full size."""
        x = self.acknowledged_position(market, t)
        for o in self.orders:
            if o.market != market or o.type == "stop_market":
                continue
            total = o.size if o.status in LIVE else o.filled_size
            acked = sum(f.size for f in self.fills
                        if f.order_id == o.order_id and f.ack_ts <= t and not self._reverted_by(f, t))
            x += o.side * (total - acked)
        return x

    def observed_price(self, market, t):
        """Targets: "the observed mark, the oracle price with ts <= d - feed_latency, else the
        last trade by then"; None when there is neither.

        CHOICE: oracle rows sharing the latest timestamp: the last in table order (as in the
        event loop); a derived oracle's updates are stamped ``trade ts + oracle_delay``."""
        cut = t - self.cfg.feed_latency_ns
        seen = [(ts, tie, price) for ts, m, price, tie in self.oracle_updates if m == market and ts <= cut]
        if seen:
            return max(seen)[2]
        prints = [(r["ts"], i, r["price"]) for i, r in enumerate(self.trades)
                  if r["market"] == market and r["ts"] <= cut]
        return max(prints)[2] if prints else None

    # ------------------------------------------------------------------ targets (step 8)
    def begin_decision(self, ts, intents):
        """Targets, "One decision, one state": the intents sent at ``ts`` (orders, cancels,
        targets and transfers, processed at step 8 in list order) are one decision, and
        "everything a decision converts or compares is read from the state at d before any of
        its own sends". Called at step 8 before the first of them is processed: it snapshots
        what the decision's targets read, for the markets they name, so that neither the gas
        and transfers of the decision's earlier sends (the NC a leverage target converts with)
        nor the at-once rejection or zero-latency cancel of an order it sent (X) show before
        the next decision.

        Snapshot: the account NC (at the marks in force at ``ts``), the acknowledged position
        and X as ``expected_position`` computes it now; ``first_order`` is the id of the first
        order the decision sends. The observed price is read at ``ts - feed_latency`` anyway.

        CHOICE: the child of a stop triggered at step 7 of ``ts`` is not one of the decision's
        sends (the client sent it before the decision, step 8): it is in the snapshot like any
        earlier order (its unfilled size; nothing if it was rejected at once at step 7)."""
        markets = {it.market for it in intents if isinstance(it, TargetIntent) and it.market in self.specs}
        accounts = {self.account_of[m] for m in markets}
        self.decision = dict(
            ts=ts, first_order=len(self.orders),
            nc={a: self.equity(self.accounts[a]) for a in accounts},
            acknowledged={m: self.acknowledged_position(m, ts) for m in markets},
            expected={m: self.expected_position(m, ts) for m in markets})

    def decision_expected_position(self, market, ts) -> float:
        """Targets: X at decision ``ts`` = the decision's snapshot (``begin_decision``) "plus
        orders already sent in this decision at their full size", whatever became of them since
        (rejected at once, cancelled by a zero-latency cancel of the same decision: that shows
        at the next decision). A stop sent in this decision counts nothing (it triggers at a
        later step 7 at the earliest)."""
        snap = self.decision
        assert snap["ts"] == ts
        sent_here = sum(o.side * o.size for o in self.orders[snap["first_order"]:]
                        if o.market == market and o.type != "stop_market")
        return snap["expected"][market] + sent_here

    def decide_target(self, ts, it: TargetIntent):
        """Targets: at most one market order of ``|T - X|`` sent at ``ts``, outside the band
        ``|delta| * p <= max(min_trade_notional, rebalance_band * |T| * p)``. ``X`` and the
        ``NC`` of a leverage target come from the state before the decision's own sends
        (``begin_decision``), plus, for ``X``, the orders the decision already sent.

        Every target is recorded (``RefResult.targets``) with the acknowledged and expected
        positions it saw, the price, the converted target and the order it sent (-1: none)."""
        if it.market not in self.specs:
            raise ValueError(f"target for unknown market {it.market!r}")
        if it.kind not in TARGET_KINDS:
            raise ValueError(f"target kind must be one of {TARGET_KINDS}, got {it.kind!r}")
        value = float(it.value)
        if math.isinf(value):
            # CHOICE: an infinite target is an error (NaN is the documented "no order").
            raise ValueError(f"target value must be finite or NaN, got {value!r}")
        row = dict(ts=ts, market=it.market, kind=it.kind, value=value,
                   acknowledged=self.decision["acknowledged"][it.market],
                   expected=self.decision_expected_position(it.market, ts), price=NAN, target=NAN,
                   delta=NAN, order_id=-1)
        self.target_rows.append(row)
        p = self.observed_price(it.market, ts)
        if p is None:
            return                              # no price yet: no order
        row["price"] = p
        if math.isnan(value):
            return                              # a NaN target: no order at this decision
        if it.kind == "position":
            T = value
        elif it.kind == "notional":
            T = value / p
        else:
            # "NC the market's account net collateral at d (at the marks in force at d, ...,
            # before the decision's own sends)"
            nc = self.decision["nc"][self.account_of[it.market]]
            T = value * max(nc, 0.0) / p
        delta = T - row["expected"]
        row["target"], row["delta"] = T, delta
        band = max(self.cfg.min_trade_notional, self.cfg.rebalance_band * abs(T) * p)
        if abs(delta) * p <= band:
            return
        row["order_id"] = self.send_market_order(ts, it.market, _sign(delta), abs(delta))

    # ------------------------------------------------------------------ transfers (step 8)
    def pending_gains(self, acct_name, t) -> float:
        """G = sum over the account's fills with final_ts > t (not reverted) of
        max(realized_pnl - fee, 0).

        CHOICE: liquidation fills are fills of the account and count like the others (their
        realized PnL is rarely a gain)."""
        return sum(max(f.realized_pnl - f.fee, 0.0) for f in self.fills
                   if f.account == acct_name and f.final_ts > t and not self._reverted_by(f, t))

    def withdrawable(self, acct_name, t) -> float:
        """W = max(min(NC - IMR, Q - G), 0) of an account at ``t`` (marks in force at t)."""
        acct = self.accounts[acct_name]
        free = self.equity(acct) - self.requirement(acct, "imf")
        return max(min(free, acct.cash - self.pending_gains(acct_name, t)), 0.0)

    def send_transfer(self, ts, it: TransferIntent):
        """Transfers: rejected (nothing moves, no gas) when amount > W; otherwise the amount
        leaves the source's Q now (ledger ``transfer``, negative) and reaches the destination
        at once within a venue, ``bridge_delay`` later between venues.

        "An accepted transfer is an on-chain action like a submit: it pays the source venue's
        gas_fee in force at t (ledger gas, no market, the transfer's id as reference), on top of
        the amount and after the check against W" (docs/simulation.md, "Transfers").

        CHOICE: W is the state at step 8 of ``ts`` as it is when the transfer is sent: unlike a
        target's NC it sees the gas and transfers of the same decision's earlier sends, so the
        transfers of one decision never move more than the source has. The bridge delay is not
        scaled by ``latency_scale``. Transfers are not subject to downtime. Unknown accounts,
        source == destination and a non-finite or non-positive amount raise ``ValueError``."""
        if it.source not in self.accounts or it.destination not in self.accounts:
            raise ValueError(f"transfer between unknown accounts {it.source!r} -> {it.destination!r}; "
                             f"accounts are {list(self.accounts)}")
        if it.source == it.destination:
            raise ValueError(f"transfer from {it.source!r} to itself")
        amount = float(it.amount)
        if not (math.isfinite(amount) and amount > 0.0):
            raise ValueError(f"transfer amount must be finite and > 0, got {it.amount!r}")
        src, dst = self.accounts[it.source], self.accounts[it.destination]
        w = self.withdrawable(src.name, ts)
        # CHOICE: transfer ids 0, 1, 2, ... in send order (rejected ones included), a counter of
        # their own (not order ids).
        tr = Transfer(len(self.transfers), src.name, dst.name, "in_transit", amount, w, ts, ts)
        self.transfers.append(tr)
        if amount > w:
            # CHOICE: a rejected transfer's arrive_ts is its sent_ts.
            tr.status = "rejected"
            return
        # Transfers: gas of the source venue at ts, after the check against W, on top of the
        # amount; ledger ``gas`` (mirrored on the counterparty like every gas row), market "",
        # ref = transfer id.
        self.charge_gas(ts, src, src.venue, "", tr.transfer_id)
        # CHOICE: the two ``transfer`` rows (source -amount at sent_ts, destination +amount at
        # arrive_ts; market "", ref = transfer id) have no counterparty mirror: the money stays
        # the trader's (it nets to zero over the pair).
        src.cash -= amount
        self.in_transit += amount
        self.post(ts, src.name, src.venue, "transfer", "", -amount, tr.transfer_id)
        if src.venue != dst.venue:
            tr.arrive_ts = ts + int(self.cfg.bridge_delay_ns)
        # CHOICE: the arrival is processed at step 4 of arrive_ts, with the orders and cancels
        # arriving then, in send order (at once when it arrives now, after step 4). Like an
        # order's, the arrival is an event of its own, also after the last input event, so an
        # accepted transfer ends ``arrived``; no margin check follows a transfer.
        self.schedule_arrival("transfer", tr.arrive_ts, tr)

    def arrive_transfer(self, tr: Transfer):
        """The amount reaches the destination's Q (ledger ``transfer``, positive)."""
        dst = self.accounts[tr.dst]
        self.in_transit -= tr.amount
        dst.cash += tr.amount
        tr.status = "arrived"
        self.post(tr.arrive_ts, dst.name, dst.venue, "transfer", "", tr.amount, tr.transfer_id)
