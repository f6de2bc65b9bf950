"""The bundled sample datasets (no network needed).

``sample()`` / ``sample("dydx-2022-11")``
    Six days, 2022-11-07 to 2022-11-12 (the FTX collapse), BTC-USD and ETH-USD. The funding is
    the **real** dYdX hourly funding of those hours (shipped in ``data_loaders/data``), so its
    spikes (BTC -3.0e-4 to +2.9e-5 per hour, ETH -3.4e-4 to +6.9e-5) are real. The trade tape,
    the oracle and the latency trace are **generated** by :func:`data_loaders.synthetic` with a
    fixed seed: an app-chain venue ``dydx`` with one 3-hour outage on 2022-11-09 from 14:00 UTC.
``sample("btcusdt-tape")``
    Six minutes of the **real** Binance USD-M BTCUSDT perpetual tape (2024-08-08 23:54:16 to
    23:59:59 UTC): 21,313 trades and 66,089 best bid/ask updates, named market ``BTC-USD`` so
    the same strategies run on both samples, with a generated app-chain latency trace.

See ``data_loaders/data/README.md`` for provenance and licences.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .dataset import Dataset
from .schemas import KINDS
from .loaders import load_book, load_funding, load_trades
from .synthetic import APP_CHAIN, Outage, synthetic

#: names accepted by :func:`sample`
SAMPLES = ("dydx-2022-11", "btcusdt-tape")
_ALIASES = {"default": "dydx-2022-11", None: "dydx-2022-11"}

_WINDOW = ("2022-11-07", "2022-11-13")  # [start, end): six days
_START_PRICES = {"BTC-USD": 20_900.0, "ETH-USD": 1_570.0}  # close of 2022-11-06, rounded
_SEED = 20221107


def data_path(name: str):
    """Path of a file shipped in ``data_loaders/data``."""
    return resources.files("data_loaders") / "data" / name


def sample(name: str = "default") -> Dataset:
    """Return a bundled sample :class:`Dataset`.

    Parameters
    ----------
    name : {'default', 'dydx-2022-11', 'btcusdt-tape'}
        ``'default'`` is ``'dydx-2022-11'``: six generated days of BTC-USD and ETH-USD with the
        real dYdX funding of 2022-11-07..12 and one venue outage. ``'btcusdt-tape'``: six real
        minutes of Binance BTCUSDT trades and book top.

    Returns
    -------
    Dataset
        ``meta["real"]`` and ``meta["generated"]`` list which tables are which. The result is
        cached per process (tables are immutable).

    Examples
    --------
    >>> from data_loaders import sample
    >>> ds = sample()
    >>> ds.meta["real"]
    ['funding']
    >>> sample("btcusdt-tape").trades.num_rows
    21313
    """
    key = _ALIASES.get(name, name)
    if key not in SAMPLES:
        raise ValueError(f"unknown sample {name!r}; expected one of {', '.join(('default',) + SAMPLES)}")
    return _build(key)


@functools.lru_cache(maxsize=None)
def _build(key: str) -> Dataset:
    return _disk_cached(key, _dydx_2022_11) if key == "dydx-2022-11" else _btcusdt_tape()


# ---------------------------------------------------------------- the generated sample on disk
#: environment variable naming the folder of the generated sample's cache ("off": no cache)
CACHE_ENV = "BACKTESTER_CACHE_DIR"
#: file that marks a complete cache entry written by this package (nothing else is touched)
_CACHE_MARK = "backtester-sample-cache.json"
_CACHE_FORMAT = 1


def cache_dir() -> Path | None:
    """Where the generated sample is kept between processes: ``$BACKTESTER_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/backtester``, else ``~/.cache/backtester``; None when the variable is
    ``off``. Generating the default sample takes ~0.8 s; reading it back ~0.1 s."""
    env = os.environ.get(CACHE_ENV)
    if env is not None:
        return None if env.strip().lower() == "off" else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "backtester"


def _stamp(key: str) -> str:
    """Hash of everything the generated sample comes from: this module, the generator and the
    schemas' sources, the shipped funding files, and numpy's version (its random streams)."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256(f"{key}|{_CACHE_FORMAT}|numpy {np.__version__}|pyarrow {pa.__version__}".encode())
    files = [here / "sample.py", here / "schemas.py", *sorted((here / "synthetic").glob("*.py")),
             *sorted((here / "data").glob("*funding_history.csv.gz"))]
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:20]


def _as_stored(ds: Dataset) -> Dataset:
    """``ds`` with ``markets`` and ``meta`` as JSON gives them back (tuples as lists), so a
    sample read from the cache and one just built are the same."""
    markets, meta = (json.loads(json.dumps(d, default=str)) for d in (ds.markets, ds.meta))
    return Dataset._of_valid({k: ds.table(k) for k in KINDS}, markets, meta)


def _disk_cached(key: str, build) -> Dataset:
    """``build()``, read from the cache folder when an entry of the same stamp is there, else
    built and written there (best effort: an unwritable folder only costs the rebuild)."""
    folder = cache_dir()
    if folder is None:
        return _as_stored(build())
    entry = folder / f"sample-{key}-{_stamp(key)}"
    mark = entry / _CACHE_MARK
    if mark.is_file():
        try:
            info = json.loads(mark.read_text())
            tables = {kind: pq.read_table(entry / f"{kind}.parquet") for kind in info["tables"]}
            return Dataset._of_valid(tables, info["markets"], info["meta"])
        except (OSError, ValueError, KeyError, pa.ArrowException):
            pass  # unreadable: build it again and write over it
    ds = _as_stored(build())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=folder))
        for kind in KINDS:
            pq.write_table(ds.table(kind), tmp / f"{kind}.parquet")
        (tmp / _CACHE_MARK).write_text(json.dumps({"tables": list(KINDS), "markets": ds.markets, "meta": ds.meta}))
        if mark.is_file():  # an unreadable entry of ours: replaced (nothing else is ever removed)
            shutil.rmtree(entry, ignore_errors=True)
        os.replace(tmp, entry)
        for old in folder.glob(f"sample-{key}-*"):  # our entries of earlier sources
            if old != entry and (old / _CACHE_MARK).is_file():
                shutil.rmtree(old, ignore_errors=True)
    except OSError:
        if "tmp" in locals():
            shutil.rmtree(tmp, ignore_errors=True)
    return ds


def real_dydx_funding(market: str, start=None, end=None):
    """The shipped real dYdX hourly funding of ``market`` ('BTC-USD' or 'ETH-USD'), 2022-2023.

    Examples
    --------
    >>> f = real_dydx_funding("BTC-USD", "2022-11-08", "2022-11-09")
    >>> f.num_rows
    24
    """
    base = {"BTC-USD": "BTC", "ETH-USD": "ETH"}.get(market)
    if base is None:
        raise ValueError(f"no real dYdX funding shipped for {market!r}; have BTC-USD, ETH-USD")
    path = data_path(f"{base}-USDT_dydx_2022-01-01_2024-01-01_funding_history.csv.gz")
    return load_funding(str(path), format="funding-csv", tz="UTC", interval="1h", market=market,
                        start=start, end=end)


def _dydx_2022_11() -> Dataset:
    import pyarrow as pa

    funding = pa.concat_tables([real_dydx_funding(m, *_WINDOW) for m in _START_PRICES])
    funding = funding.unify_dictionaries().combine_chunks()
    funding = funding.take(pa.array(pd.Series(funding.column("ts").to_numpy()).argsort(kind="stable")))
    days = (pd.Timestamp(_WINDOW[1]) - pd.Timestamp(_WINDOW[0])).days
    ds = synthetic(
        days=days, markets=tuple(_START_PRICES), start=_WINDOW[0], seed=_SEED,
        start_prices=_START_PRICES, funding=funding, venues={"dydx": APP_CHAIN},
        outages=[Outage("dydx", pd.Timestamp("2022-11-09 14:00", tz="UTC"), pd.Timedelta("3h"))],
    )
    meta = {
        **ds.meta,
        "name": "dydx-2022-11",
        "real": ["funding"],
        "generated": ["trades", "oracle", "latency"],
        "funding_source": "dYdX hourly funding 2022-11-07..12, supervik/historical-funding-rates-fetcher (MIT)",
    }
    return Dataset(trades=ds.trades, funding=ds.funding, oracle=ds.oracle, latency=ds.latency,
                   book=ds.book, markets=ds.markets, meta=meta)


def _btcusdt_tape() -> Dataset:
    trades = load_trades(str(data_path("BTCUSDT-trades-2024-08-08-2354.csv.gz")), format="binance",
                         market="BTC-USD")
    book = load_book(str(data_path("BTCUSDT-bookTicker-2024-08-08-2354.csv.gz")),
                     format="binance-bookticker", market="BTC-USD")
    first = pd.Timestamp(trades.column("ts")[0].value, tz="UTC").floor("min")
    venue = synthetic(days=10 / 1440, markets=("BTC-USD",), start=first, seed=_SEED,
                      trades_per_second=0.0, funding=False, venues={"dydx": APP_CHAIN},
                      trace_every="1s").latency
    meta = {
        "name": "btcusdt-tape",
        "real": ["trades", "book"],
        "generated": ["latency"],
        "source": "Binance USD-M BTCUSDT perpetual, 2024-08-08 23:54:16-23:59:59 UTC, "
                  "via nkaz001/hftbacktest examples (MIT)",
    }
    return Dataset(trades=trades, book=book, latency=venue,
                   markets={"BTC-USD": {"tick_size": 0.1, "step_size": 0.001, "source": "Binance BTCUSDT"}},
                   meta=meta)
