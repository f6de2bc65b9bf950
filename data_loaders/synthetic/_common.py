"""Shared helpers of the synthetic generator: random streams, time parsing, AR(1) filtering.

Random streams
--------------
Every random quantity is drawn from a :class:`numpy.random.Generator` of its own, built from a
:class:`numpy.random.SeedSequence` child of the user's seed. A child is addressed by a *name*
(``("trades", "BTC-USD")``, ``("latency", "dydx")``, ...) turned into a ``spawn_key`` with CRC-32,
rather than by its position in a ``spawn(n)`` list. This is the same spawn-tree numpy uses, keyed
by name: adding, removing or reordering markets or venues leaves the draws of every other market
and venue unchanged, and funding generated alone (:func:`~.funding.synthetic_funding`) equals
the funding of a full :func:`~data_loaders.synthetic.synthetic` call with the same seed.
"""
from __future__ import annotations

import datetime as _dt
import zlib

import numpy as np
import pandas as pd
import pyarrow as pa

NS = 1_000_000_000  # nanoseconds per second
HOUR_NS = 3600 * NS
DAY_NS = 86400 * NS
SECONDS_PER_YEAR = 365.0 * 86400.0

#: tick and step (size increment) presets; dYdX v4 BTC-USD and ETH-USD figures
TICK_SIZES = {"BTC-USD": 1.0, "ETH-USD": 0.1}
STEP_SIZES = {"BTC-USD": 0.0001, "ETH-USD": 0.001}
START_PRICES = {"BTC-USD": 40_000.0, "ETH-USD": 2_500.0}
DEFAULT_START_PRICE = 100.0


def check_seed(seed) -> int:
    """The seed as a Python int >= 0 (the entropy of the root SeedSequence)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed: expected an integer >= 0, got {seed!r}")
    return int(seed)


def stream(seed: int, *names) -> np.random.Generator:
    """Generator of the stream addressed by ``names`` under ``seed`` (see module docstring)."""
    key = tuple(zlib.crc32(str(n).encode("utf-8")) for n in names)
    return np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=key))


# ----------------------------------------------------------------------------- time parsing
def to_timestamp(value, name: str = "start") -> pd.Timestamp:
    """A UTC timestamp from a string, datetime or Timestamp (naive means UTC)."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot read {value!r} as a timestamp ({exc})") from None
    if ts is pd.NaT:
        raise ValueError(f"{name}: NaT is not a timestamp")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def to_ns(value, name: str) -> int:
    """A duration in integer nanoseconds from '1s'/'250ms'/Timedelta/timedelta/seconds."""
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected a duration, got {value!r}")
    if isinstance(value, (int, float, np.integer, np.floating)):
        return int(round(float(value) * NS))
    try:
        td = pd.Timedelta(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot read {value!r} as a duration ({exc})") from None
    if td is pd.NaT:
        raise ValueError(f"{name}: NaT is not a duration")
    return int(td.value)


def is_offset(value) -> bool:
    """True if ``value`` reads as a duration (an offset) rather than a timestamp."""
    if isinstance(value, (pd.Timedelta, _dt.timedelta, np.timedelta64)):
        return True
    if isinstance(value, (pd.Timestamp, _dt.datetime, _dt.date, np.datetime64)):
        return False
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return True
    if isinstance(value, str):
        try:
            pd.Timedelta(value)
            return True
        except ValueError:
            return False
    return False


def describe_ns(ns: int) -> str:
    """Human-readable duration for metadata."""
    return str(pd.Timedelta(int(ns)))


# ----------------------------------------------------------------------------- per-market values
def per_key(value, keys, default, name: str) -> dict:
    """Resolve a scalar-or-dict parameter into ``{key: float}``.

    ``default`` is a scalar or a callable ``key -> value`` used for keys a dict leaves out.
    """
    out = {}
    for k in keys:
        if isinstance(value, dict):
            v = value[k] if k in value else (default(k) if callable(default) else default)
        elif value is None:
            v = default(k) if callable(default) else default
        else:
            v = value
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            raise TypeError(f"{name}[{k!r}]: expected a number, got {v!r}") from None
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(keys))
        if unknown:
            raise ValueError(f"{name}: keys {unknown} are not among {list(keys)}")
    return out


def tick_size(market: str, price: float) -> float:
    """Price tick: BTC-USD 1, ETH-USD 0.1, else 0.01 (finer for prices under 10)."""
    if market in TICK_SIZES:
        return TICK_SIZES[market]
    if price >= 10:
        return 0.01
    return float(10.0 ** (np.floor(np.log10(price)) - 4))


def step_size(market: str, price: float) -> float:
    """Size increment: BTC-USD 0.0001, ETH-USD 0.001, else about 1 USD of notional."""
    if market in STEP_SIZES:
        return STEP_SIZES[market]
    return float(10.0 ** (-np.ceil(np.log10(price))))


def round_to(x: np.ndarray, step: float, how: str) -> np.ndarray:
    """Round ``x`` down/up/nearest to a multiple of ``step``, without float residue."""
    q = x / step
    if how == "floor":
        k = np.floor(q + 1e-9)
    elif how == "ceil":
        k = np.ceil(q - 1e-9)
    else:
        k = np.rint(q)
    decimals = max(0, int(-np.floor(np.log10(step))) + 2)
    return np.round(k * step, decimals)


# ----------------------------------------------------------------------------- AR(1) filter
def halflife_phi(halflife: float) -> float:
    """AR(1) coefficient of a process whose deviations halve in ``halflife`` steps."""
    return float(np.exp(-np.log(2.0) / halflife)) if halflife > 0 else 0.0


def ar1(eps: np.ndarray, phi: float, x0=0.0) -> np.ndarray:
    """``x[t] = phi * x[t-1] + eps[t]`` along the last axis, with ``x[-1] = x0``.

    Vectorised in blocks: inside a block ``x[t] = phi**t * (phi*x0 + cumsum(eps * phi**-t))``;
    the block length keeps ``phi**-t`` below ``e**25`` so nothing overflows, and the cumulative
    rounding error stays around ``1e-16 * halflife`` relative.
    """
    eps = np.asarray(eps, dtype=np.float64)
    n = eps.shape[-1]
    if phi == 0.0 or n == 0:
        return eps.copy()
    if phi == 1.0:
        return np.cumsum(eps, axis=-1) + np.asarray(x0)[..., None]
    block = max(1, min(n, int(25.0 / -np.log(phi))))
    j = np.arange(block, dtype=np.float64)
    up, down = np.exp(-j * np.log(phi)), np.exp(j * np.log(phi))  # phi**-j, phi**j
    out = np.empty_like(eps)
    prev = np.asarray(x0, dtype=np.float64)
    for s in range(0, n, block):
        e = eps[..., s:s + block]
        m = e.shape[-1]
        x = down[:m] * (phi * prev[..., None] + np.cumsum(e * up[:m], axis=-1))
        out[..., s:s + m] = x
        prev = x[..., -1]
    return out


def stationary_ar1(rng: np.random.Generator, shape, phi: float, sd: float) -> np.ndarray:
    """A stationary AR(1) path with marginal standard deviation ``sd`` (started in equilibrium)."""
    shape = (shape,) if np.isscalar(shape) else tuple(shape)
    x0 = rng.standard_normal(shape[:-1]) * sd
    eps = rng.standard_normal(shape) * (sd * np.sqrt(1.0 - phi * phi))
    return ar1(eps, phi, x0)


# ----------------------------------------------------------------------------- arrow helpers
def ts_array(ns: np.ndarray) -> pa.Array:
    """int64 nanoseconds -> canonical ``timestamp[ns, tz=UTC]`` array."""
    return pa.array(np.asarray(ns, dtype=np.int64)).cast(pa.timestamp("ns", tz="UTC"))


def dur_array(ns: np.ndarray) -> pa.Array:
    """int64 nanoseconds -> ``duration[ns]`` array."""
    return pa.array(np.asarray(ns, dtype=np.int64)).cast(pa.duration("ns"))


def dict_array(codes: np.ndarray, names) -> pa.DictionaryArray:
    """Dictionary-encoded string column from integer codes into ``names``."""
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(codes, dtype=np.int32)),
                                          pa.array(list(names), type=pa.string()))


def merge_order(ts: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Global order by ``ts``, stable: equal timestamps keep group order, then row order."""
    return np.lexsort((np.arange(len(ts)), group, ts))
