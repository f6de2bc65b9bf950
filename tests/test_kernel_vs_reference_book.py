"""The kernel agrees with the reference engine on random order-book data (docs/simulation.md,
"Order book"), on the paths users run: hook mode (orders, cancels, targets and transfers sent
through ``Context``) and the fast path (plans of targets). Inputs are drawn by
``tests/reference/gen_book.py``: book-top or level rows around the trades, snapshots and
updates, stress multipliers, both queue models, and orders aimed at the book.

Also on the kernel alone: money is conserved, and ``SimConfig(book=False)`` is the run on the
same data without its book tables, to the byte.
"""
import dataclasses

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.kernel_adapter import assert_same_answer, run_fast_path, run_kernel, target_plan
from tests.reference.engine import TargetIntent, run_reference
from tests.reference.gen import book_inputs

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def compare(inputs, targets=False):
    ref = run_reference(**inputs)
    ker = run_kernel(**inputs)
    try:
        assert_same_answer(ker, ref, targets=targets)
    except AssertionError:
        import os
        import pickle
        if os.environ.get("BOOK_DUMP"):
            with open(os.environ["BOOK_DUMP"], "wb") as f:
                pickle.dump(inputs, f)
        raise
    return ker, ref


@settings(max_examples=200, report_multiple_bugs=False, **SETTINGS)
@given(inputs=book_inputs())
def test_hook_mode_matches_reference_on_random_books_and_orders(inputs):
    compare(inputs)


@settings(max_examples=120, report_multiple_bugs=False, **SETTINGS)
@given(inputs=book_inputs(targets=True, transfers=True))
def test_hook_mode_matches_reference_on_books_with_targets_and_transfers(inputs):
    compare(inputs, targets=True)


@st.composite
def book_plans(draw):
    """Book inputs whose intents are all targets: a plan the fast path runs in one call."""
    inputs = draw(book_inputs(targets=True))
    intents = [i for i in inputs["intents"] if isinstance(i, TargetIntent)]
    return {**inputs, "intents": intents}


@settings(max_examples=120, report_multiple_bugs=False, **SETTINGS)
@given(inputs=book_plans())
def test_fast_path_and_hook_mode_match_reference_on_books(inputs):
    if target_plan(inputs["intents"], sorted(m.name for m in inputs["markets"])) is None:
        return  # not a plan the fast path takes (e.g. no targets drawn)
    ref = run_reference(**inputs)
    fast = run_fast_path(**inputs)
    assert_same_answer(fast, ref)
    assert_same_answer(run_kernel(**inputs), ref, targets=True)


@settings(max_examples=60, **SETTINGS)
@given(inputs=book_inputs())
def test_kernel_conserves_money_with_books(inputs):
    ker = run_kernel(**inputs)
    f = ker.final
    assert f["total"] == pytest.approx(f["initial_total"], rel=1e-9, abs=1e-6)


@settings(max_examples=60, **SETTINGS)
@given(inputs=book_inputs())
def test_book_false_is_the_same_data_without_its_book_to_the_byte(inputs):
    off = run_kernel(**inputs, book=False)
    bare = dataclasses.replace(inputs["dataset"], book=None, book_levels=None)
    gone = run_kernel(**{**inputs, "dataset": bare})
    for name in ("orders", "fills", "ledger", "liquidations", "funding"):
        assert off.engine.records(name).tobytes() == gone.engine.records(name).tobytes(), name


# ============================================================================ kernel properties
@settings(max_examples=60, **SETTINGS)
@given(inputs=book_inputs())
def test_kernel_takers_never_beat_the_touch_and_queues_never_go_negative(inputs):
    ker = run_kernel(**inputs)
    f = ker.fills
    taker = f[f["liquidity"] == "taker"]
    # the touch (book) or the print (trade tape) is the best a taker can get
    assert (taker["side"] * (taker["price"] - taker["trade_price"]) >= -1e-9 * taker["trade_price"]).all()
    q = ker.orders["queue_ahead"]
    assert (q[q.notna()] >= 0).all()


def _stressed(config, factor):
    slip = config.slippage_multiplier
    if isinstance(slip, (list, tuple)):
        slip = [(t, v * factor) for t, v in slip]
    else:
        slip = slip * factor
    return dataclasses.replace(config, slippage_multiplier=slip)


@settings(max_examples=60, **SETTINGS)
@given(inputs=book_inputs(), factor=st.sampled_from([1.5, 3.0, 10.0]))
def test_more_stress_never_improves_the_first_market_order_fill(inputs, factor):
    calm = run_kernel(**inputs)
    hard = run_kernel(**{**inputs, "config": _stressed(inputs["config"], factor)})
    o = calm.orders
    market = set(o.loc[o["type"] == "market", "order_id"])
    a, b = calm.fills, hard.fills
    if not len(a) or not len(b) or a["order_id"].iloc[0] not in market:
        return
    x, y = a.iloc[0], b.iloc[0]  # everything before the first fill is the same in both runs
    if x["order_id"] != y["order_id"] or x["size"] != y["size"] or x["ts"] != y["ts"]:
        return  # the stressed walk left a rest waiting for the tape: not the same fill
    event("the same first fill compared")
    assert x["side"] * (y["price"] - x["price"]) >= -1e-9 * x["price"]
