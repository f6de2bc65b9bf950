"""Funding-aware position sizing: the rule lives in :mod:`backtester.sizing`, re-exported here
for strategies (``from strategies.sizing import FundingAwareSizing`` keeps working).

Examples
--------
>>> import pandas as pd
>>> from strategies.sizing import FundingAwareSizing
>>> FundingAwareSizing(base_risk_cap=30_000).funding_risk_multiplier(pd.Series([0.0, 3.0])).tolist()
[1.0, 2.0]
"""
from backtester.sizing import FundingAwareSizing, funding_zscore, realized_vol

__all__ = ["FundingAwareSizing", "funding_zscore", "realized_vol"]
