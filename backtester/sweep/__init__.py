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
:func:`returns_matrix`   every run's returns between equity samples (time x runs)
:func:`pbo`              probability of backtest overfitting (CSCV) of such a matrix
:func:`walk_forward`     sweep a training window, trade the winner on the next, stitch (flat
                         or ``carry=True``: one account); :class:`WalkForwardResult`
:func:`winner_ranks`     rank of the winner on one scenario under every scenario of a sweep
:func:`plot_pbo_logits`  PBO logit histogram (:func:`plot_is_vs_oos`: in vs out of sample;
                         :func:`plot_walk_forward`: stitched out-of-sample equity, fold starts;
                         :func:`plot_scenario_ranks`: the winner's rank by scenario)
:func:`deflated_sharpe`  the best run's Sharpe ratio, deflated for the number of trials
                         (:func:`probabilistic_sharpe`, :func:`expected_max_sharpe`,
                         :func:`sharpe_moments`: see :mod:`backtester.sweep.overfit`)
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
from .overfit import (
           PBOResult,
           deflated_sharpe,
           expected_max_sharpe,
           pbo,
           probabilistic_sharpe,
           sharpe_moments,
)
from .overfit_plots import plot_is_vs_oos, plot_pbo_logits, plot_scenario_ranks, plot_walk_forward
from .returns import returns_matrix
from .space import RandomSpace, expand, route
from .store import load
from .walkforward import WalkForwardResult, fold_windows, walk_forward, winner_ranks

__all__ = [
           "PBOResult",
           "RandomSpace",
           "WalkForwardResult",
           "best",
           "deflated_sharpe",
           "expand",
           "expected_max_sharpe",
           "fold_windows",
           "heatmap",
           "heatmap_table",
           "load",
           "param_columns",
           "pbo",
           "plot_is_vs_oos",
           "plot_pbo_logits",
           "plot_scenario_ranks",
           "plot_stability",
           "plot_walk_forward",
           "probabilistic_sharpe",
           "returns_matrix",
           "route",
           "sharpe_moments",
           "stability",
           "sweep",
           "walk_forward",
           "winner_ranks",
]
