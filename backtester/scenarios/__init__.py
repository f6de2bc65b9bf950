"""Stress scenarios: named, composable, seed-deterministic transforms of a dataset and config.

A :class:`Scenario` turns a :class:`Setup` (dataset, config, reorg events) into another; it
never modifies its input. ``a + b`` applies ``a`` then ``b``; :func:`apply` runs one (or a
list, or ``None`` for :data:`NORMAL`) on data and a config with a seed.

==========================  ===============================================================
scenario                    what it changes
==========================  ===============================================================
:class:`Outage`             latency trace ``up`` on a window (+ ``downtime_policy``)
:class:`LatencySpike`       trace order/ack/finality latency on a window
:class:`OracleDelay`        oracle row stamps (or ``oracle_delay`` for derived oracles)
:class:`Reorg`              ``Setup.reorgs``
:class:`BridgeDelay`        ``SimConfig.bridge_delay``
:class:`Slippage`           ``SimConfig.slippage_multiplier`` (constant or step series)
:class:`FundingShock`       funding ``rate`` (spike and/or flip)
:class:`PriceShock`         every price from a time on; trades removed during a gap
:class:`LiquidityDrought`   trades thinned (random) and shrunk on a window
``Incident.replay``         a dated incident of :data:`INCIDENTS` as an outage/latency spike
==========================  ===============================================================

Times are absolute UTC (``"2022-11-10 14:00"``) or a ``pd.Timedelta`` offset from the data's
first trade; see :mod:`backtester.scenarios.base`.

Examples
--------
>>> import backtester as bt, data_loaders as dl
>>> from backtester import scenarios as sc
>>> crash = sc.PriceShock("2022-11-10 00:00", -0.2) + sc.Outage("2022-11-10 00:00", "2h")
>>> crash.name
'crash -20% @ 2022-11-10 00:00 (5min gap) + outage 2h @ 2022-11-10 00:00'
>>> setup = sc.apply(crash, dl.sample(), bt.SimConfig(), seed=0)
>>> [s.name for s in sc.stress_suite()][:2]
['dYdX halt 2024-04-08 (9.5h) replayed @ 2022-11-10 12:00', 'dYdX halt 2025-10-10 (8h, stale oracle) replayed @ 2022-11-09 21:35']
"""
from .base import NORMAL, Composed, Scenario, Setup, apply, as_scenario, compose
from .incidents import INCIDENTS, UNKNOWN_TIME, Incident, Replay, by_name, stress_suite
from .market import FundingShock, LiquidityDrought, PriceShock, Slippage
from .venue import BridgeDelay, LatencySpike, OracleDelay, Outage, Reorg

__all__ = [
    "Setup", "Scenario", "Composed", "NORMAL", "apply", "compose", "as_scenario",
    "Outage", "LatencySpike", "OracleDelay", "Reorg", "BridgeDelay",
    "Slippage", "FundingShock", "PriceShock", "LiquidityDrought",
    "Incident", "INCIDENTS", "UNKNOWN_TIME", "Replay", "stress_suite", "by_name",
]
