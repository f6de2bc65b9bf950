"""Funding-aware position sizing, the rule of the seed texts:

    max_notional = base_risk_cap * volatility_adjuster / funding_risk_multiplier

``volatility_adjuster`` shrinks size when realised volatility is above its target and
``funding_risk_multiplier`` grows with the absolute z-score of the funding rate, so exposure
falls when funding gets choppy or diverges, even if price looks favourable. Vectorised
(pandas) so a strategy computes it once in ``init``; every value at ``t`` uses data up to ``t``.
The library's own (``backtester.analysis.funding_frame`` plots it); ``strategies.sizing``
re-exports it for strategies.

Examples
--------
>>> import pandas as pd
>>> from backtester.sizing import FundingAwareSizing
>>> rule = FundingAwareSizing(base_risk_cap=30_000, target_vol=0.6, z_threshold=1.0, z_slope=0.5)
>>> rule.funding_risk_multiplier(pd.Series([0.0, 1.0, 3.0])).tolist()
[1.0, 1.0, 2.0]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_YEAR = pd.Timedelta(days=365)


def funding_zscore(rates: pd.Series, window: int = 168, min_periods: int | None = None) -> pd.Series:
    """Z-score of each funding rate against the ``window`` rates before it (not including it).

    Using only earlier rates keeps the score free of the value it scores; NaN until
    ``min_periods`` (default ``window // 4``) earlier rates exist, 0 where they do not vary.
    """
    min_periods = max(2, window // 4) if min_periods is None else min_periods
    past = rates.shift(1).rolling(window, min_periods=min_periods)
    sd = past.std()
    z = (rates - past.mean()) / sd
    return z.where(sd > 0, 0.0).where(sd.notna())


def realized_vol(prices: pd.Series, window: int, periods_per_year: float) -> pd.Series:
    """Annualised standard deviation of log returns over the last ``window`` periods."""
    returns = np.log(prices).diff()
    return returns.rolling(window, min_periods=max(2, window // 2)).std() * np.sqrt(periods_per_year)


@dataclass(frozen=True)
class FundingAwareSizing:
    """``max_notional = base_risk_cap * volatility_adjuster / funding_risk_multiplier``.

    Parameters
    ----------
    base_risk_cap : float
        Notional (quote) allowed in calm conditions.
    target_vol : float
        Annualised volatility at which the volatility adjuster is 1; above it size shrinks in
        proportion (``target_vol / vol``), below it size is not increased beyond ``max_vol_boost``.
    max_vol_boost : float
        Cap of the volatility adjuster (1.0: never lever up in quiet markets).
    z_threshold : float
        Funding z-scores up to this size leave the multiplier at 1.
    z_slope : float
        Each unit of ``|z|`` beyond the threshold adds this much to the multiplier.
    z_window : int
        Funding rows in the z-score window (168 hourly rows: one week).
    """

    base_risk_cap: float
    target_vol: float = 0.6
    max_vol_boost: float = 1.0
    z_threshold: float = 1.0
    z_slope: float = 0.5
    z_window: int = 168

    def __post_init__(self):
        if self.base_risk_cap < 0 or self.target_vol <= 0 or self.max_vol_boost <= 0:
            raise ValueError("base_risk_cap >= 0, target_vol > 0 and max_vol_boost > 0 are required")
        if self.z_threshold < 0 or self.z_slope < 0:
            raise ValueError("z_threshold and z_slope must be >= 0")

    def funding_risk_multiplier(self, z: pd.Series) -> pd.Series:
        """``1 + z_slope * max(|z| - z_threshold, 0)``; 1 where the z-score is unknown."""
        excess = (z.abs() - self.z_threshold).clip(lower=0.0).fillna(0.0)
        return 1.0 + self.z_slope * excess

    def volatility_adjuster(self, vol: pd.Series) -> pd.Series:
        """``min(target_vol / vol, max_vol_boost)``; 1 where volatility is unknown."""
        adj = (self.target_vol / vol).clip(upper=self.max_vol_boost)
        return adj.where(vol > 0, self.max_vol_boost).fillna(1.0)

    def max_notional(self, vol: pd.Series, funding_z: pd.Series) -> pd.Series:
        """The cap at each time, from volatility and funding z-score series on one index."""
        return self.base_risk_cap * self.volatility_adjuster(vol) / self.funding_risk_multiplier(funding_z)

    def frame(self, prices: pd.Series, funding: pd.Series, every: str) -> pd.DataFrame:
        """Everything at once on the index of ``prices`` (decision-time prices, ``every`` apart):
        volatility, adjuster, funding rate and z-score (last known), multiplier and cap."""
        per_year = _YEAR / pd.Timedelta(every)
        vol = realized_vol(prices, window=max(2, int(pd.Timedelta("1D") / pd.Timedelta(every))),
                           periods_per_year=per_year)
        z = funding_zscore(funding, self.z_window)
        known = pd.DataFrame({"rate": funding, "z": z}).reindex(prices.index, method="ffill")
        out = pd.DataFrame({"vol": vol, "volatility_adjuster": self.volatility_adjuster(vol),
                            "funding_rate": known["rate"], "funding_z": known["z"]}, index=prices.index)
        out["funding_risk_multiplier"] = self.funding_risk_multiplier(out["funding_z"])
        out["max_notional"] = self.base_risk_cap * out["volatility_adjuster"] / out["funding_risk_multiplier"]
        return out
