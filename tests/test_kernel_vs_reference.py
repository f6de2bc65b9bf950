"""The numba kernel agrees with the independent pure-Python reference on random inputs.

Hypothesis draws small datasets (trades with ties, oracle or derived oracle, funding with and
without oracle prices, latency traces with outages), market specs, configs, and order/cancel
sequences of every type (``tests/reference/gen.py``). Both engines must produce the same
orders, fills, funding payments, liquidations, ledger and final balances.
"""
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from tests.kernel_adapter import run_kernel
from tests.reference.engine import run_reference
from tests.reference.gen import reference_inputs

TOL = dict(rtol=1e-9, atol=1e-7)


def _assert_frames(kernel: pd.DataFrame, ref: pd.DataFrame, columns, what):
    assert len(kernel) == len(ref), f"{what}: kernel has {len(kernel)} rows, reference {len(ref)}\n" \
                                    f"kernel:\n{kernel[columns]}\nreference:\n{ref[columns]}"
    for c in columns:
        k, r = kernel[c].to_numpy(), ref[c].to_numpy()
        if k.dtype.kind == "f" or r.dtype.kind == "f":
            ok = np.isclose(k.astype(float), r.astype(float), equal_nan=True, **TOL)
        else:
            ok = np.array([a == b or (a is None and b is None) for a, b in zip(k.tolist(), r.tolist())])
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise AssertionError(f"{what}.{c} differs at row {i}: kernel {k[i]!r}, reference {r[i]!r}\n"
                                 f"kernel:\n{kernel.iloc[max(i - 2, 0):i + 3]}\nreference:\n{ref.iloc[max(i - 2, 0):i + 3]}")


def _ledger_totals(ledger: pd.DataFrame) -> pd.Series:
    """Sums per (account, kind) of the trader and insurance accounts (the reference also
    writes counterparty mirror rows, which the kernel keeps as one balance instead)."""
    ledger = ledger[ledger["account"] != "counterparty"]
    ledger = ledger[ledger["amount"] != 0.0]
    if not len(ledger):
        return pd.Series(dtype=float)
    return ledger.groupby(["account", "kind"])["amount"].sum().sort_index()


def compare(inputs):
    ref = run_reference(**inputs)
    ker = run_kernel(**inputs)
    _assert_frames(ker.orders, ref.orders,
                   ["order_id", "market", "side", "size", "type", "sent_ts", "arrive_ts", "status", "reason",
                    "filled_size", "parent_id"], "orders")
    _assert_frames(ker.fills, ref.fills,
                   ["order_id", "ts", "account", "market", "side", "size", "price", "trade_price", "liquidity",
                    "fee", "slippage_cost", "ack_ts", "final_ts", "reverted"], "fills")
    _assert_frames(ker.funding, ref.funding, ["ts", "account", "market", "position", "price", "rate", "payment"],
                   "funding")
    _assert_frames(ker.liquidations, ref.liquidations,
                   ["ts", "account", "market", "size", "oracle_price", "price", "fee", "deficit", "insurance_paid",
                    "socialized"], "liquidations")
    kt, rt = _ledger_totals(ker.ledger), _ledger_totals(ref.ledger)
    assert list(kt.index) == list(rt.index), f"ledger kinds differ:\n{kt}\n{rt}"
    np.testing.assert_allclose(kt.to_numpy(), rt.to_numpy(), **TOL)
    kf, rf = ker.final, ref.final
    np.testing.assert_allclose(kf["trader_equity"], rf["trader_equity"], **TOL)
    for venue, value in rf["insurance"].items():
        np.testing.assert_allclose(kf["insurance"][venue], value, **TOL)
    return ker, ref


@settings(max_examples=150, deadline=None, report_multiple_bugs=False, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(inputs=reference_inputs())
def test_kernel_matches_reference_on_random_inputs(inputs):
    compare(inputs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(inputs=reference_inputs())
def test_kernel_conserves_money(inputs):
    ker = run_kernel(**inputs)
    f = ker.final
    assert f["total"] == pytest.approx(f["initial_total"], rel=1e-9, abs=1e-6)
    # cash moves only through the ledger
    led = ker.ledger
    for account, cash in f["cash"].items():
        start = ker.engine.initial_cash[ker.engine.layout.accounts.index(account)]
        moved = led.loc[led["account"] == account, "amount"].sum()
        assert cash == pytest.approx(start + moved, rel=1e-9, abs=1e-7)
