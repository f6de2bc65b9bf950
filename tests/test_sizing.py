"""The seeds' funding-aware sizing rule, by hand and on the real dYdX funding of Nov 2022."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_loaders.sample import real_dydx_funding
from strategies.sizing import FundingAwareSizing, funding_zscore


def test_known_answer():
    rule = FundingAwareSizing(base_risk_cap=30_000, target_vol=0.5, z_threshold=1.0, z_slope=0.5)
    vol = pd.Series([0.25, 0.5, 1.0, np.nan])
    z = pd.Series([0.0, -1.0, 3.0, -5.0])
    # adjuster: min(0.5/0.25, 1) = 1, 1, 0.5, unknown -> 1
    # multiplier: 1, 1, 1 + 0.5*(3-1) = 2, 1 + 0.5*(5-1) = 3
    assert rule.max_notional(vol, z).tolist() == [30_000.0, 30_000.0, 7_500.0, 10_000.0]


def test_zscore_uses_only_earlier_rates():
    rates = pd.Series([1.0, 2.0, 3.0, 4.0, 100.0])
    z = funding_zscore(rates, window=4, min_periods=2)
    # at row 4: mean/std of [1, 2, 3, 4] = 2.5 / 1.2910
    assert z.iloc[4] == pytest.approx((100 - 2.5) / np.std([1, 2, 3, 4], ddof=1))
    assert np.isnan(z.iloc[0]) and np.isnan(z.iloc[1])
    changed = rates.copy()
    changed.iloc[4] = -50.0  # changing the last rate never changes earlier scores
    pd.testing.assert_series_equal(funding_zscore(changed, 4, 2).iloc[:4], z.iloc[:4])


def test_real_funding_spike_cuts_exposure():
    f = real_dydx_funding("BTC-USD", "2022-10-20", "2022-11-14").to_pandas().set_index("ts")["rate"]
    rule = FundingAwareSizing(base_risk_cap=10_000, z_threshold=2.0, z_slope=0.5)
    z = funding_zscore(f, rule.z_window)
    cap = rule.max_notional(pd.Series(0.1, index=f.index), z)  # calm volatility: funding decides
    # the FTX-collapse swing (2022-11-08..12) drives |z| far beyond 2: the cap falls there
    calm = cap["2022-10-28":"2022-11-05"]
    stress = cap["2022-11-08":"2022-11-12"]
    assert stress.min() < 0.5 * calm.median()
    assert (cap <= 10_000).all() and (cap > 0).all()


@settings(max_examples=60, deadline=None)
@given(z1=st.floats(-10, 10), z2=st.floats(-10, 10), v1=st.floats(0.01, 5), v2=st.floats(0.01, 5))
def test_more_stress_never_allows_more_exposure(z1, z2, v1, v2):
    rule = FundingAwareSizing(base_risk_cap=1_000)
    (za, zb), (va, vb) = sorted([abs(z1), abs(z2)]), sorted([v1, v2])
    small = rule.max_notional(pd.Series([va]), pd.Series([za])).iloc[0]
    big = rule.max_notional(pd.Series([vb]), pd.Series([zb])).iloc[0]
    assert big <= small + 1e-9


def test_frame_on_decision_times():
    idx = pd.date_range("2022-11-07", periods=48 * 60, freq="1min", tz="UTC")
    prices = pd.Series(20_000 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 1e-3, len(idx)))), index=idx)
    f = real_dydx_funding("BTC-USD", "2022-10-31", "2022-11-09").to_pandas().set_index("ts")["rate"]
    out = FundingAwareSizing(base_risk_cap=5_000).frame(prices, f, "1min")
    assert list(out.columns) == ["vol", "volatility_adjuster", "funding_rate", "funding_z",
                                 "funding_risk_multiplier", "max_notional"]
    # the funding rate at each minute is the last published one at or before it
    assert out.loc["2022-11-08 16:30", "funding_rate"] == pytest.approx(f.loc["2022-11-08 16:00"])
    assert (out["max_notional"].dropna() <= 5_000).all()
