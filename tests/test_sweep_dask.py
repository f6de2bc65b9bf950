"""`bt.sweep` on a Dask `LocalCluster` (two worker processes) gives the table of a local run."""
import warnings

import pandas as pd
import pytest

import data_loaders as dl
from backtester import scenarios as sc
from backtester.sweep import load, sweep
from strategies import MaCross

distributed = pytest.importorskip("distributed")

GRID = {"fast": [3, 6, 30], "slow": [20, 40], "leverage": [1.0, 3.0]}
SCENARIOS = [sc.NORMAL, sc.Slippage(4.0)]


def test_local_cluster_equals_local_run(tmp_path):
    data = dl.sample().slice("2022-11-09 12:00", "2022-11-09 18:00")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # fast >= slow runs raise on purpose
        local = sweep(MaCross, GRID, data, scenarios=SCENARIOS, progress=False)
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            remote = sweep(MaCross, GRID, data, scenarios=SCENARIOS, executor=client.get_executor(),
                           out=tmp_path / "dask", chunk_size=3, progress=False)
            ran_on = client.run(_cached_datasets)  # each worker memory-mapped the data once
    assert len(local) == 24 and (local["status"] == "error").sum() == 4
    pd.testing.assert_frame_equal(remote.drop(columns="elapsed_s"), local.drop(columns="elapsed_s"))
    assert len(load(tmp_path / "dask")) == 24
    assert set(ran_on.values()) <= {0, 1} and sum(ran_on.values()) >= 1


def _cached_datasets():
    from backtester.sweep import runner

    return len(runner._DATASETS)
