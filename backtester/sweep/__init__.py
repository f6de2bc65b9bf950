"""Parameter sweeps: grids and random spaces over strategy parameters, config fields and
scenarios, run in this process, in worker processes or on a Dask cluster, resumable from a
Parquet folder; and the tables and plots to read them.

=======================  ===================================================================
:func:`sweep`            run the sweep; one row per run (params, scenario, seed, status, stats)
:class:`RandomSpace`     ``n`` random points instead of the full grid
:func:`best`             the best-N runs by a metric
:func:`heatmap`          a metric over two parameters (:func:`heatmap_table`: the numbers)
:func:`stability`        each parameter set against its grid neighbours and across scenarios
:func:`plot_stability`   the same as a scatter: isolated (overfit) peaks fall below the diagonal
:func:`load`             the table stored in an ``out`` folder
=======================  ===================================================================

On a Dask cluster
-----------------
Pass the client's executor; the data goes to the workers once, through files in ``out`` (which
must be on a file system every worker reads)::

    from distributed import Client
    client = Client("tcp://scheduler:8786")          # or Client(LocalCluster(n_workers=4))
    df = bt.sweep(MaCross, grid, data, executor=client.get_executor(), out="/shared/sweeps/ma")

Use one thread per worker process (``threads_per_worker=1``) and as many processes as cores:
the strategies' ``init`` and ``stats()`` are Python and hold the GIL, and runs of strategies
with ``on_decision`` take turns in a process. Strategy classes travel with cloudpickle; a class that uses other
notebook globals is safest defined in a module the workers can import.

Examples
--------
>>> import backtester as bt, data_loaders as dl
>>> from strategies import MaCross
>>> from backtester.sweep import best, heatmap
>>> df = bt.sweep(MaCross, {"fast": [10, 20], "slow": [60, 120]}, dl.sample("btcusdt-tape"),
...               progress=False)                                   # doctest: +SKIP
>>> best(df, "total_return", n=3)                                   # doctest: +SKIP
"""
from .analysis import (
           best,
           heatmap,
           heatmap_table,
           param_columns,
           plot_stability,
           stability,
)
from .core import sweep
from .space import RandomSpace, expand, route
from .store import load

__all__ = [
           "RandomSpace",
           "best",
           "expand",
           "heatmap",
           "heatmap_table",
           "load",
           "param_columns",
           "plot_stability",
           "route",
           "stability",
           "sweep",
]
