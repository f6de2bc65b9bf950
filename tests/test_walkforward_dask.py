"""`walk_forward` with its training sweeps on a Dask `LocalCluster` (two worker processes)
gives the result of a local run, flat and carried, under two scenarios."""
import warnings

import pandas as pd
import pytest

import data_loaders as dl
from backtester import scenarios as sc
from backtester.sweep import walk_forward
from strategies import MaCross

distributed = pytest.importorskip("distributed")

GRID = {"fast": [3, 6], "slow": [20, 40]}
SCENARIOS = [sc.NORMAL, sc.Slippage(4.0)]
WINDOWS = dict(train="3h", test="2h", start=pd.Timestamp("2022-11-08 00:00", tz="UTC"))

pytestmark = pytest.mark.filterwarnings("ignore::backtester.RejectedOrdersWarning")


def test_local_cluster_equals_local_walk_forward(tmp_path):
    data = dl.sample().slice("2022-11-08 00:00", "2022-11-08 10:00")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        local = {carry: walk_forward(MaCross, GRID, data, scenarios=SCENARIOS, carry=carry, **WINDOWS)
                 for carry in (False, True)}
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            remote = {carry: walk_forward(MaCross, GRID, data, scenarios=SCENARIOS, carry=carry,
                                          executor=client.get_executor(), out=tmp_path / f"dask-{carry}", **WINDOWS)
                      for carry in (False, True)}
    for carry in (False, True):
        assert len(local[carry].folds) == 3
        pd.testing.assert_frame_equal(remote[carry].folds, local[carry].folds)
        pd.testing.assert_series_equal(remote[carry].equity, local[carry].equity)
    assert local[True].ranks.shape == (3, 2)
