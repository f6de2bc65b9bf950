"""`walk_forward(out=...)`: an interrupted walk-forward resumes without redoing finished training
runs and gives the table of an uninterrupted one; other arguments on the same folder are refused."""
import warnings

import pandas as pd
import pytest

import data_loaders as dl
from backtester.sweep import load, walk_forward
from tests.test_walkforward_carry import Hold

T0 = pd.Timestamp("2022-11-08 00:00", tz="UTC")
H = pd.Timedelta("1h")
WINDOWS = dict(train="3h", test="2h", start=T0)
GRID = {"leverage": [-2.0, 0.0, 2.0]}
_STOP = {"from": None}
#: (first and last trade of the data, leverage) of every init call
_INITS: list = []

pytestmark = pytest.mark.filterwarnings("ignore::backtester.RejectedOrdersWarning")


class Stoppable(Hold):
    """Hold that raises KeyboardInterrupt (as Ctrl-C would) at leverage 2 on data from ``_STOP``."""

    def init(self, data):
        _INITS.append((data.start, data.end, self.leverage))
        if _STOP["from"] is not None and data.start >= _STOP["from"] and self.leverage == 2.0:
            raise KeyboardInterrupt
        super().init(data)


def _training_inits(train_start):
    """Init calls on the training window starting at ``train_start`` (no test window starts
    within its first hour, and a carried fold's warm-up goes on to its test window's end)."""
    return [x for x in _INITS if train_start <= x[0] < train_start + H and x[1] < train_start + 3 * H]


@pytest.fixture(scope="module")
def data():
    return dl.sample().slice("2022-11-08 00:00", "2022-11-08 12:00")


@pytest.mark.parametrize("carry", [False, True])
def test_interrupt_and_resume_gives_the_same_table(tmp_path, data, carry):
    reference = walk_forward(Stoppable, GRID, data, metric="sharpe", carry=carry, **WINDOWS)
    out = tmp_path / "wf"
    _STOP["from"] = T0 + 4 * H  # fold 2's training window: folds 0 and 1 are swept by then
    try:
        with pytest.raises(KeyboardInterrupt):
            walk_forward(Stoppable, GRID, data, metric="sharpe", carry=carry, out=out, **WINDOWS)
    finally:
        _STOP["from"] = None
    assert len(load(out / "fold-000")) == 3 and len(load(out / "fold-001")) == 3
    assert not (out / "walk_forward.csv").exists()
    _INITS.clear()
    resumed = walk_forward(Stoppable, GRID, data, metric="sharpe", carry=carry, out=out, **WINDOWS)
    assert not _training_inits(T0) and not _training_inits(T0 + 2 * H)  # finished sweeps not redone
    assert len(_training_inits(T0 + 6 * H)) == 3  # fold 3 had not started
    pd.testing.assert_frame_equal(resumed.folds, reference.folds)
    pd.testing.assert_series_equal(resumed.equity, reference.equity)
    stored = pd.read_csv(out / "walk_forward.csv")
    assert list(stored.columns) == list(reference.folds.columns)
    assert stored["leverage"].tolist() == reference.folds["leverage"].tolist()
    # once more: no training run at all, the same table
    _INITS.clear()
    again = walk_forward(Stoppable, GRID, data, metric="sharpe", carry=carry, out=out, **WINDOWS)
    assert not any(_training_inits(T0 + 2 * k * H) for k in range(4))
    pd.testing.assert_frame_equal(again.folds, reference.folds)


def test_other_arguments_are_refused_or_start_over(tmp_path, data):
    out = tmp_path / "wf"
    first = walk_forward(Stoppable, GRID, data, metric="sharpe", out=out, **WINDOWS)
    with pytest.raises(ValueError, match="another .*test"):
        walk_forward(Stoppable, GRID, data, metric="sharpe", out=out, train="3h", test="1h", start=T0)
    with pytest.raises(ValueError, match="another .*grid"):
        walk_forward(Stoppable, {"leverage": [0.0, 2.0]}, data, metric="sharpe", out=out, **WINDOWS)
    with pytest.raises(ValueError, match="another .*carry"):
        walk_forward(Stoppable, GRID, data, metric="sharpe", carry=True, out=out, **WINDOWS)
    # resume=False: every training run again, same answer
    _INITS.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        over = walk_forward(Stoppable, GRID, data, metric="sharpe", out=out, resume=False, **WINDOWS)
    assert len(_training_inits(T0)) == 3
    pd.testing.assert_frame_equal(over.folds, first.folds)
    # a folder of someone else's files is never written to
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="holds other files"):
        walk_forward(Stoppable, GRID, data, out=other, **WINDOWS)
    assert [p.name for p in other.iterdir()] == ["notes.txt"]


def test_resume_after_sigkill_gives_the_same_table(tmp_path, data):
    # a walk-forward killed outright (no clean-up), mid-way through a fold's training sweep
    import os
    import signal
    import subprocess
    import sys
    import textwrap
    import time
    from pathlib import Path

    here = Path(__file__).resolve().parent
    out = tmp_path / "killed"
    grid = {"fast": [3, 6, 30], "slow": [20, 40]}
    script = textwrap.dedent(f"""
        import pandas as pd
        import data_loaders as dl
        from backtester.sweep import walk_forward
        from tests.test_sweep import Interruptible   # the class's name as the resuming process has it
        if __name__ == "__main__":
            data = dl.sample().slice("2022-11-08 00:00", "2022-11-08 12:00")
            walk_forward(Interruptible, {grid!r}, data, train="3h", test="2h", out={str(out)!r})
    """)
    env = {**os.environ, "PYTHONPATH": str(here.parent), "SWEEP_TEST_SLEEP": "0.3"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and not list((out / "fold-001").rglob("part-*.parquet")):
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        assert proc.poll() is None, "the walk-forward ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert not (out / "walk_forward.csv").exists()
    finished = {f: f.stat().st_mtime_ns for f in (out / "fold-000").rglob("part-*.parquet")}
    assert finished
    from tests.test_sweep import Interruptible

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        resumed = walk_forward(Interruptible, grid, data, train="3h", test="2h", out=out)
        reference = walk_forward(Interruptible, grid, data, train="3h", test="2h")
    pd.testing.assert_frame_equal(resumed.folds, reference.folds)
    pd.testing.assert_series_equal(resumed.equity, reference.equity)
    assert len(pd.read_csv(out / "walk_forward.csv")) == len(reference.folds)
    assert {f: f.stat().st_mtime_ns for f in (out / "fold-000").rglob("part-*.parquet")} == finished  # not redone
