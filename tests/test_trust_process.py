"""Processes, sweeps and runs (issue 12): a sweep never deletes what it did not make, never
runs what is not a strategy, never trusts a changed copy of the data, never shares an ``out``
folder and leaves no process behind; identical runs give identical bytes; a run may start
another on any thread; the dependencies exclude known-vulnerable versions.

Grouped by class: the out folder, the sweep file, the shared dataset, concurrency, processes,
runs, packaging.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

import data_loaders as dl
from backtester import cli
from backtester.sweep import core, load
from backtester.sweep.runner import SharedData, dataset_digest, remove_shared, share
from backtester.sweep.store import LOCK_FILE, SHARED_DIR, RunStore
from strategies import MaCross

ROOT = Path(__file__).resolve().parents[1]
GRID = {"fast": [3, 5], "slow": [20]}


@pytest.fixture(scope="module")
def tape():
    return dl.sample("btcusdt-tape").slice(None, "2024-08-08 23:57")


def _sweep(tape, out, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return core.sweep(MaCross, GRID, tape, out=out, progress=False, **kw)


# ============================================================================ the out folder
def test_a_folder_of_the_users_is_refused_and_left_as_it_was(tape, tmp_path):
    project = tmp_path / "project"
    (project / "_data").mkdir(parents=True)
    (project / "_data" / "prices.csv").write_text("mine")
    (project / "notes.txt").write_text("mine too")
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    with pytest.raises(ValueError, match="holds other files and no sweep"):
        _sweep(tape, project)
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before
    assert (project / "_data" / "prices.csv").read_text() == "mine"


def test_a_file_as_out_is_refused(tape, tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        _sweep(tape, tmp_path / "f")


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_a_sweep_removes_only_the_shared_files_it_wrote(tape, tmp_path, n_jobs):
    out = tmp_path / "out"
    _sweep(tape, out)  # an earlier sweep: out is now a sweep's folder
    # a user's files inside the sweep's folder, even inside its shared-data folder
    (out / "analysis.ipynb").write_text("mine")
    (out / "_data").mkdir()
    (out / "_data" / "keep.csv").write_text("mine")
    (out / SHARED_DIR / "other").mkdir(parents=True)
    (out / SHARED_DIR / "other" / "keep.bin").write_text("mine")
    _sweep(tape, out, n_jobs=n_jobs, resume=False)
    for f in ("analysis.ipynb", "_data/keep.csv", f"{SHARED_DIR}/other/keep.bin"):
        assert (out / f).read_text() == "mine", f
    assert not (out / SHARED_DIR / dataset_digest(tape)).exists()  # its own copy is gone
    assert len(load(out)) == 2


def test_an_in_process_sweep_writes_no_shared_data(tape, tmp_path):
    _sweep(tape, tmp_path / "o")
    assert not (tmp_path / "o" / SHARED_DIR).exists()
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == sorted([LOCK_FILE, "runs", "sweep.json"])


# ============================================================================ the sweep file
def _sweep_file(tmp_path, body: str) -> Path:
    f = tmp_path / "s.toml"
    f.write_text(textwrap.dedent(body))
    return f


def test_a_sweep_file_runs_only_strategy_classes(tmp_path, capsys):
    target = tmp_path / "pwned"
    f = _sweep_file(tmp_path, f'''
        strategy = "os:system"
        [params]
        command = "touch {target}"
        [grid]
        x = [1]
        [data]
        sample = "btcusdt-tape"
    ''')
    assert cli.main(["sweep", str(f), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert not target.exists()
    assert "not a bt.Strategy subclass" in capsys.readouterr().err
    f = _sweep_file(tmp_path, '''
        strategy = "builtins:print"
        [grid]
        x = [1]
    ''')
    assert cli.main(["sweep", str(f), "--sample", "btcusdt-tape", "--quiet"]) == 2


def test_a_misspelt_metric_fails_before_the_first_run(tmp_path, monkeypatch, capsys):
    ran = []
    monkeypatch.setattr(core, "sweep", lambda *a, **k: ran.append(1))
    f = _sweep_file(tmp_path, '''
        strategy = "ma-cross"
        metric = "sharp"
        [grid]
        fast = [3]
        slow = [20]
    ''')
    assert cli.main(["sweep", str(f), "--sample", "btcusdt-tape", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert ran == []
    err = capsys.readouterr().err
    assert "metric 'sharp'" in err and "did you mean 'sharpe'" in err


def test_the_closing_hint_is_code_that_works(tmp_path, capsys):
    f = _sweep_file(tmp_path, '''
        strategy = "ma-cross"
        [grid]
        fast = [3]
        slow = [20]
    ''')
    out = tmp_path / "o"
    assert cli.main(["sweep", str(f), "--sample", "btcusdt-tape", "--out", str(out), "--quiet"]) == 0
    line = next(s for s in capsys.readouterr().out.splitlines() if "all runs:" in s)
    code = line.split("all runs: ", 1)[1][:-1]  # the text inside "(all runs: ...)"
    assert len(eval(compile(code.split("; ")[1], "hint", "eval"), _exec(code.split("; ")[0]))) == 1


def _exec(statement: str) -> dict:
    env: dict = {}
    exec(statement, env)  # noqa: S102 - the hint's own import line
    return env


def test_metric_names_are_the_keys_of_stats():
    import backtester as bt
    from backtester.stats import METRICS

    res = bt.run(MaCross(fast=3, slow=20), dl.sample("btcusdt-tape"))
    assert tuple(res.stats_values()) == METRICS


# ============================================================================ the shared dataset
def test_a_worker_refuses_a_changed_copy_of_the_data(tape, tmp_path):
    shared = share(tape, tmp_path)
    trades = Path(shared.path) / "trades.arrow"
    raw = bytearray(trades.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # a value in the middle of the prices: still a readable file
    trades.write_bytes(bytes(raw))
    with pytest.raises(RuntimeError, match="changed after the sweep wrote it.*trades.arrow"):
        SharedData(shared.path + "/", shared.digest + "-fresh").load()  # a digest this process has not cached
    again = share(tape, tmp_path)  # the sweep rewrites its own folder
    assert SharedData(again.path, again.digest + "-again").load().trades.equals(tape.trades)


def test_remove_shared_removes_only_what_share_wrote(tape, tmp_path):
    shared = share(tape, tmp_path)
    (Path(shared.path) / "mine.txt").write_text("mine")
    remove_shared(tmp_path, shared.digest)
    assert sorted(p.name for p in Path(shared.path).iterdir()) == ["mine.txt"]
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "dataset.json").write_text("{}")  # not written by a sweep
    remove_shared(tmp_path, "plain")
    assert (tmp_path / "plain" / "dataset.json").exists()


# ============================================================================ concurrency
def test_two_stores_on_one_out_the_second_is_refused_until_the_first_closes(tmp_path):
    first = RunStore(tmp_path / "o", {"s": 1})
    with pytest.raises(ValueError, match=f"in use by another sweep \\(pid {os.getpid()}"):
        RunStore(tmp_path / "o", {"s": 1})
    first.close()
    with RunStore(tmp_path / "o", {"s": 1}) as second:
        assert second.rows() == []


_HOLD = """
import sys, time
from backtester.sweep.store import RunStore
store = RunStore(sys.argv[1], {"s": 1})
print("holding", flush=True)
time.sleep(120)
"""


def test_a_sweep_of_another_process_holds_out_in_both_orders(tape, tmp_path):
    out = tmp_path / "o"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    other = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert other.stdout.readline().strip() == "holding"
        with pytest.raises(ValueError, match=f"in use by another sweep \\(pid {other.pid}"):
            _sweep(tape, out)
    finally:
        other.kill()
        other.wait()
    _sweep(tape, out)  # the lock died with its process
    # and the other way round: while this process holds out, another process is refused
    with RunStore(out, core._meta(MaCross, {}, __import__("backtester").SimConfig(), dataset_digest(tape))):
        proc = subprocess.run([sys.executable, "-c", _HOLD, str(out)], capture_output=True, text=True, env=env,
                              timeout=120)
    assert proc.returncode != 0 and f"in use by another sweep (pid {os.getpid()}" in proc.stderr


# ============================================================================ processes
_ORPHANS = """
import os, sys, time
sys.path.insert(0, sys.argv[2])
import data_loaders as dl
from backtester.sweep import sweep
from slowmod import Slow
sweep(Slow, {"fast": [3, 4, 5, 6], "slow": [20]}, dl.sample("btcusdt-tape"), n_jobs=2, progress=False)
"""
_SLOW = """
import os, time
from pathlib import Path
from strategies import MaCross

class Slow(MaCross):
    def init(self, data):
        Path(os.environ["PIDS_DIR"], str(os.getpid())).write_text("")
        time.sleep(300)
"""


def _group(pgid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if os.getpgid(int(d.name)) == pgid:
                    out.append(int(d.name))
            except OSError:
                pass
    return out


@pytest.mark.skipif(not Path("/proc").exists() or sys.platform != "linux", reason="needs Linux /proc")
def test_workers_exit_when_the_sweeps_process_is_killed(tmp_path):
    (tmp_path / "slowmod.py").write_text(_SLOW)
    pids = tmp_path / "pids"
    pids.mkdir()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}", "PIDS_DIR": str(pids)}
    parent = subprocess.Popen([sys.executable, "-c", _ORPHANS, "x", str(tmp_path)], env=env,
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.2)
        workers = [int(p.name) for p in pids.iterdir()]
        assert len(workers) == 2, "the workers never started"
        os.kill(parent.pid, signal.SIGKILL)  # an OOM kill, a notebook restart
        parent.wait()
        deadline = time.monotonic() + 30
        while _group(parent.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        # workers, fork server and resource tracker: every process the sweep started is gone
        assert _group(parent.pid) == []
    finally:
        for pid in _group(parent.pid):
            os.kill(pid, signal.SIGKILL)


_WHICH = """
import sys
sys.path.insert(0, sys.argv[1])
import backtester
from backtester._workers import pool
if __name__ == "__main__":
    with pool(1) as p:
        print(backtester.__file__)
        print(p.submit(eval, "__import__('backtester').__file__").result())
"""


@pytest.mark.skipif(sys.platform != "linux", reason="the fork server is a Unix start method")
def test_workers_import_the_backtester_this_process_runs_not_the_working_directorys(tmp_path):
    # a user runs the installed tool from a folder holding another copy of the package
    (tmp_path / "backtester").mkdir()
    (tmp_path / "backtester" / "__init__.py").write_text("# another copy, in the working directory\n")
    script = tmp_path / "elsewhere" / "which.py"
    script.parent.mkdir()
    script.write_text(_WHICH)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    done = subprocess.run([sys.executable, str(script), str(ROOT)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    mine, workers = done.stdout.split()
    assert workers == mine and Path(mine).is_relative_to(ROOT)
    assert "PYTHONSAFEPATH" not in os.environ


# ============================================================================ runs
def test_identical_runs_give_identical_record_bytes():
    # the record dtypes are aligned structs: the bytes between fields must not be stack garbage
    import backtester as bt
    from strategies import TrendFollowing

    ds = dl.sample()
    for strategy in (MaCross(fast=5, slow=30), TrendFollowing()):
        a, b = bt.run(strategy, ds), bt.run(strategy, ds)
        for name in ("orders", "fills", "ledger", "funding", "samples", "liquidations"):
            assert a.engine.records(name).tobytes() == b.engine.records(name).tobytes(), name
            assert a.engine.records(name, copy=False).tobytes() == b.engine.records(name).tobytes(), name



def test_a_hook_mode_run_started_on_another_thread_inside_on_decision_finishes():
    import threading

    import backtester as bt

    ds = dl.sample("btcusdt-tape")
    inner_done = []

    class Inner(bt.Strategy):
        every = "1min"

        def on_decision(self, ctx):
            pass

    class Outer(bt.Strategy):
        every = "1min"

        def on_decision(self, ctx):
            if not inner_done:
                worker = threading.Thread(target=lambda: inner_done.append(bt.run(Inner(), ds)), daemon=True)
                worker.start()
                worker.join(timeout=120)  # it deadlocked forever on a process-wide hook lock
                assert not worker.is_alive(), "the inner run never finished"

    res = bt.run(Outer(), ds)
    assert len(inner_done) == 1 and len(res.equity) > 0
    # and a run stacked on the same thread still works
    same = []

    class OuterSameThread(bt.Strategy):
        every = "1min"

        def on_decision(self, ctx):
            if not same:
                same.append(bt.run(Inner(), ds))

    bt.run(OuterSameThread(), ds)
    assert len(same) == 1


# ============================================================================ packaging
def test_pyarrow_below_the_fix_of_cve_2023_47248_is_not_allowed():
    # pyarrow 14.0.0 and older execute code while reading crafted IPC or Parquet files
    import configparser

    from packaging.requirements import Requirement
    from packaging.version import Version

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    reqs = [Requirement(line) for line in cfg["options"]["install_requires"].split("\n") if line.strip()]
    (arrow,) = [r for r in reqs if r.name == "pyarrow"]
    assert not arrow.specifier.contains(Version("14.0.0")) and arrow.specifier.contains(Version("14.0.1"))
