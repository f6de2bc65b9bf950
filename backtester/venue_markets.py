"""Market definitions from a venue's own parameters, as fetched into a data store.

``data_loaders`` keeps the parameters it fetched as plain dicts (``Dataset.markets``: ``imf``,
``mmf``, ``tick_size``, ``step_size``, ``venue``; dYdX v4 from ``/v4/perpetualMarkets``,
Hyperliquid from its ``meta``); this module turns them into :class:`backtester.Market`
objects, so that a run's margins are the venue's rather than the presets by name. Fees,
spread and impact keep the :class:`~backtester.Market` defaults.

Examples
--------
>>> import backtester as bt
>>> from backtester.venue_markets import venue_markets
>>> m = venue_markets({"SOL-USD": {"venue": "dydx", "imf": 0.05, "mmf": 0.03, "tick_size": 0.01}})
>>> m["SOL-USD"].imf, m["SOL-USD"].tier
(0.05, 'given')
>>> cfg = bt.SimConfig(markets=m)
"""
from __future__ import annotations

from .market import Market


def venue_markets(specs: dict, names=None, **overrides) -> dict[str, Market]:
    """``{name: Market}`` of the specs that carry margin fractions.

    Parameters
    ----------
    specs : dict
        ``{name: {"imf": ..., "mmf": ..., "venue": ...}}``, e.g. ``Dataset.markets`` of a
        dataset read from a store. Specs without ``imf`` and ``mmf`` (Binance dumps carry
        none) are left out: those markets keep the presets by name.
    names : iterable of str, optional
        Only these markets (e.g. ``ds.markets_traded``).
    **overrides
        Fields set on every market (``taker_fee=0.0003``).

    Raises
    ------
    ValueError
        Naming the market when its fractions are not ``0 < mmf < imf <= 1``.
    """
    wanted = None if names is None else set(names)
    out = {}
    for name, spec in specs.items():
        if wanted is not None and name not in wanted:
            continue
        if not isinstance(spec, dict) or spec.get("imf") is None or spec.get("mmf") is None:
            continue
        venue = spec.get("venue") or "dydx"
        try:
            out[name] = Market(name, venue=venue, imf=float(spec["imf"]), mmf=float(spec["mmf"]), **overrides)
        except ValueError as exc:
            raise ValueError(f"{venue} parameters of {name} ({spec.get('source', 'fetched')}): {exc}") from None
    return out
