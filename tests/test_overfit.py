"""`backtester.sweep.overfit`: PSR and DSR against values worked by hand from the formulas, their
boundaries and monotonicity; PBO by CSCV against a hand-worked case and a plain-loop reference,
its invariances, and its behaviour on pure noise, a planted edge and an anti-persistent set."""
import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backtester as bt
import data_loaders as dl
from backtester import scenarios as sc
from backtester.sweep import returns_matrix
from backtester.sweep.overfit import (
    EULER_GAMMA,
    deflated_sharpe,
    expected_max_sharpe,
    pbo,
    probabilistic_sharpe,
    sharpe_moments,
)
from backtester.sweep.returns import _align
from strategies import MaCross


# ============================================================================ PSR / DSR
def test_psr_normal_returns_by_hand():
    # SR = 0.1, n = 101, skew 0, kurtosis 3:
    #   variance term = 1 - 0*0.1 + (3-1)/4 * 0.1^2 = 1.005
    #   z = 0.1 * sqrt(100) / sqrt(1.005) = 1 / 1.002497 = 0.997509
    #   Phi(0.997509) = 0.840741
    assert probabilistic_sharpe(0.1, 101) == pytest.approx(0.840741, abs=1e-6)


def test_psr_skew_and_kurtosis_by_hand():
    # SR = 0.1, n = 101, skew -1, kurtosis 6:
    #   variance term = 1 - (-1)(0.1) + (6-1)/4 * 0.01 = 1 + 0.1 + 0.0125 = 1.1125
    #   sqrt(1.1125) = 1.054751; z = 0.1 * 10 / 1.054751 = 0.948091
    #   Phi(0.948091) = 0.828458  (negative skew and fat tails: less sure than 0.840741 above)
    assert probabilistic_sharpe(0.1, 101, skew=-1.0, kurtosis=6.0) == pytest.approx(0.828458, abs=1e-6)
    # against a benchmark: (0.1 - 0.05) halves z to 0.474045, Phi = 0.682267
    assert probabilistic_sharpe(0.1, 101, -1.0, 6.0, benchmark=0.05) == pytest.approx(0.682267, abs=1e-6)


@pytest.mark.parametrize("sr", [-0.3, 0.0, 0.02, 0.5])
def test_psr_is_one_half_at_the_benchmark(sr):
    assert probabilistic_sharpe(sr, 50, skew=-0.7, kurtosis=8.0, benchmark=sr) == 0.5


def test_expected_max_sharpe_by_hand():
    # N = 100, V = 0.01:
    #   Phi^-1(1 - 1/100) = 2.326348, Phi^-1(1 - 1/(100 e)) = Phi^-1(0.996321) = 2.680210
    #   (1 - 0.577216) * 2.326348 + 0.577216 * 2.680210 = 0.983553 + 1.547050 = 2.530603
    #   times sqrt(0.01) = 0.253060
    assert expected_max_sharpe(100, 0.01) == pytest.approx(0.253060, abs=1e-6)
    # N = 10, V = 0.005: Phi^-1(0.9) = 1.281552, Phi^-1(1 - 1/(10 e)) = 1.789242
    #   0.422784 * 1.281552 + 0.577216 * 1.789242 = 1.574598; * sqrt(0.005) = 0.111341
    assert expected_max_sharpe(10, 0.005) == pytest.approx(0.111341, abs=1e-6)
    assert expected_max_sharpe(1, 0.5) == 0.0
    assert expected_max_sharpe(1000, 0.0) == 0.0
    assert EULER_GAMMA == pytest.approx(0.5772156649, abs=1e-10)


def test_dsr_by_hand():
    # best of N = 100 trials, V = 0.01: benchmark 0.253060 (above); SR = 0.3, n = 101, normal:
    #   variance term = 1 + 0.5 * 0.09 = 1.045; z = (0.3 - 0.253060) * 10 / 1.022252 = 0.459179
    #   Phi(0.459179) = 0.676947 (PSR against 0 would be 0.99...: the selection eats most of it)
    assert deflated_sharpe(0.3, 101, 100, 0.01) == pytest.approx(0.676947, abs=1e-6)
    # best of N = 10, V = 0.005 (benchmark 0.111341); SR = 0.15, n = 253, skew -0.5, kurtosis 5:
    #   variance term = 1 + 0.5 * 0.15 + (5-1)/4 * 0.0225 = 1.0975
    #   z = (0.15 - 0.111341) * sqrt(252) / sqrt(1.0975) = 0.038659 * 15.874508 / 1.047616 = 0.585800
    #   Phi(0.585800) = 0.720995
    assert deflated_sharpe(0.15, 253, 10, 0.005, skew=-0.5, kurtosis=5.0) == pytest.approx(0.720995, abs=1e-6)
    assert deflated_sharpe(0.3, 101, 100, 0.01) < probabilistic_sharpe(0.3, 101)


def test_sharpe_moments_by_hand():
    # returns 1, 2, 3, 6: mean 3; deviations -2, -1, 0, 3; m2 = 14/4 = 3.5, m3 = (-8-1+27)/4 = 4.5,
    # m4 = (16+1+81)/4 = 24.5; sample std = sqrt(14/3) = 2.160247 -> SR = 3/2.160247 = 1.388730
    # skew = 4.5 / 3.5^1.5 = 0.687243; kurtosis = 24.5 / 12.25 = 2
    sr, n, skew, kurt = sharpe_moments([1.0, 2.0, 3.0, np.nan, 6.0])
    assert (n, kurt) == (4, pytest.approx(2.0))
    assert sr == pytest.approx(1.388730, abs=1e-6)
    assert skew == pytest.approx(0.687243, abs=1e-6)
    with pytest.raises(ValueError, match="never change"):
        sharpe_moments([0.01, 0.01, 0.01])
    with pytest.raises(ValueError, match="at least 2"):
        sharpe_moments([0.01])


@settings(max_examples=60, deadline=None)
@given(sr=st.floats(-0.5, 0.5), dsr=st.floats(0.001, 0.5), n=st.integers(2, 5000),
       skew=st.floats(-1.0, 1.0), kurt=st.floats(1.5, 10.0))
def test_psr_increases_with_sr(sr, dsr, n, skew, kurt):
    a = probabilistic_sharpe(sr, n, skew, kurt)
    b = probabilistic_sharpe(sr + dsr, n, skew, kurt)
    assert 0.0 <= a <= b <= 1.0
    if 1e-6 < a and b < 1 - 1e-6:  # away from the CDF's flat tails, strictly
        assert a < b


@settings(max_examples=60, deadline=None)
@given(sr=st.floats(0.01, 0.3), n=st.integers(2, 2000), dn=st.integers(1, 2000),
       skew=st.floats(-1.0, 1.0), kurt=st.floats(1.5, 10.0))
def test_psr_increases_with_n_above_the_benchmark(sr, n, dn, skew, kurt):
    a = probabilistic_sharpe(sr, n, skew, kurt)
    b = probabilistic_sharpe(sr, n + dn, skew, kurt)
    assert 0.5 < a <= b
    if b < 1 - 1e-9:
        assert a < b
    # below the benchmark more data makes it surer the true Sharpe is below: PSR falls
    assert probabilistic_sharpe(-sr, n + dn, skew, kurt) <= probabilistic_sharpe(-sr, n, skew, kurt) < 0.5


@settings(max_examples=40, deadline=None)
@given(n1=st.integers(1, 1000), dn=st.integers(1, 1000), v=st.floats(1e-4, 1.0))
def test_expected_max_sharpe_grows_with_trials(n1, dn, v):
    assert 0.0 <= expected_max_sharpe(n1, v) < expected_max_sharpe(n1 + dn, v)


@pytest.mark.parametrize("call, match", [
    (lambda: probabilistic_sharpe(0.1, 1), "n must be"),
    (lambda: probabilistic_sharpe(0.1, 10.5), "n must be"),
    (lambda: probabilistic_sharpe(float("nan"), 10), "sr must be"),
    (lambda: probabilistic_sharpe(2.0, 10, skew=3.0, kurtosis=1.0), "<= 0"),
    (lambda: expected_max_sharpe(0, 0.1), "n_trials"),
    (lambda: expected_max_sharpe(5, -0.1), "sr_variance"),
])
def test_sharpe_input_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ============================================================================ PBO
def test_pbo_by_hand_with_mean():
    # 3 runs, S = 2 blocks of 2 rows; block means: block 0 = (1, 2, 3), block 1 = (3, 1, 2)
    # combination {0}: in-sample best is run 2 (3); out of sample it has 2, above run 1 (1) and
    #   below run 0 (3): rank 2 of 3, w = 2/4 = 0.5, logit 0 -> counts as overfit (<= 0)
    # combination {1}: in-sample best is run 0 (3); out of sample it has 1, the worst: rank 1,
    #   w = 1/4, logit = log(1/3) = -1.098612
    # PBO = 2/2 = 1; no out-of-sample mean below 0: prob_oos_loss = 0
    r = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [3.0, 1.0, 2.0], [3.0, 1.0, 2.0]])
    res = pbo(pd.DataFrame(r, columns=["a", "b", "c"]), n_blocks=2, metric="mean")
    assert res.combinations == [(0,), (1,)]
    assert list(res.chosen) == ["c", "a"]
    np.testing.assert_allclose(res.relative_rank, [0.5, 0.25])
    np.testing.assert_allclose(res.logits, [0.0, math.log(1 / 3)])
    np.testing.assert_allclose(res.is_metric, [3.0, 3.0])
    np.testing.assert_allclose(res.oos_metric, [2.0, 1.0])
    assert (res.pbo, res.prob_oos_loss) == (1.0, 0.0)
    # the same with the out-of-sample block flipped in sign: now every OOS metric is a loss
    r2 = r.copy()
    r2[2:] *= -1
    res2 = pbo(r2, n_blocks=2, metric="mean")
    # {0}: best run 2 (3), OOS (-3, -1, -2): run 2 has -2, above run 0 only: rank 2, w 0.5
    # {1}: best run 1 (-1), OOS (1, 2, 3): run 1 has 2, rank 2, w 0.5 -> PBO 1, loss in {0} only
    assert list(res2.chosen) == [2, 1]
    np.testing.assert_allclose(res2.relative_rank, [0.5, 0.5])
    assert (res2.pbo, res2.prob_oos_loss) == (1.0, 0.5)


def test_pbo_ties_mid_rank_and_first_choice():
    # 4 runs, S = 2: in block 0 runs 1 and 3 tie for best (5): the first, run 1, is chosen.
    # Out of sample (block 1) = (0, 7, 7, 1): run 1 ties with run 2 at the top:
    #   rank = 1 + 2 below (runs 0, 3) + 0.5 * 1 tie = 3.5; w = 3.5 / 5 = 0.7; logit log(7/3)
    # {1}: runs 1 and 2 tie in sample (7): run 1 chosen; out of sample (block 0) = (2, 5, 1, 5):
    #   rank = 1 + 2 below + 0.5 = 3.5, w = 0.7
    r = np.array([[2.0, 5.0, 1.0, 5.0]] * 2 + [[0.0, 7.0, 7.0, 1.0]] * 2)
    res = pbo(r, n_blocks=2, metric="mean")
    assert list(res.chosen) == [1, 1]
    np.testing.assert_allclose(res.relative_rank, [0.7, 0.7])
    np.testing.assert_allclose(res.logits, [math.log(7 / 3)] * 2)
    assert res.pbo == 0.0


def _pbo_reference(r: np.ndarray, s: int):
    """Plain loop over combinations, Sharpe from numpy's mean and std (ddof=1)."""
    parts = np.array_split(np.arange(len(r)), s)
    n = r.shape[1]
    out = []
    for c in itertools.combinations(range(s), s // 2):
        rows_in = np.concatenate([parts[b] for b in c])
        rows_out = np.concatenate([parts[b] for b in range(s) if b not in c])
        ins = r[rows_in].mean(0) / r[rows_in].std(0, ddof=1)
        outs = r[rows_out].mean(0) / r[rows_out].std(0, ddof=1)
        j = int(np.argmax(ins))
        rank = 1 + np.sum(outs < outs[j]) + 0.5 * (np.sum(outs == outs[j]) - 1)
        out.append((j, rank / (n + 1), ins[j], outs[j]))
    return out


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), s=st.sampled_from([2, 4, 6, 8]), n=st.integers(2, 12),
       extra=st.integers(0, 30), offset=st.floats(-1e3, 1e3))
def test_pbo_equals_a_plain_loop(seed, s, n, extra, offset):
    # the offset shifts every return: the block-sum variances must not lose digits to it
    rng = np.random.default_rng(seed)
    r = offset + rng.normal(0.0, 1.0, size=(2 * s + extra, n)) * rng.uniform(0.01, 2.0, size=n)
    res = pbo(r, n_blocks=s)
    ref = _pbo_reference(r, s)
    assert list(res.chosen) == [x[0] for x in ref]
    np.testing.assert_allclose(res.relative_rank, [x[1] for x in ref])
    np.testing.assert_allclose(res.is_metric, [x[2] for x in ref], rtol=1e-6)
    np.testing.assert_allclose(res.oos_metric, [x[3] for x in ref], rtol=1e-6)
    w = res.relative_rank
    assert res.pbo == np.mean(np.log(w / (1 - w)) <= 0)


def test_pbo_callable_metric_matches_builtin():
    rng = np.random.default_rng(3)
    r = rng.normal(0.0, 0.01, size=(120, 9))

    def sharpe(x):
        return x.mean(0) / x.std(0, ddof=1)

    a, b = pbo(r, 6), pbo(r, 6, metric=sharpe)
    np.testing.assert_array_equal(a.chosen, b.chosen)
    np.testing.assert_allclose(a.logits, b.logits)
    assert b.metric == "sharpe"
    with pytest.raises(ValueError, match="one value per column"):
        pbo(r, 6, metric=lambda x: x.mean())


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), s=st.sampled_from([2, 4, 8]), n=st.integers(2, 15),
       data=st.data())
def test_pbo_in_unit_interval_and_invariant_to_run_order(seed, s, n, data):
    rng = np.random.default_rng(seed)
    # continuous returns (no ties), so which run is chosen does not depend on the column order
    r = rng.normal(0.0, 0.01, size=(4 * s + 7, n)) + rng.normal(0.0, 0.002, size=n)
    perm = np.asarray(data.draw(st.permutations(range(n))))
    a, b = pbo(r, s), pbo(r[:, perm], s)
    assert 0.0 <= a.pbo <= 1.0 and 0.0 <= a.prob_oos_loss <= 1.0
    assert a.pbo == b.pbo
    np.testing.assert_allclose(a.logits, b.logits)
    np.testing.assert_array_equal(a.chosen, perm[b.chosen])  # the same run, wherever it sits
    assert np.all((a.relative_rank > 0) & (a.relative_rank < 1))


#: seeds averaged in the pure-noise test
NOISE_SEEDS = 20
#: |mean PBO - 0.5| allowed over NOISE_SEEDS seeds. With no edge the chosen run's out-of-sample
#: rank is uniform, so PBO's expectation is 0.5 (N even: no run sits exactly on the median). One
#: seed's PBO is noisy because all of its combinations share the same data: across 40 seeds of
#: this shape (400 x 50, S = 8) its standard deviation measured 0.185, so the mean of 20 has
#: about 0.041; 0.15 is over 3.5 of those. The seeds are fixed, so the test is not flaky; a
#: wrong sign or rank (see the two tests below) moves the mean to about 0 or 1, far outside.
NOISE_TOLERANCE = 0.15


def test_pbo_pure_noise_is_about_one_half():
    values = []
    for seed in range(NOISE_SEEDS):
        rng = np.random.default_rng(seed)
        values.append(pbo(rng.normal(0.0, 0.01, size=(400, 50)), n_blocks=8).pbo)
    assert abs(np.mean(values) - 0.5) < NOISE_TOLERANCE
    assert 0 < min(values) and max(values) < 1  # each seed in between, not stuck at a bound


def test_pbo_real_edge_is_about_zero():
    # run 13 gains 0.5 standard deviations more than the others in every period (every block):
    # its Sharpe in any half (~0.5 over 800/2 rows) towers over the noise runs' (~ +/-0.05),
    # so it wins in sample and out of sample in every combination
    rng = np.random.default_rng(7)
    r = rng.normal(0.0, 0.01, size=(1600, 40))
    r[:, 13] += 0.005
    res = pbo(r, n_blocks=16)
    assert res.n_combinations == 12870
    assert res.pbo == 0.0 and res.prob_oos_loss == 0.0
    assert set(res.chosen) == {13}
    np.testing.assert_allclose(res.relative_rank, 40 / 41)


def test_pbo_anti_persistent_runs_is_about_one():
    # each run's per-block means sum to zero, so a half's mean is minus the other half's: the
    # in-sample winner is the out-of-sample loser (noise is small next to the block means)
    rng = np.random.default_rng(11)
    s, n, rows = 8, 30, 40
    means = rng.normal(0.0, 0.01, size=(s, n))
    means -= means.mean(axis=0)
    r = np.repeat(means, rows, axis=0) + rng.normal(0.0, 1e-4, size=(s * rows, n))
    res = pbo(r, n_blocks=s, metric="mean")
    assert res.pbo > 0.95
    assert res.prob_oos_loss > 0.95
    assert res.degradation_slope < 0


def test_pbo_flat_runs_and_frame():
    # a flat run (all 0) has Sharpe 0 in every half, between a winner and a loser
    r = np.zeros((40, 3))
    r[:, 0] = np.tile([0.02, 0.01], 20)   # always gains: Sharpe > 0 everywhere
    r[:, 2] = np.tile([-0.02, -0.01], 20)  # always loses
    res = pbo(r, n_blocks=4)
    assert set(res.chosen) == {0} and res.pbo == 0.0
    df = res.frame()
    assert list(df.columns) == ["is_blocks", "chosen", "is_metric", "oos_metric", "relative_rank", "logit"]
    assert len(df) == 6 and df["is_blocks"].iloc[0] == (0, 1)
    assert "pbo=0.000" in repr(res)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_blocks": 3}, "even int"),
    ({"n_blocks": 0}, "even int"),
    ({"n_blocks": 24}, "from 2 to 22"),          # 2.7 M splits: refused before any memory is taken
    ({"n_blocks": True}, "even int"),
    ({"n_blocks": 2.0}, "even int"),
    ({"n_blocks": 16}, "cannot make 16 blocks"),
    ({"n_blocks": 2, "metric": "sortino"}, "metric must be"),
])
def test_pbo_input_errors(kwargs, match):
    r = np.random.default_rng(0).normal(size=(20, 4))
    with pytest.raises(ValueError, match=match):
        pbo(r, **kwargs)


def test_pbo_rejects_nan_runs_and_bad_shapes():
    r = pd.DataFrame(np.random.default_rng(0).normal(size=(20, 3)), columns=["x", "y", "z"])
    r.loc[5, "y"] = np.nan
    with pytest.raises(ValueError, match=r"1 run\(s\) have NaN.*'y'"):
        pbo(r, n_blocks=2)
    with pytest.raises(ValueError, match="at least 2 runs"):
        pbo(np.zeros((20, 1)), n_blocks=2)
    with pytest.raises(ValueError, match="2-D"):
        pbo(np.zeros(20), n_blocks=2)


# ============================================================================ from a sweep's grid
@pytest.fixture(scope="module")
def six_hours():
    # the window of tests/test_sweep.py: fills, funding, and the dYdX outage at 14:00-17:00
    return dl.sample().slice("2022-11-09 12:00", "2022-11-09 18:00")


#: fast >= slow raises in MaCross: one recorded error, as in a sweep
GRID = {"fast": [3, 6, 30], "slow": [20, 40]}


@pytest.fixture(scope="module")
def rets(six_hours):
    with pytest.warns(RuntimeWarning, match="returns_matrix: 2 of 12 runs raised"):
        return returns_matrix(MaCross, GRID, six_hours,
                              scenarios=[sc.NORMAL, sc.Outage("2022-11-09 13:00", "30min")])


def test_returns_matrix_columns_are_the_sweeps_runs(six_hours, rets):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        table = bt.sweep(MaCross, GRID, six_hours, scenarios=[sc.NORMAL, sc.Outage("2022-11-09 13:00", "30min")],
                         progress=False)
    assert list(rets.columns) == list(table["run_id"])
    failed = table.loc[table["status"] == "error", "run_id"]
    assert len(failed) == 2 and rets[failed].isna().all().all()
    assert rets.drop(columns=failed).notna().all().all()
    assert rets.index.is_monotonic_increasing and str(rets.index.tz) == "UTC"


def test_returns_matrix_compounds_to_the_runs_equity(six_hours, rets):
    res = bt.run(MaCross(fast=3, slow=20), six_hours)
    eq = res.equity["equity"]
    col = rets.iloc[:, 0]  # (fast 3, slow 20) under the normal venue: the first run
    assert list(col.index) == list(eq.index)
    initial = float(res.engine.initial_cash.sum())
    np.testing.assert_allclose(initial * np.cumprod(1 + col.to_numpy()), eq.to_numpy(), rtol=1e-12)
    assert (col != 0).sum() > 10  # it traded: the check above is not about a flat line
    by_initial = returns_matrix(MaCross, {"fast": [3], "slow": [20]}, six_hours, kind="initial").iloc[:, 0]
    np.testing.assert_allclose(initial * (1 + np.cumsum(by_initial.to_numpy())), eq.to_numpy(), rtol=1e-12)


def test_returns_matrix_aligns_clocks_and_stops_at_ruin():
    # run a sampled at 10 and 30, run b at 20 and 30 (ns); both start with 100
    # union clock 10, 20, 30: a holds 110, 110, 55; b holds its initial 100, then 0, then 50
    series = {"a": (np.array([10, 30]), np.array([110.0, 55.0]), 100.0),
              "b": (np.array([20, 30]), np.array([0.0, 50.0]), 100.0)}
    simple = _align(["a", "b", "c"], series, "simple")
    np.testing.assert_allclose(simple["a"], [0.1, 0.0, -0.5])
    np.testing.assert_allclose(simple["b"], [0.0, -1.0, 0.0])  # after ruin nothing is left to lose
    assert simple["c"].isna().all()
    initial = _align(["a", "b"], series, "initial")
    np.testing.assert_allclose(initial["b"], [0.0, -1.0, 0.5])
    assert list(initial.index.asi8) == [10, 20, 30]


def test_pbo_of_a_sweep(rets):
    ok = rets.dropna(axis=1)
    res = bt.pbo(ok, n_blocks=4)
    assert res.n_runs == 10 and res.n_combinations == 6
    assert set(res.chosen) <= set(ok.columns)
    assert 0.0 <= res.pbo <= 1.0
    with pytest.raises(ValueError, match="NaN"):
        bt.pbo(rets, n_blocks=4)
    with pytest.raises(ValueError, match="kind must be"):
        returns_matrix(None, {}, None, kind="log")
