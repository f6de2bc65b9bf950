"""Synthetic funding rates calibrated to dYdX hourly funding.

The hourly rate is a sum of independent mean-zero parts around a constant mean::

    rate = mean + regime + slow + fast + spikes,  then clipped to +-cap

* ``regime`` and ``slow``: Gaussian AR(1) parts with half-lives of 30 days and about 4 days
  (the bull/bear drift of the premium and its weekly swings);
* ``fast``: an AR(1) part with a 3-hour half-life whose shocks are scaled by a log-normal
  stochastic scale (half-life 2 days), so calm and hectic weeks alternate;
* ``spikes``: rare Laplace jumps (about one every 8 days) that decay with a 1.5-hour half-life
  (liquidation cascades, squeezes).

The variance shares (0.25 / 0.20 / 0.37 / 0.18) and half-lives were fitted by hand to the dYdX
BTC-USD hourly funding of 2022-2023 (``data_loaders/data``): mean 5.3e-6, sd 2.4e-5, min -3.0e-4,
max 5.9e-4, autocorrelation 0.85 at 1 h, 0.46 at 24 h, 0.29 at 1 week, 0.13 at 30 days, and the
standard deviation of daily / weekly / 30-day means (1.9e-5 / 1.6e-5 / 1.5e-5). The generated
process reproduces mean and sd by construction (in the long run) and these autocorrelations
and aggregate standard deviations to within about 0.03 and 20 %; its kurtosis (about 20) is
below the real 40. A consequence of the realistic persistence: one year's mean rate varies
from seed to seed with a standard deviation of about 6e-6 (the real 2022 and 2023 means were
-3e-6 and +1.4e-5), so the calibration holds over runs of decades, not of any single year.

Funding is generated independently of the price paths, from its own stream per market.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa

from ..validate import conform
from ._common import (DAY_NS, HOUR_NS, check_seed, dict_array, dur_array, halflife_phi, merge_order,
                      stationary_ar1, ar1, stream, to_ns, to_timestamp, ts_array)


@dataclass(frozen=True)
class FundingModel:
    """Parameters of the synthetic hourly funding rate of one market.

    Rates are per hour (``mean``, ``sd``, ``cap``); half-lives in hours. ``cap`` is the clamp on
    the 1-hour rate: dYdX v4 clamps the 8-hour rate to ``+-6 * (IMF - MMF)``, i.e. the hourly rate
    to ``+-0.75 * (IMF - MMF)``: 0.006 for BTC/ETH (IMF 0.02, MMF 0.012), 0.015 for mid caps
    (0.05 / 0.03), 0.075 for the long tail (0.20 / 0.10).
    """

    mean: float = 5.3e-6
    sd: float = 2.4e-5
    cap: float = 0.006
    regime_share: float = 0.25
    regime_halflife: float = 720.0
    slow_share: float = 0.20
    slow_halflife: float = 100.0
    fast_halflife: float = 3.0
    fast_scale_sd: float = 0.7
    fast_scale_halflife: float = 48.0
    spike_share: float = 0.18
    spikes_per_day: float = 0.12
    spike_halflife: float = 1.5

    def __post_init__(self):
        shares = (self.regime_share, self.slow_share, self.spike_share)
        if min(shares) < 0 or sum(shares) > 1:
            raise ValueError("FundingModel: variance shares must be >= 0 and sum to at most 1")
        if self.sd < 0 or self.cap <= 0 or self.spikes_per_day < 0 or self.fast_scale_sd < 0:
            raise ValueError("FundingModel: sd, spikes_per_day, fast_scale_sd must be >= 0 and cap > 0")

    @property
    def fast_share(self) -> float:
        return 1.0 - self.regime_share - self.slow_share - self.spike_share

    @staticmethod
    def cap_for(imf: float, mmf: float) -> float:
        """Hourly cap implied by dYdX v4's 8-hour clamp ``6 * (imf - mmf)``."""
        return 6.0 * (imf - mmf) / 8.0


#: dYdX BTC-USD 2022-2023 (see the module docstring)
BTC_FUNDING = FundingModel()
#: dYdX ETH-USD 2022-2023: mean 4.3e-6, sd 3.4e-5, min -7.7e-4, max 9.4e-4 (fatter spikes)
ETH_FUNDING = FundingModel(mean=4.3e-6, sd=3.4e-5, spike_share=0.25, spikes_per_day=0.1,
                           fast_halflife=2.5)
#: markets without a calibration: ETH's shape with the mid-cap clamp (IMF 0.05, MMF 0.03)
DEFAULT_FUNDING = replace(ETH_FUNDING, cap=FundingModel.cap_for(0.05, 0.03))
FUNDING_MODELS = {"BTC-USD": BTC_FUNDING, "ETH-USD": ETH_FUNDING}


def hourly_rates(model: FundingModel, n: int, rng: np.random.Generator, step_hours: float = 1.0) -> np.ndarray:
    """``n`` consecutive funding rates for steps of ``step_hours``, as 1-hour rates (unclipped).

    Half-lives and the spike frequency are converted to steps, so a finer step gives the same
    process sampled more often.
    """
    out = np.full(n, model.mean)
    if n == 0:
        return out
    var = model.sd ** 2

    def phi(hours):
        return halflife_phi(hours / step_hours)

    for share, hl in ((model.regime_share, model.regime_halflife), (model.slow_share, model.slow_halflife)):
        out += stationary_ar1(rng, n, phi(hl), np.sqrt(share * var))
    # fast part with a stochastic scale exp(h - s**2), E[scale**2] = 1
    s = model.fast_scale_sd
    h = stationary_ar1(rng, n, phi(model.fast_scale_halflife), s)
    pf = phi(model.fast_halflife)
    sd_f = np.sqrt(max(model.fast_share, 0.0) * var)
    x0 = rng.standard_normal() * sd_f
    out += ar1(rng.standard_normal(n) * np.exp(h - s * s) * sd_f * np.sqrt(1 - pf * pf), pf, x0)
    # spikes: Bernoulli(p) arrivals of Laplace(b) shocks, AR(1) decay
    p = min(model.spikes_per_day * step_hours / 24.0, 1.0)
    pj = phi(model.spike_halflife)
    u, lap = rng.random(n), rng.laplace(0.0, 1.0, n)
    if p > 0 and model.spike_share > 0:
        b = np.sqrt(model.spike_share * var * (1 - pj * pj) / (2 * p))
        out += ar1(np.where(u < p, lap * b, 0.0), pj, 0.0)
    return out


def funding_times(start_ns: int, end_ns: int, interval_ns: int) -> np.ndarray:
    """Clock-aligned funding times ``t`` (multiples of the interval since the epoch) with
    ``start <= t < end``; a row at ``t`` pays the interval that ends at ``t``."""
    first = -(-start_ns // interval_ns) * interval_ns
    return np.arange(first, end_ns, interval_ns, dtype=np.int64)


def funding_rates(market: str, start_ns: int, end_ns: int, seed: int, interval_ns: int = HOUR_NS,
                  model: FundingModel | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(times, rates) of one market: one rate per ``interval`` at clock-aligned times.

    For intervals that are whole hours the hourly rates are clipped to the cap and summed over
    the interval (as 8-hour venues accrue the average premium); otherwise the process runs on
    the interval's own grid and each rate is ``interval / 1h`` times the 1-hour rate.
    """
    model = model or FUNDING_MODELS.get(market, DEFAULT_FUNDING)
    ts = funding_times(start_ns, end_ns, interval_ns)
    if interval_ns % HOUR_NS == 0:
        k, step_hours = interval_ns // HOUR_NS, 1.0
    else:
        k, step_hours = 1, interval_ns / HOUR_NS
    rng = stream(seed, "funding", market)
    per_step = hourly_rates(model, len(ts) * k, rng, step_hours)
    per_step = np.clip(per_step, -model.cap, model.cap) * step_hours
    return ts, per_step.reshape(len(ts), k).sum(axis=1)


def funding_table(markets, start_ns: int, end_ns: int, seed: int, interval_ns: int = HOUR_NS,
                  models: dict | None = None, oracle_price=None) -> pa.Table:
    """Canonical funding table of several markets, rows interleaved in time order.

    ``oracle_price`` is an optional callable ``(market, ts_ns) -> prices``; without it the
    column is null.
    """
    models = models or {}
    unknown = sorted(set(models) - set(markets))
    if unknown:
        raise ValueError(f"funding models given for {unknown}, which are not among {list(markets)}")
    parts = [funding_rates(m, start_ns, end_ns, seed, interval_ns, models.get(m)) for m in markets]
    ts = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    rate = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)
    code = np.repeat(np.arange(len(markets)), [len(p[0]) for p in parts])
    if oracle_price is not None:
        px = np.concatenate([oracle_price(m, p[0]) for m, p in zip(markets, parts)])
        px_arr = pa.array(px, type=pa.float64())
    else:
        px_arr = pa.nulls(len(ts), type=pa.float64())
    order = merge_order(ts, code)
    table = pa.table({
        "ts": ts_array(ts[order]),
        "market": dict_array(code[order], markets),
        "rate": pa.array(rate[order]),
        "interval": dur_array(np.full(len(ts), interval_ns, dtype=np.int64)),
        "oracle_price": px_arr.take(pa.array(order)),
    })
    return conform(table, "funding", source="data_loaders.synthetic (funding)")


def synthetic_funding(days=365, markets=("BTC-USD",), start="2024-01-01", seed=0, *, interval="1h",
                      models=None) -> pa.Table:
    """Funding only: the funding table :func:`~data_loaders.synthetic.synthetic` would generate
    with the same ``days``, ``start``, ``seed`` and interval, without prices (cheap for decades).

    Parameters
    ----------
    days : float
        Span; rows at clock-aligned interval boundaries ``t`` with ``start <= t < start + days``.
    markets : sequence of str
    start : str or Timestamp
        Naive means UTC.
    seed : int
    interval : str or Timedelta
        Funding interval, default ``"1h"`` (dYdX v4).
    models : dict, optional
        market -> :class:`FundingModel`; defaults :data:`FUNDING_MODELS` (BTC-USD, ETH-USD) and
        :data:`DEFAULT_FUNDING` for other markets.

    Returns
    -------
    pyarrow.Table
        Canonical funding table with a null ``oracle_price``.

    Examples
    --------
    >>> from data_loaders.synthetic import synthetic_funding
    >>> f = synthetic_funding(days=30, seed=3)
    >>> f.num_rows
    720
    >>> bool(abs(f.column("rate").to_numpy()).max() < 0.006)
    True
    """
    from .prices import _markets, n_seconds

    markets = _markets(markets)
    seed = check_seed(seed)
    start_ns = to_timestamp(start).value
    end_ns = start_ns + int(round(float(days) * DAY_NS))
    n_seconds(days)  # validates days
    interval_ns = to_ns(interval, "interval")
    if interval_ns <= 0:
        raise ValueError(f"interval: expected a positive duration, got {interval!r}")
    return funding_table(markets, start_ns, end_ns, seed, interval_ns, models)


__all__ = ["FundingModel", "FUNDING_MODELS", "BTC_FUNDING", "ETH_FUNDING", "DEFAULT_FUNDING",
           "funding_rates", "funding_table", "synthetic_funding", "hourly_rates"]
