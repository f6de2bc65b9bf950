"""`bt.sweep`: rows equal to separate `bt.run`s, routing of grid names, errors recorded, resume
after an interrupt and after a kill, workers equal to one process, the results helpers, the CLI."""
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import backtester as bt
import data_loaders as dl
from backtester import scenarios as sc
from backtester.sweep import (
    RandomSpace,
    best,
    heatmap,
    heatmap_table,
    load,
    plot_stability,
    stability,
    sweep,
)
from backtester.cli import main as cli_main
from backtester.sweep import cli as sweep_cli
from strategies import MaCross
from strategies.trend import TrendFollowing

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GRID = {"fast": [3, 6, 30], "slow": [20, 40], "slippage_multiplier": [1.0, 4.0]}
SCENARIOS = [sc.NORMAL, sc.Outage("2022-11-09 13:00", "30min")]
# grids here include fast >= slow on purpose (recorded errors); their summary warning is expected
pytestmark = pytest.mark.filterwarnings("ignore:sweep. .* runs raised:RuntimeWarning")


@pytest.fixture(scope="module")
def data():
    # six hours around the sample's dYdX outage (14:00-17:00): fills, funding, a venue down
    return dl.sample().slice("2022-11-09 12:00", "2022-11-09 18:00")


@pytest.fixture(scope="module")
def local(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return sweep(MaCross, GRID, data, scenarios=SCENARIOS, progress=False)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.drop(columns="elapsed_s").reset_index(drop=True),
                                  b.drop(columns="elapsed_s").reset_index(drop=True))


# ============================================================================ equal to bt.run
def test_rows_equal_separate_runs(local, data):
    assert len(local) == 3 * 2 * 2 * 2
    assert list(local.columns[:8]) == ["run_id", "fast", "slow", "slippage_multiplier", "scenario", "seed",
                                       "status", "error"]
    assert local["run_id"].is_unique
    n_checked = 0
    for _, row in local.iterrows():
        scenario = SCENARIOS[[s.name for s in SCENARIOS].index(row["scenario"])]
        cfg = bt.SimConfig(slippage_multiplier=row["slippage_multiplier"])
        setup = sc.apply(scenario, data, cfg, seed=0)
        strategy = MaCross(fast=int(row["fast"]), slow=int(row["slow"]))
        if row["fast"] >= row["slow"]:  # MaCross refuses: recorded, not raised
            assert row["status"] == "error" and "must be shorter" in row["error"]
            assert math.isnan(row["total_return"])
            continue
        alone = bt.run(strategy, setup.data, setup.config, reorgs=setup.reorgs).stats()
        assert row["status"] == "ok" and row["error"] is None
        for metric, value in alone.items():
            got = row[metric]
            assert (got == value) or (math.isnan(got) and math.isnan(value)), (row["run_id"], metric, got, value)
        n_checked += 1
    assert n_checked == 20
    # the routed config field and the scenario both matter (else the comparison proves little)
    ok = local[local["status"] == "ok"]
    assert ok.groupby("slippage_multiplier")["slippage_cost"].sum().diff().iloc[-1] > 0
    assert ok.groupby("scenario")["final_equity"].apply(tuple).nunique() == 2


def test_thread_counts_and_batch_sizes_give_the_same_table(local, data):
    """The batched kernel calls are invisible in the table: 1 or 2 threads, batches of 4
    (one thread), 8 (two) or 3 (``chunk_size``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        one = sweep(MaCross, GRID, data, scenarios=SCENARIOS, n_threads=1, progress=False)
        small = sweep(MaCross, GRID, data, scenarios=SCENARIOS, n_threads=2, chunk_size=3, progress=False)
    _same(one, local)
    _same(small, local)
    ok = local[local["status"] == "ok"]
    assert (ok["elapsed_s"] > 0).all()  # each run's own seconds (no bound: speed is for benchmarks/)
    with pytest.raises(ValueError, match="n_threads"):
        sweep(MaCross, GRID, data, n_threads=0, progress=False)


def test_hybrid_strategy_rows_equal_separate_runs(data):
    grid = {"lookback": [6, 12], "trail": [0.002, 0.01]}
    df = sweep(TrendFollowing(every="5min"), grid, data, progress=False)
    assert (df["status"] == "ok").all()
    for _, row in df.iterrows():
        s = TrendFollowing(every="5min", lookback=int(row["lookback"]), trail=row["trail"])
        alone = bt.run(s, data).stats()
        assert row[alone.index].astype(float).equals(alone.astype(float))
    assert df["n_fills"].sum() > 0


def test_seeds_for_random_scenarios_only(data):
    drought = sc.LiquidityDrought("2022-11-09 15:00", "1h", keep=0.3)
    assert drought.random
    df = sweep(MaCross, {"fast": [3], "slow": [20]}, data, scenarios=[sc.NORMAL, drought], seeds=[4, 9],
               progress=False)
    assert list(zip(df["scenario"], df["seed"])) == [("normal", 4), (drought.name, 4), (drought.name, 9)]
    setup = sc.apply(drought, data, bt.SimConfig(), seed=9)
    alone = bt.run(MaCross(fast=3, slow=20), setup.data, setup.config).stats()
    assert df.iloc[2]["final_equity"] == alone["final_equity"]


# ============================================================================ routing
class Clash(MaCross):
    """A strategy with a parameter named like a SimConfig field."""

    params = {"latency_scale": 1.0}  # noqa: RUF012 - the Strategy convention


def test_routing_strategy_and_config(data):
    from backtester.sweep import route

    r = route(["fast", "margin_mode", "scenario", "config.latency_scale", "strategy.latency_scale"], Clash)
    assert r == {"fast": ("strategy", "fast"), "margin_mode": ("config", "margin_mode"),
                 "scenario": ("scenario", "scenario"), "config.latency_scale": ("config", "latency_scale"),
                 "strategy.latency_scale": ("strategy", "latency_scale")}
    with pytest.raises(ValueError, match="both a parameter of Clash and a SimConfig field.*'config.latency_scale'"):
        route(["latency_scale"], Clash)
    with pytest.raises(ValueError, match="did you mean 'fast'"):
        route(["fsat"], MaCross)
    with pytest.raises(ValueError, match="did you mean 'latency_scale'"):
        route(["latncy_scale"], MaCross)
    with pytest.raises(ValueError, match="SimConfig has no field 'fast'"):
        route(["config.fast"], MaCross)
    with pytest.raises(ValueError, match="named twice"):
        route(["leverage", "strategy.leverage"], MaCross)
    # every strategy takes its cadence as a parameter, declared or not
    assert route(["every"], MaCross) == {"every": ("strategy", "every")}


def test_grid_errors(data):
    with pytest.raises(TypeError, match=r"expected a list of values.*\[10\]"):
        sweep(MaCross, {"fast": 10}, data, progress=False)
    with pytest.raises(ValueError, match="is empty"):
        sweep(MaCross, {"fast": []}, data, progress=False)
    with pytest.raises(ValueError, match="not both"):
        sweep(MaCross, {"scenario": [sc.NORMAL]}, data, scenarios=[sc.NORMAL], progress=False)
    with pytest.raises(ValueError, match="margin_mode"):  # SimConfig rejects it before any run
        sweep(MaCross, {"margin_mode": ["crosss"]}, data, progress=False)
    with pytest.raises(TypeError, match="not MaCross\\(\\)"):
        sweep("MaCross", {"fast": [3]}, data, progress=False)
    with pytest.raises(ValueError, match="share the label"):
        sweep(MaCross, {"fast": [3]}, data, scenarios=[sc.Slippage(2.0), _Renamed(3.0)], progress=False)


class _Renamed(sc.Slippage):
    @property
    def name(self):
        return "slippage x2"


def test_grid_scenarios_and_instances(data, local):
    # "scenario" as a grid name, a strategy instance supplying the other params
    df = sweep(MaCross(slow=40), {"scenario": {"calm": sc.NORMAL, "slip": sc.Slippage(4.0)}, "fast": [6]},
               data, progress=False)
    assert list(df["scenario"]) == ["calm", "slip"]
    ref = local[(local["fast"] == 6) & (local["slow"] == 40) & (local["scenario"] == "normal")]
    assert df.iloc[0]["final_equity"] == ref[ref["slippage_multiplier"] == 1.0]["final_equity"].iloc[0]
    # a config field routed to the config: margin_mode isolated splits cash per market
    iso = sweep(MaCross, {"fast": [6], "slow": [40], "margin_mode": ["isolated"]}, data, progress=False)
    alone = bt.run(MaCross(fast=6, slow=40), data, bt.SimConfig(margin_mode="isolated")).stats()
    assert iso.iloc[0]["final_equity"] == alone["final_equity"]


def test_random_space_is_reproducible_and_in_range():
    space = RandomSpace({"fast": (2, 5), "leverage": (0.5, 2.0), "slow": [30, 60],
                         "rebalance_band": lambda rng: round(float(rng.choice([0.01, 0.05])), 2)}, n=40, seed=3)
    a, b = space.points(), RandomSpace(space.space, n=40, seed=3).points()
    assert a == b and a != RandomSpace(space.space, n=40, seed=4).points()
    assert all(isinstance(p["fast"], int) and 2 <= p["fast"] <= 5 for p in a)
    assert {p["fast"] for p in a} == {2, 3, 4, 5}  # both ends reachable
    assert all(0.5 <= p["leverage"] < 2.0 for p in a)
    assert {p["slow"] for p in a} == {30, 60} and {p["rebalance_band"] for p in a} <= {0.01, 0.05}
    from backtester.sweep import expand

    few = RandomSpace({"fast": [2, 3], "slow": [30]}, n=20, seed=0)
    runs = expand(MaCross, few).runs
    assert sorted(r.strategy_params["fast"] for r in runs) == [2, 3]  # repeated points run once
    with pytest.raises(ValueError, match="range"):
        RandomSpace({"fast": (5, 2)})


# ============================================================================ resume
_STOP = {"at": None}
_INITS = {"n": 0}


class Interruptible(MaCross):
    """MaCross that raises KeyboardInterrupt (as Ctrl-C would) at one parameter set."""

    def init(self, data):
        _INITS["n"] += 1
        if (self.fast, self.slow) == _STOP["at"]:
            raise KeyboardInterrupt
        if os.environ.get("SWEEP_TEST_SLEEP"):
            time.sleep(float(os.environ["SWEEP_TEST_SLEEP"]))
        super().init(data)


SMALL = {"fast": [3, 6, 30], "slow": [20, 40]}


def test_resume_after_interrupt(tmp_path, data):
    reference = sweep(Interruptible, SMALL, data, progress=False)
    out = tmp_path / "s"
    _STOP["at"] = (6, 20)  # the third run
    try:
        with pytest.raises(KeyboardInterrupt):
            sweep(Interruptible, SMALL, data, out=out, chunk_size=1, progress=False)
    finally:
        _STOP["at"] = None
    assert len(load(out)) == 2  # the runs before the interrupt were kept
    _INITS["n"] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        resumed = sweep(Interruptible, SMALL, data, out=out, progress=False)
    assert _INITS["n"] == 4  # 6 runs, 2 done: the errors of fast >= slow also count as runs
    _same(resumed, reference)
    stored = load(out)
    assert len(stored) == 6 and stored["run_id"].is_unique
    # again: nothing to do, same table
    _INITS["n"] = 0
    _same(sweep(Interruptible, SMALL, data, out=out, progress=False), reference)
    assert _INITS["n"] == 0
    # resume=False runs everything again
    sweep(Interruptible, SMALL, data, out=out, resume=False, progress=False)
    assert _INITS["n"] == 6 and len(load(out)) == 6


def test_resume_after_kill(tmp_path, data):
    out = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import data_loaders as dl
        from backtester.sweep import sweep
        from test_sweep import Interruptible, SMALL
        if __name__ == "__main__":
            data = dl.sample().slice("2022-11-09 12:00", "2022-11-09 18:00")
            sweep(Interruptible, SMALL, data, out={str(out)!r}, chunk_size=1, progress=False)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)]), "SWEEP_TEST_SLEEP": "1.0"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    runs = out / "runs"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(runs.glob("part-*.parquet"))) < 3:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_done = len(load(out))
    assert 3 <= n_done < 6
    (runs / ".part-999-dead.parquet.tmp").write_bytes(b"half a file")  # as a kill mid-write leaves
    _INITS["n"] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        resumed = sweep(Interruptible, SMALL, data, out=out, progress=False)
    assert _INITS["n"] == 6 - n_done
    _same(resumed, sweep(Interruptible, SMALL, data, progress=False))
    assert not list(runs.glob(".*.tmp")) and load(out)["run_id"].is_unique


def test_out_holding_another_sweep_is_refused(tmp_path, data):
    out = tmp_path / "s"
    sweep(MaCross, {"fast": [3], "slow": [20]}, data, out=out, progress=False)
    with pytest.raises(ValueError, match="another data"):
        sweep(MaCross, {"fast": [3], "slow": [20]}, data.slice("2022-11-09 13:00"), out=out, progress=False)
    with pytest.raises(ValueError, match="another strategy"):
        sweep(Interruptible, {"fast": [3], "slow": [20]}, data, out=out, progress=False)


# ============================================================================ workers
def test_two_workers_equal_one_process(local, data, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        par = sweep(MaCross, GRID, data, scenarios=SCENARIOS, n_jobs=2, out=tmp_path / "p", progress=False)
    _same(par, local)
    _same(load(tmp_path / "p").set_index("run_id").loc[local["run_id"]].reset_index(), local)
    assert len(list((tmp_path / "p" / "runs").glob("part-*.parquet"))) == 1  # compacted at the end
    assert not (tmp_path / "p" / ".backtester-shared").exists()  # the workers' copy of the data is removed


def test_a_class_workers_cannot_import_travels_by_value(local, data):
    class Local(MaCross):  # as if defined in a notebook cell: not importable by a worker
        pass

    assert "<locals>" in Local.__qualname__
    df = sweep(Local, {"fast": [3, 6], "slow": [40]}, data, n_jobs=2, chunk_size=1, progress=False)
    ref = local[(local["slow"] == 40) & (local["fast"] < 30) & (local["scenario"] == "normal")
                & (local["slippage_multiplier"] == 1.0)]
    assert list(df["status"]) == ["ok", "ok"]
    assert list(df["final_equity"]) == list(ref["final_equity"])


def test_errors_are_recorded_and_warned(data):
    with pytest.warns(RuntimeWarning, match="2 of 4 runs raised"):
        df = sweep(MaCross, {"fast": [6, 30], "slow": [20, 30]}, data, progress=False)
    assert list(df["status"]) == ["ok", "ok", "error", "error"]
    assert df.loc[2, "error"] == "ValueError: fast (30) must be shorter than slow (20)"
    assert df.loc[3, ["final_equity", "sharpe"]].isna().all()
    # a scenario that cannot apply fails its own runs only
    bad = sc.Outage("2030-01-01 00:00", "1h")
    with pytest.warns(RuntimeWarning):
        df = sweep(MaCross, {"fast": [6], "slow": [20]}, data, scenarios=[sc.NORMAL, bad], progress=False)
    assert list(df["status"]) == ["ok", "error"] and "outside the data" in df.loc[1, "error"]


# ============================================================================ results helpers
@pytest.fixture
def table():
    # 3 x 3 grid, two scenarios; the (2, 20) cell is an isolated peak under "a" only
    rows = []
    base = {(1, 10): 1.0, (1, 20): 1.2, (1, 30): 1.1, (2, 10): 1.1, (2, 20): 5.0, (2, 30): 1.0,
            (3, 10): 0.9, (3, 20): 1.0, (3, 30): 0.8}
    for (f, s), v in base.items():
        rows.append({"run_id": f"{f}{s}a", "fast": f, "slow": s, "scenario": "a", "seed": 0, "status": "ok",
                     "error": None, "sharpe": v, "max_drawdown": -0.1 * f})
        rows.append({"run_id": f"{f}{s}b", "fast": f, "slow": s, "scenario": "b", "seed": 0, "status": "ok",
                     "error": None, "sharpe": v - 1.0 if (f, s) != (2, 20) else -1.0, "max_drawdown": -0.2 * f})
    rows.append({"run_id": "bad", "fast": 9, "slow": 9, "scenario": "a", "seed": 0, "status": "error",
                 "error": "boom", "sharpe": np.nan, "max_drawdown": np.nan})
    return pd.DataFrame(rows)


def test_best(table):
    top = best(table, "sharpe", n=3)
    assert list(top["run_id"]) == ["220a", "120a", "130a"] and list(top.index) == [1, 2, 3]
    assert list(best(table, "sharpe", n=2, higher_is_better=False)["run_id"]) == ["220b", "330b"]
    # drawdowns are negative: the best is the closest to zero
    assert list(best(table, "max_drawdown", n=3)["run_id"]) == ["110a", "120a", "130a"]
    assert "bad" not in set(best(table, "sharpe", n=100)["run_id"])
    with pytest.raises(KeyError, match="sharpee"):
        best(table, "sharpee")


def test_heatmap(table):
    t = heatmap_table(table, "fast", "slow", "sharpe")
    assert list(t.index) == [10, 20, 30] and list(t.columns) == [1, 2, 3]
    assert t.loc[20, 2] == pytest.approx((5.0 - 1.0) / 2)
    assert t.loc[10, 1] == pytest.approx((1.0 + 0.0) / 2)
    assert heatmap_table(table, "fast", "slow", "sharpe", agg="max").loc[20, 2] == 5.0
    fig = heatmap(table, "fast", "slow", "sharpe")
    assert fig.axes[0].get_xlabel() == "fast" and len(fig.axes[0].texts) == 9


def test_stability_shows_the_isolated_peak(table):
    st = stability(table, "sharpe", params=["fast", "slow"])
    st = st.set_index(["fast", "slow"])
    peak = st.loc[(2, 20)]
    assert peak["sharpe"] == pytest.approx(2.0)  # mean of 5 (a) and -1 (b)
    # neighbours one step away: (1,20) (3,20) (2,10) (2,30), each averaged over scenarios
    nb = [(1.2 + 0.2) / 2, (1.0 + 0.0) / 2, (1.1 + 0.1) / 2, (1.0 + 0.0) / 2]
    assert peak["n_neighbours"] == 4
    assert peak["neighbour_mean"] == pytest.approx(np.mean(nb))
    assert peak["neighbour_min"] == pytest.approx(min(nb))
    assert peak["drop"] == pytest.approx(2.0 - np.mean(nb))
    assert peak["scenario_spread"] == pytest.approx(6.0) and peak["n_scenarios"] == 2
    corner = st.loc[(1, 10)]
    assert corner["n_neighbours"] == 2 and corner["scenario_spread"] == pytest.approx(1.0)
    assert st["drop"].idxmax() == (2, 20)
    # k nearest neighbours in rank space: the corner's two nearest are its grid neighbours
    knn = stability(table, "sharpe", params=["fast", "slow"], k=2).set_index(["fast", "slow"])
    assert knn.loc[(1, 10), "neighbour_mean"] == pytest.approx(corner["neighbour_mean"])
    assert plot_stability(table, "sharpe", params=["fast", "slow"]).axes


def test_stability_on_a_sweep_table(local):
    st = stability(local, "total_return")  # params found from the sweep's own columns
    assert list(st.columns[:3]) == ["fast", "slow", "slippage_multiplier"]
    assert len(st) == 5 * 2  # the (30, 20) sets failed everywhere and drop out
    assert (st["n_scenarios"] == 2).all()


# ============================================================================ CLI
def test_cli_toml_and_yaml(tmp_path, capsys):
    toml = tmp_path / "s.toml"
    toml.write_text(textwrap.dedent("""
        strategy = "ma-cross"
        metric = "total_return"
        top = 3
        scenarios = ["normal"]
        [params]
        leverage = 2.0
        [grid]
        fast = [3, 6]
        slow = [20]
        slippage_multiplier = [1.0, 2.0]
        [data]
        sample = "default"
        slice = ["2022-11-09 12:00", "2022-11-09 18:00"]
    """))
    out = tmp_path / "o"
    assert cli_main(["sweep", str(toml), "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "best 3 by total_return" in text and "4 runs, 0 raised" in text
    df = pd.read_csv(out / "sweep.csv")
    assert len(df) == 4 and set(df["slippage_multiplier"]) == {1.0, 2.0}
    data = dl.sample().slice("2022-11-09 12:00", "2022-11-09 18:00")
    alone = bt.run(MaCross(fast=3, slow=20, leverage=2.0), data, bt.SimConfig(slippage_multiplier=2.0)).stats()
    row = df[(df["fast"] == 3) & (df["slippage_multiplier"] == 2.0)].iloc[0]
    assert row["total_return"] == pytest.approx(alone["total_return"], rel=1e-12)

    yaml_file = tmp_path / "s.yaml"
    yaml_file.write_text(textwrap.dedent("""
        strategy: strategies.ma_cross:MaCross
        random: {n: 3, seed: 1, space: {fast: {low: 2, high: 8}, slow: [20, 30]}}
    """))
    assert cli_main(["sweep", str(yaml_file), "--sample", "btcusdt-tape", "--out", str(tmp_path / "y"),
                     "--quiet", "--top", "2", "--n-threads", "1"]) == 0
    assert "best 2 by sharpe" in capsys.readouterr().out


def test_cli_errors(tmp_path, capsys):
    f = tmp_path / "bad.toml"
    f.write_text('strategy = "ma-crosss"\n[grid]\nfast = [3]\n')
    assert cli_main(["sweep", str(f), "--sample", "btcusdt-tape", "--out", str(tmp_path / "o")]) == 2
    assert "did you mean 'ma-cross'" in capsys.readouterr().err
    f.write_text('strategy = "ma-cross"\n[grid]\nfsat = [3]\n')
    assert cli_main(["sweep", str(f), "--sample", "btcusdt-tape", "--out", str(tmp_path / "o")]) == 2
    assert "did you mean 'fast'" in capsys.readouterr().err
    f.write_text('strategy = "ma-cross"\ngird = 1\n')
    assert cli_main(["sweep", str(f)]) == 2
    assert "did you mean 'grid'" in capsys.readouterr().err
    assert cli_main(["sweep", str(tmp_path / "missing.toml")]) == 2
    f.write_text('strategy = "ma-cross"\n[grid]\nfast = [3]\n')
    assert cli_main(["sweep", str(f), "--sample", "btcusdt-tape", "--out", str(tmp_path / "o"),
                     "--n-threads", "0"]) == 2
    assert "n_threads must be a positive int" in capsys.readouterr().err


def test_example_files_parse():
    for name in ("sweep_ma_cross.toml", "sweep_ma_cross.yaml"):
        spec = sweep_cli.read_spec(ROOT / "examples" / name)
        grid = sweep_cli.grid_of(spec)
        from backtester.sweep import expand

        assert len(expand(MaCross, grid).runs) >= 20


def test_workers_get_the_data_by_path_not_by_value(tmp_path):
    import pyarrow as pa

    from backtester.sweep import runner

    full = dl.sample()  # ~1.5 M rows: copying it would show in Arrow's allocator
    shared = runner.share(full, tmp_path)
    before = pa.total_allocated_bytes()
    loaded = runner._read(Path(shared.path))
    assert pa.total_allocated_bytes() - before < 1_000_000  # memory-mapped, not read into memory
    for kind in ("trades", "funding", "oracle", "latency", "book"):
        assert loaded.table(kind).equals(full.table(kind)), kind
    assert runner.dataset_digest(loaded) == shared.digest
    assert runner.share(full, tmp_path) == shared  # written once, then reused
    group = runner.Group("k", bt.SimConfig(), sc.NORMAL, 0)
    task = runner.Task(shared, group, MaCross, {}, (("id", {"fast": 3}),))
    assert len(runner.pack(task)) < 5_000
