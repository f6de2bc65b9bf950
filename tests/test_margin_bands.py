"""The margin bands (``accounts_nb.set_bands_nb``) change how often the exact maintenance check
runs, never what it decides: runs with the bands and with an exact check on every oracle move
give the same records, bit for bit.

Bug caught: a band too wide (a missing invalidation after money or a position moved, a slope
or rounding allowance too small), which would liquidate later than the contract says.
"""
from __future__ import annotations

from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import backtester.engine as engine_mod
from backtester.kernel.accounts_nb import BAND_SAFETY, set_bands_nb
from backtester.kernel.state import CI_MARGIN_BANDS
from tests.kernel_adapter import run_kernel
from tests.reference.engine import MarketSpec, OrderIntent, RefConfig
from tests.reference.gen import SEC, T0, VENUE, make_dataset, reference_inputs

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FRAMES = ("orders", "fills", "funding", "liquidations", "ledger")


def _without_bands(init):
    def init_without_bands(self, inputs, layout, config):
        cfg_i = inputs.cfg_i.copy()
        cfg_i[CI_MARGIN_BANDS] = 0
        init(self, inputs._replace(cfg_i=cfg_i), layout, config)
    return init_without_bands


def _both(**inputs):
    """The same run with the margin bands (the default) and with an exact check on every
    oracle move (engines built while ``Engine.__init__`` turns the bands off)."""
    banded = run_kernel(**inputs)
    with mock.patch.object(engine_mod.Engine, "__init__", _without_bands(engine_mod.Engine.__init__)):
        exact = run_kernel(**inputs)
    assert int(banded.engine.inputs.cfg_i[CI_MARGIN_BANDS]) == 1
    assert int(exact.engine.inputs.cfg_i[CI_MARGIN_BANDS]) == 0
    return banded, exact


def _assert_same(a, b):
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True, obj=name)
    np.testing.assert_array_equal(a.engine.records("samples"), b.engine.records("samples"))


@settings(max_examples=120, **SETTINGS)
@given(inputs=reference_inputs())
def test_bands_decide_as_the_exact_check_on_random_runs(inputs):
    _assert_same(*_both(**inputs))


@st.composite
def leveraged_walks(draw):
    """A long position near its maximum leverage (cross, two markets sometimes), then oracle
    random walks that cross the liquidation price in some examples and stop just short of it in
    others; funding and further fills move money in between."""
    n_mk = draw(st.integers(1, 2))
    names = ["BTC-USD", "ETH-USD"][:n_mk]
    mmf = draw(st.sampled_from([0.03, 0.05, 0.1]))
    specs = [MarketSpec(m, VENUE, 2 * mmf, mmf, 0.0, 0.0, 0.0, 0.0) for m in names]
    steps = draw(st.integers(20, 120))
    trades, oracle = [], []
    for j, m in enumerate(names):
        walk = np.cumsum(draw(st.lists(st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0]),
                                       min_size=steps, max_size=steps)))
        for t in range(steps):
            price = max(100.0 + j + walk[t], 1.0)
            oracle.append(dict(ts=T0 + t * SEC, market=m, price=price))
            if t % 7 == 0:
                trades.append(dict(ts=T0 + t * SEC, market=m, price=price, size=1000.0, side=1))
    cash = 1000.0
    leverage = draw(st.floats(1.0, 0.95 / (2 * mmf)))
    intents = [OrderIntent(T0 + SEC // 2, m, 1 if draw(st.booleans()) else -1,
                           round(leverage * cash / n_mk / 100.0, 6), "market") for m in names]
    if draw(st.booleans()):  # money moves while held: a later fill
        intents.append(OrderIntent(T0 + (steps // 2) * SEC, names[0], 1, 0.5, "market"))
    funding = ([dict(ts=T0 + (steps // 3) * SEC, market=names[0], rate=draw(st.sampled_from([-0.01, 0.01])),
                     oracle_price=float("nan"))] if draw(st.booleans()) else [])
    return dict(dataset=make_dataset(trades, funding, oracle), markets=specs,
                config=RefConfig(initial_cash={VENUE: cash}, insurance_fund={VENUE: 0.0}),
                intents=intents, reorgs=[])


@settings(max_examples=120, **SETTINGS)
@given(inputs=leveraged_walks())
def test_bands_decide_as_the_exact_check_on_leveraged_walks(inputs):
    banded, exact = _both(**inputs)
    _assert_same(banded, exact)


def test_a_walk_that_crosses_maintenance_liquidates_at_the_first_row_past_it():
    """Cash 100, no fees, MMF 5 %: a market buy of 9.5 sent at T0 (oracle 100: IMR 95 <= 100)
    fills at the next print, 99.5. Then NC = 100 + 9.5 (p - 99.5) and MMR = 0.475 p, so
    maintenance breaks below p* = (9.5 * 99.5 - 100) / 9.025 = 93.657...; the oracle falls 0.5
    a second and the one liquidation is at the first row under p*, with and without bands."""
    spec = MarketSpec("BTC-USD", VENUE, 0.1, 0.05, 0.0, 0.0, 0.0, 0.0)
    prices = [100.0 - 0.5 * t for t in range(30)]
    oracle = [dict(ts=T0 + t * SEC, market="BTC-USD", price=p) for t, p in enumerate(prices)]
    trades = [dict(ts=T0 + t * SEC, market="BTC-USD", price=p, size=100.0, side=1) for t, p in enumerate(prices)]
    inputs = dict(dataset=make_dataset(trades, [], oracle), markets=[spec],
                  config=RefConfig(initial_cash={VENUE: 100.0}, insurance_fund={VENUE: 0.0}),
                  intents=[OrderIntent(T0, "BTC-USD", 1, 9.5, "market")], reorgs=[])
    banded, exact = _both(**inputs)
    _assert_same(banded, exact)
    fills = banded.fills
    assert float(fills["price"].iloc[0]) == 99.5
    breach = (9.5 * 99.5 - 100.0) / (9.5 - 0.475)
    first_under = next(t for t, p in enumerate(prices) if p < breach)
    liq = banded.liquidations
    assert len(liq) == 1 and int(pd.Timestamp(liq["ts"].iloc[0]).value) == T0 + first_under * SEC


def test_bands_are_empty_without_room_and_shrink_by_the_rounding_allowance():
    """Hand numbers: cash 100, long 1 @ entry 100, mark 100, MMF 0.1: room = 100 - 10 = 90
    less BAND_SAFETY * (100 + 1 * (100 + 100 + 10)); slope 1.1, so the band is 100 -+ room/1.1.
    At NC == MMR (no room) the band is empty: every move is checked."""
    band = np.zeros((1, 2))
    args = (np.array([0]), np.array([0.1]), band)
    set_bands_nb(np.array([100.0]), np.array([1.0]), np.array([100.0]), np.array([100.0]),
                 np.array([np.nan]), *args)
    room = 90.0 - BAND_SAFETY * 310.0
    assert band[0, 0] == pytest.approx(100.0 - room / 1.1, rel=1e-15)
    assert band[0, 1] == pytest.approx(100.0 + room / 1.1, rel=1e-15)
    # cash such that NC == MMR exactly at mark 100: 10 - 0 = 10 = 1 * 100 * 0.1
    set_bands_nb(np.array([10.0]), np.array([1.0]), np.array([100.0]), np.array([100.0]),
                 np.array([np.nan]), *args)
    assert band[0, 0] == np.inf and band[0, 1] == -np.inf


def test_money_moved_after_the_bands_were_set_is_checked_at_the_next_move():
    """Cash 100, long 9.5 bought @100 at 1s (MMF 5 %, no fees). At 2s the oracle (100) sets
    the bands: room 100 - 47.5 = 52.5, half-width 52.5 / (9.5 * 1.05) = 5.26, so [94.74,
    105.26]. At 3s funding at rate 0.05 and price 100 takes 47.5 (cash 52.5: still NC >= MMR at
    100). At 4s the oracle is 99, inside the old band, but NC = 52.5 - 9.5 = 43 < MMR = 47.025:
    the funding payment must have voided the bands, so the account is liquidated at 4s."""
    spec = MarketSpec("BTC-USD", VENUE, 0.1, 0.05, 0.0, 0.0, 0.0, 0.0)
    prices = {0: 100.0, 1: 100.0, 2: 100.0, 3: 100.0, 4: 99.0}
    oracle = [dict(ts=T0 + t * SEC, market="BTC-USD", price=p) for t, p in prices.items()]
    trades = [dict(ts=T0 + t * SEC, market="BTC-USD", price=p, size=100.0, side=1) for t, p in prices.items()]
    funding = [dict(ts=T0 + 3 * SEC, market="BTC-USD", rate=0.05, oracle_price=100.0)]
    inputs = dict(dataset=make_dataset(trades, funding, oracle), markets=[spec],
                  config=RefConfig(initial_cash={VENUE: 100.0}, insurance_fund={VENUE: 0.0}),
                  intents=[OrderIntent(T0, "BTC-USD", 1, 9.5, "market")], reorgs=[])
    banded, exact = _both(**inputs)
    _assert_same(banded, exact)
    assert float(banded.fills["price"].iloc[0]) == 100.0
    assert float(banded.funding["payment"].iloc[0]) == -47.5
    liq = banded.liquidations
    assert len(liq) == 1 and int(pd.Timestamp(liq["ts"].iloc[0]).value) == T0 + 4 * SEC
