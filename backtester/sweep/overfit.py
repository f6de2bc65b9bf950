"""How much of a sweep's best result is selection bias: the probabilistic and deflated Sharpe
ratios, and the probability of backtest overfitting (PBO) by combinatorially symmetric
cross-validation (CSCV).

=================================  ===============================================================
:func:`probabilistic_sharpe`       P(true Sharpe > a benchmark) given the estimate, the sample
                                   length, and the skewness and kurtosis of the returns
:func:`expected_max_sharpe`        the Sharpe the best of ``N`` skill-less trials reaches by luck
:func:`deflated_sharpe`            :func:`probabilistic_sharpe` against that expected maximum
:func:`sharpe_moments`             per-period Sharpe, length, skewness and kurtosis of returns
:func:`pbo`                        PBO of a time x runs matrix of returns (:class:`PBOResult`)
=================================  ===============================================================

Every Sharpe ratio here is **per period** (mean over standard deviation of the returns at the
sampling frequency, not annualised): the sample length ``n`` counts the same periods. The
``sharpe`` column of a sweep's table is annualised; divide it by ``sqrt(periods per year)``
before passing it here, or use :func:`sharpe_moments` on the returns.

References
----------
Bailey, D. H. and López de Prado, M. (2012), "The Sharpe ratio efficient frontier",
Journal of Risk 15(2).
Bailey, D. H. and López de Prado, M. (2014), "The deflated Sharpe ratio: correcting for
selection bias, backtest overfitting and non-normality", Journal of Portfolio Management 40(5).
Bailey, D. H., Borwein, J., López de Prado, M. and Zhu, Q. J. (2015), "The probability of
backtest overfitting", Journal of Computational Finance 20(4).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> noise = rng.normal(0.0, 0.01, size=(800, 40))       # 40 runs without any edge
>>> res = pbo(noise, n_blocks=8)
>>> res.n_combinations
70
>>> 0.0 <= res.pbo <= 1.0
True
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

#: Euler-Mascheroni constant (the expected maximum of N standard normals uses it)
EULER_GAMMA = 0.5772156649015329
#: kurtosis (not excess) of a normal distribution: the default, "no fat tails"
NORMAL_KURTOSIS = 3.0
#: rows each CSCV block needs at least (a Sharpe ratio needs two returns for a deviation)
MIN_BLOCK_ROWS = 2
#: most blocks :func:`pbo` accepts: C(22, 11) = 705,432 half/half splits (S = 16 gives 12,870);
#: the splits grow about 4x per two blocks, and S = 40 would need tens of GB
MAX_BLOCKS = 22
#: combinations evaluated at once in :func:`pbo` (bounds the memory: chunk x runs floats)
COMBINATION_CHUNK = 512

_NORMAL = NormalDist()


# ============================================================================ Sharpe ratios
def sharpe_moments(returns) -> tuple[float, int, float, float]:
    """Per-period Sharpe ratio, sample length, skewness and kurtosis of a return series.

    Parameters
    ----------
    returns : array-like of float
        Simple returns per period (NaN values are dropped).

    Returns
    -------
    (sr, n, skew, kurtosis) : (float, int, float, float)
        ``sr = mean / std`` with the sample standard deviation (``ddof=1``); ``skew`` and
        ``kurtosis`` are the population moment ratios ``m3 / m2**1.5`` and ``m4 / m2**2``
        (``kurtosis`` is 3 for normal returns, not 0).

    Raises
    ------
    ValueError
        Fewer than two returns, or returns that never change (no deviation).

    Examples
    --------
    >>> sr, n, skew, kurt = sharpe_moments([0.01, -0.01, 0.01, -0.01])
    >>> round(sr, 6), n, round(skew, 6) == 0, round(kurt, 6)   # skew may come out as -0.0
    (0.0, 4, True, 1.0)
    """
    x = np.asarray(returns, dtype=float).ravel()
    x = x[~np.isnan(x)]
    if len(x) < 2:
        raise ValueError(f"sharpe_moments: need at least 2 returns, got {len(x)}")
    d = x - x.mean()
    m2 = float(np.mean(d ** 2))
    if m2 == 0.0:
        raise ValueError("sharpe_moments: the returns never change; their Sharpe ratio is undefined")
    sr = float(x.mean() / x.std(ddof=1))
    return sr, len(x), float(np.mean(d ** 3) / m2 ** 1.5), float(np.mean(d ** 4) / m2 ** 2)


def probabilistic_sharpe(sr: float, n: int, skew: float = 0.0, kurtosis: float = NORMAL_KURTOSIS,
                         benchmark: float = 0.0) -> float:
    """Probabilistic Sharpe ratio: the probability that the true Sharpe ratio exceeds
    ``benchmark``, given an estimate ``sr`` from ``n`` returns (Bailey and López de Prado, 2012).

    The estimate of a Sharpe ratio is roughly normal around the true value, with a standard
    error that grows with the skewness and fat tails of the returns:

    .. math::

        \\mathrm{PSR} = \\Phi\\left(\\frac{(\\widehat{SR} - SR^*)\\sqrt{n - 1}}
                        {\\sqrt{1 - \\gamma_3 \\widehat{SR} + \\frac{\\gamma_4 - 1}{4}\\widehat{SR}^2}}\\right)

    where :math:`\\Phi` is the standard normal CDF, :math:`SR^*` the benchmark,
    :math:`\\gamma_3` the skewness and :math:`\\gamma_4` the kurtosis (3 for normal returns).
    Negative skew and fat tails widen the error and pull PSR towards 0.5.

    Parameters
    ----------
    sr : float
        Estimated Sharpe ratio, per period (not annualised).
    n : int
        Number of returns it was estimated from (at least 2).
    skew : float
        Skewness of the returns.
    kurtosis : float
        Kurtosis of the returns (not excess: 3 for normal returns).
    benchmark : float
        Sharpe ratio to beat, per period.

    Returns
    -------
    float
        In [0, 1]; exactly 0.5 when ``sr == benchmark``.

    Raises
    ------
    ValueError
        ``n < 2``, a non-finite input, or moments that make the variance term
        :math:`1 - \\gamma_3 SR + (\\gamma_4 - 1) SR^2 / 4` non-positive (inconsistent moments).

    Examples
    --------
    >>> round(probabilistic_sharpe(0.1, 101), 4)       # z = 0.1 * 10 / sqrt(1.005)
    0.8407
    >>> probabilistic_sharpe(0.05, 250, benchmark=0.05)
    0.5
    """
    _finite("probabilistic_sharpe", sr=sr, skew=skew, kurtosis=kurtosis, benchmark=benchmark)
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"probabilistic_sharpe: n must be an int >= 2, got {n!r}")
    var = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr ** 2
    if var <= 0.0:
        raise ValueError(f"probabilistic_sharpe: 1 - skew*sr + (kurtosis-1)/4*sr^2 = {var:.4g} <= 0 "
                         f"(sr={sr}, skew={skew}, kurtosis={kurtosis}); are these per-period moments?")
    return _NORMAL.cdf((sr - benchmark) * math.sqrt(n - 1) / math.sqrt(var))


def expected_max_sharpe(n_trials: int, sr_variance: float) -> float:
    """Expected maximum Sharpe ratio of ``n_trials`` trials without skill (true Sharpe 0),
    whose estimated Sharpe ratios have variance ``sr_variance`` (Bailey and López de Prado, 2014).

    .. math::

        E[\\max SR] \\approx \\sqrt{V}\\left((1 - \\gamma)\\,\\Phi^{-1}\\left(1 - \\frac1N\\right)
                      + \\gamma\\,\\Phi^{-1}\\left(1 - \\frac1{N e}\\right)\\right)

    with :math:`\\gamma` the Euler-Mascheroni constant, :math:`\\Phi^{-1}` the standard normal
    quantile and :math:`e` Euler's number. One trial involves no selection: 0.

    Parameters
    ----------
    n_trials : int
        Number of independent trials the best one was chosen from (e.g. runs of a sweep).
    sr_variance : float
        Variance across trials of their per-period Sharpe ratios.

    Returns
    -------
    float

    Examples
    --------
    >>> round(expected_max_sharpe(100, 0.01), 4)    # 0.1 * (0.4228 * 2.3263 + 0.5772 * 2.6802)
    0.2531
    >>> expected_max_sharpe(1, 0.01)
    0.0
    """
    _finite("expected_max_sharpe", sr_variance=sr_variance)
    if not isinstance(n_trials, (int, np.integer)) or n_trials < 1:
        raise ValueError(f"expected_max_sharpe: n_trials must be an int >= 1, got {n_trials!r}")
    if sr_variance < 0:
        raise ValueError(f"expected_max_sharpe: sr_variance must be >= 0, got {sr_variance}")
    if n_trials == 1:
        return 0.0
    z = ((1.0 - EULER_GAMMA) * _NORMAL.inv_cdf(1.0 - 1.0 / n_trials)
         + EULER_GAMMA * _NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e)))
    return math.sqrt(sr_variance) * z


def deflated_sharpe(sr: float, n: int, n_trials: int, sr_variance: float, skew: float = 0.0,
                    kurtosis: float = NORMAL_KURTOSIS) -> float:
    """Deflated Sharpe ratio (Bailey and López de Prado, 2014): the probabilistic Sharpe ratio of
    the best of ``n_trials`` trials against the Sharpe ratio luck alone gives the best one,
    ``probabilistic_sharpe(sr, n, skew, kurtosis, benchmark=expected_max_sharpe(n_trials, sr_variance))``.

    A DSR above 0.95 says the best run's Sharpe ratio is unlikely to be selection bias alone.

    Parameters
    ----------
    sr : float
        Per-period Sharpe ratio of the chosen (best) trial.
    n : int
        Number of returns of the chosen trial.
    n_trials : int
        Trials it was chosen from.
    sr_variance : float
        Variance of the trials' per-period Sharpe ratios.
    skew, kurtosis : float
        Of the chosen trial's returns (kurtosis not excess).

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> round(deflated_sharpe(0.3, 101, n_trials=100, sr_variance=0.01), 4)
    0.6769
    >>> deflated_sharpe(0.3, 101, 1, 0.01) == probabilistic_sharpe(0.3, 101)
    True
    """
    return probabilistic_sharpe(sr, n, skew, kurtosis, benchmark=expected_max_sharpe(n_trials, sr_variance))


def _finite(fn, **values) -> None:
    for name, v in values.items():
        if not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
            raise ValueError(f"{fn}: {name} must be a finite number, got {v!r}")


# ============================================================================ PBO by CSCV
@dataclass(frozen=True)
class PBOResult:
    """The outcome of :func:`pbo`: one entry per half/half combination of blocks.

    Attributes
    ----------
    pbo : float
        Share of combinations whose in-sample best run has logit <= 0 out of sample, i.e. ranks
        at or below the median of the runs out of sample.
    prob_oos_loss : float
        Share of combinations where the in-sample best run's out-of-sample metric is below 0.
    logits : ndarray
        ``log(w / (1 - w))`` of the relative out-of-sample rank ``w`` of the in-sample best.
    relative_rank : ndarray
        ``w = rank / (N + 1)``, rank 1 the worst of N runs out of sample, N the best.
    chosen : ndarray
        The in-sample best run of each combination (column labels).
    is_metric, oos_metric : ndarray
        The chosen run's metric in sample and out of sample (the performance degradation).
    combinations : list of tuple
        The in-sample blocks of each combination.
    n_blocks, n_runs : int
    metric : str
        Name of the metric used.
    """

    pbo: float
    prob_oos_loss: float
    logits: np.ndarray
    relative_rank: np.ndarray
    chosen: np.ndarray
    is_metric: np.ndarray
    oos_metric: np.ndarray
    combinations: list
    n_blocks: int
    n_runs: int
    metric: str

    @property
    def n_combinations(self) -> int:
        return len(self.combinations)

    @property
    def degradation_slope(self) -> float:
        """Least-squares slope of the out-of-sample metric on the in-sample one across
        combinations (finite pairs only; NaN with fewer than two distinct in-sample values).
        Negative: the better a run looked in sample, the worse it did out of sample."""
        ok = np.isfinite(self.is_metric) & np.isfinite(self.oos_metric)
        x, y = self.is_metric[ok], self.oos_metric[ok]
        if len(x) < 2 or np.ptp(x) == 0:
            return float("nan")
        return float(np.polyfit(x, y, 1)[0])

    def frame(self) -> pd.DataFrame:
        """One row per combination: in-sample blocks, chosen run, metrics, rank and logit."""
        return pd.DataFrame({"is_blocks": self.combinations, "chosen": self.chosen,
                             "is_metric": self.is_metric, "oos_metric": self.oos_metric,
                             "relative_rank": self.relative_rank, "logit": self.logits})

    def __repr__(self) -> str:
        return (f"PBOResult(pbo={self.pbo:.3f}, prob_oos_loss={self.prob_oos_loss:.3f}, "
                f"n_blocks={self.n_blocks}, n_runs={self.n_runs}, n_combinations={self.n_combinations}, "
                f"metric={self.metric!r})")


def check_blocks(n_blocks, what: str = "n_blocks") -> int:
    """``n_blocks`` if it is an even int from 2 to :data:`MAX_BLOCKS`; ``ValueError`` naming
    ``what`` otherwise.

    Examples
    --------
    >>> check_blocks(16)
    16
    >>> check_blocks(40)
    Traceback (most recent call last):
    ...
    ValueError: n_blocks must be an even int from 2 to 22 (S = 40 makes 137,846,528,820 half/half splits; 22 makes 705,432), got 40
    """
    ok = isinstance(n_blocks, (int, np.integer)) and not isinstance(n_blocks, bool)
    if ok and 2 <= n_blocks <= MAX_BLOCKS and n_blocks % 2 == 0:
        return int(n_blocks)
    many = (f" (S = {n_blocks} makes {math.comb(n_blocks, n_blocks // 2):,} half/half splits; {MAX_BLOCKS} makes "
            f"{math.comb(MAX_BLOCKS, MAX_BLOCKS // 2):,})" if ok and n_blocks > MAX_BLOCKS else "")
    raise ValueError(f"{what} must be an even int from 2 to {MAX_BLOCKS}{many}, got {n_blocks!r}")


def pbo(returns, n_blocks: int = 16, metric="sharpe") -> PBOResult:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation
    (Bailey, Borwein, López de Prado and Zhu, 2015).

    The rows (time) are cut into ``n_blocks`` contiguous blocks of near-equal length
    (``numpy.array_split``: every row is used, the first blocks get one row more). For every
    choice of half of the blocks as the in-sample set (the other half out of sample,
    ``C(S, S/2)`` combinations), the run with the best in-sample metric is chosen and ranked
    among all ``N`` runs by the out-of-sample metric:

    * rank: 1 + the number of runs strictly worse out of sample + half the number of other runs
      tied with it (mid-rank, so ties count as half above and half below);
    * relative rank ``w = rank / (N + 1)``, in (0, 1); logit ``log(w / (1 - w))``;
    * PBO is the share of combinations with logit <= 0: the in-sample winner ranked at or
      below the median out of sample. About 0.5 when no run has an edge (choosing by the past
      is a coin toss), near 0 when the in-sample winner keeps winning.

    Ties in sample go to the first run (lowest column position), so the result is
    deterministic. A Sharpe ratio over a half where a run's returns never change is 0 if its
    mean is 0 (a flat run) and +/-inf otherwise.

    Parameters
    ----------
    returns : DataFrame or 2-D array, shape (time, runs)
        Per-period returns of each run, on a common clock (e.g. :func:`returns_matrix`).
    n_blocks : int
        ``S``: even, >= 2; each block needs at least ``MIN_BLOCK_ROWS`` rows. 16 gives 12,870
        combinations.
    metric : {"sharpe", "mean"} or callable
        ``"sharpe"``: mean / sample standard deviation (per period); ``"mean"``: mean return.
        A callable gets a (rows, runs) array of one half and returns one value per run (higher
        is better; evaluated once per half, so much slower than the built-ins).

    Returns
    -------
    PBOResult

    Raises
    ------
    ValueError
        ``n_blocks`` odd, < 2 or > :data:`MAX_BLOCKS`, fewer than 2 runs, fewer rows than ``MIN_BLOCK_ROWS`` per
        block, or runs with NaN or infinite returns (named).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> r = rng.normal(0.0, 0.01, size=(640, 20))
    >>> r[:, 7] += 0.01                                   # run 7 has an edge in every period
    >>> res = pbo(r, n_blocks=8)
    >>> res.pbo, int(res.chosen[0])
    (0.0, 7)
    """
    values, labels = _matrix(returns)
    n_rows, n_runs = values.shape
    check_blocks(n_blocks, "pbo: n_blocks")
    if n_runs < 2:
        raise ValueError(f"pbo: need at least 2 runs (columns) to rank, got {n_runs}")
    if n_rows < MIN_BLOCK_ROWS * n_blocks:
        raise ValueError(f"pbo: {n_rows} rows cannot make {n_blocks} blocks of at least {MIN_BLOCK_ROWS} "
                         f"rows; use fewer blocks or a finer sampling")
    bad = ~np.isfinite(values).all(axis=0)
    if bad.any():
        names = [str(x) for x in labels[bad][:5]]
        raise ValueError(f"pbo: {int(bad.sum())} run(s) have NaN or infinite returns (e.g. {names}); "
                         "drop them or fill the gaps first")
    combos = list(itertools.combinations(range(n_blocks), n_blocks // 2))
    if callable(metric):
        is_m, oos_m = _callable_metrics(values, n_blocks, combos, metric)
        name = getattr(metric, "__name__", "custom")
    elif metric in ("sharpe", "mean"):
        is_m, oos_m = None, None
        name = metric
    else:
        raise ValueError(f"pbo: metric must be 'sharpe', 'mean' or a callable, got {metric!r}")

    chosen = np.empty(len(combos), dtype=np.int64)
    rank = np.empty(len(combos))
    is_best = np.empty(len(combos))
    oos_best = np.empty(len(combos))
    blocks = _block_sums(values, n_blocks) if is_m is None else None
    for lo in range(0, len(combos), COMBINATION_CHUNK):
        part = slice(lo, lo + COMBINATION_CHUNK)
        if is_m is None:
            ins, outs = _builtin_metrics(blocks, combos[part], n_blocks, name)
        else:
            ins, outs = is_m[part], oos_m[part]
        c, r, i_best, o_best = _rank(ins, outs)
        chosen[part], rank[part], is_best[part], oos_best[part] = c, r, i_best, o_best
    w = rank / (n_runs + 1)
    logits = np.log(w / (1.0 - w))
    return PBOResult(pbo=float(np.mean(logits <= 0.0)), prob_oos_loss=float(np.mean(oos_best < 0.0)),
                     logits=logits, relative_rank=w, chosen=labels[chosen], is_metric=is_best,
                     oos_metric=oos_best, combinations=combos, n_blocks=int(n_blocks), n_runs=n_runs,
                     metric=name)


def _matrix(returns) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(returns, pd.DataFrame):
        values, labels = returns.to_numpy(dtype=float), np.asarray(returns.columns, dtype=object)
    else:
        values = np.asarray(returns, dtype=float)
        labels = np.arange(values.shape[1]) if values.ndim == 2 else None
    if values.ndim != 2:
        raise ValueError(f"pbo: returns must be 2-D (time x runs), got shape {values.shape}")
    return values, labels


def _block_sums(values: np.ndarray, n_blocks: int) -> tuple:
    """Per-block counts, sums and sums of squares (S x N) of the returns minus each run's overall
    mean: variances from these sums do not lose digits to a large mean."""
    center = values.mean(axis=0)
    d = values - center
    parts = np.array_split(np.arange(len(values)), n_blocks)
    counts = np.array([len(p) for p in parts], dtype=float)
    sums = np.stack([d[p].sum(axis=0) for p in parts])
    squares = np.stack([(d[p] ** 2).sum(axis=0) for p in parts])
    return counts, sums, squares, center


def _builtin_metrics(blocks, combos, n_blocks: int, metric: str):
    """(in-sample, out-of-sample) metric, each (combinations x runs), from the block sums: a
    half's sums are the indicator matrix of its blocks times the per-block sums, and the other
    half's are the totals minus those."""
    counts, sums, squares, center = blocks
    ind = np.zeros((len(combos), n_blocks))
    for i, c in enumerate(combos):
        ind[i, list(c)] = 1.0
    n_in = (ind @ counts)[:, None]
    s_in, q_in = ind @ sums, ind @ squares
    n_all, s_all, q_all = counts.sum(), sums.sum(axis=0), squares.sum(axis=0)
    out = []
    for n, s, q in ((n_in, s_in, q_in), (n_all - n_in, s_all - s_in, q_all - q_in)):
        mean = s / n
        if metric == "mean":
            out.append(mean + center)
            continue
        s *= mean  # s^2 / n: the part of the sum of squares explained by the mean
        np.subtract(q, s, out=q)
        np.maximum(q, 0.0, out=q)
        q /= n - 1
        flat = q == 0.0  # never changes over the half: 0 if flat at 0, else a sure gain/loss
        np.sqrt(q, out=q)
        mean += center
        q[flat] = 1.0
        sr = np.divide(mean, q, out=mean)
        if flat.any():
            sr[flat] = np.where(sr[flat] > 0, np.inf, np.where(sr[flat] < 0, -np.inf, 0.0))
        out.append(sr)
    return out[0], out[1]


def _callable_metrics(values, n_blocks, combos, metric):
    parts = np.array_split(np.arange(len(values)), n_blocks)
    n_runs = values.shape[1]
    ins = np.empty((len(combos), n_runs))
    outs = np.empty((len(combos), n_runs))
    for i, c in enumerate(combos):
        inside = set(c)
        rows_in = np.concatenate([parts[b] for b in c])
        rows_out = np.concatenate([parts[b] for b in range(n_blocks) if b not in inside])
        for target, rows in ((ins, rows_in), (outs, rows_out)):
            m = np.asarray(metric(values[rows]), dtype=float).ravel()
            if m.shape != (n_runs,):
                raise ValueError(f"pbo: the metric returned shape {m.shape} for {n_runs} runs; "
                                 "it must return one value per column")
            target[i] = m
    return ins, outs


def _rank(ins: np.ndarray, outs: np.ndarray):
    """Chosen run (first of the in-sample maxima), its mid-rank out of sample, and its two
    metrics. NaN metrics count as worse than any number (never chosen unless all are NaN)."""
    ins = np.where(np.isnan(ins), -np.inf, ins)
    outs = np.where(np.isnan(outs), -np.inf, outs)
    rows = np.arange(len(ins))
    chosen = np.argmax(ins, axis=1)  # first maximum: deterministic ties
    target = outs[rows, chosen][:, None]
    below = (outs < target).sum(axis=1)
    tied = (outs == target).sum(axis=1) - 1  # other runs only
    rank = 1.0 + below + 0.5 * tied
    return chosen, rank, ins[rows, chosen], outs[rows, chosen]
