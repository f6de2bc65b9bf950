"""``backtester sweep FILE --pbo S --walk-forward SPEC``: what is printed matches the library
calls, and malformed values fail before any run with exit code 2, naming option and value."""
from __future__ import annotations

import re
import textwrap

import numpy as np
import pandas as pd
import pytest

import data_loaders as dl
from backtester.cli import main as cli_main
from backtester.sweep import overfit, returns, walkforward
from backtester.sweep.overfit_cli import parse_pbo, parse_walk_forward
from strategies import MaCross

pytestmark = pytest.mark.filterwarnings("ignore::backtester.RejectedOrdersWarning")

#: 12 hours of the sample with trades in every window (as tests/test_walkforward.py)
SLICE = ("2022-11-08 00:00", "2022-11-08 12:00")
GRID = {"fast": [3, 6], "slow": [20, 40]}


@pytest.fixture()
def sweep_file(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(textwrap.dedent(f"""
        strategy = "ma-cross"
        metric = "sharpe"
        top = 2
        [grid]
        fast = {GRID["fast"]}
        slow = {GRID["slow"]}
        [data]
        sample = "default"
        slice = ["{SLICE[0]}", "{SLICE[1]}"]
    """))
    return f


def _run(f, tmp_path, *extra):
    return cli_main(["sweep", str(f), "--out", str(tmp_path / "o"), "--quiet", "--no-resume", *extra])


def test_pbo_prints_the_library_numbers(sweep_file, tmp_path, capsys):
    assert _run(sweep_file, tmp_path, "--pbo", "4") == 0
    out = capsys.readouterr().out
    data = dl.sample().slice(*SLICE)
    rets = returns.returns_matrix(MaCross, GRID, data).dropna(axis=1)
    res = overfit.pbo(rets, n_blocks=4)
    assert f"CSCV, 4 blocks, 6 combinations of 4 runs x {len(rets):,} returns" in out
    assert f"PBO {res.pbo:.3f}:" in out
    assert f"probability of out-of-sample loss {res.prob_oos_loss:.3f}" in out
    x = rets.to_numpy()
    srs = x.mean(axis=0) / x.std(axis=0, ddof=1)
    k = int(np.argmax(srs))
    sr, n, skew, kurt = overfit.sharpe_moments(x[:, k])
    dsr = overfit.deflated_sharpe(sr, n, 4, float(np.var(srs, ddof=1)), skew, kurt)
    assert re.search(rf"deflated Sharpe ratio of the best run {rets.columns[k]} \(fast=\d+, slow=\d+\): {dsr:.3f}",
                     out)


def test_walk_forward_prints_the_folds_and_total(sweep_file, tmp_path, capsys):
    assert _run(sweep_file, tmp_path, "--walk-forward", "train=3h,test=2h,step=2h") == 0
    out = capsys.readouterr().out
    data = dl.sample().slice(*SLICE)
    wf = walkforward.walk_forward(MaCross, GRID, data, train="3h", test="2h", step="2h")
    assert "walk-forward by sharpe, 4 folds (train 3h, test 2h, step 2h; each test window starts flat)" in out
    table = out.split("walk-forward by sharpe")[1].splitlines()
    assert table[1].split()[:2] == ["fold", "train_start"]
    for k, row in wf.folds.iterrows():
        cells = table[2 + k].split()
        assert int(cells[0]) == k
        assert " ".join(cells[5:7]) == row["test_start"].strftime("%Y-%m-%d %H:%M")
        assert (int(cells[9]), int(cells[10])) == (row["fast"], row["slow"])
    assert f"total out-of-sample return {wf.total_return:+.2%}" in out


def test_anchored_walk_forward_and_pbo_together(sweep_file, tmp_path, capsys):
    assert _run(sweep_file, tmp_path, "--pbo", "2", "--walk-forward", "train=3h,test=3h,anchored=true") == 0
    out = capsys.readouterr().out
    assert "CSCV, 2 blocks, 2 combinations" in out
    assert "3 folds (train 3h, test 3h, anchored;" in out   # the last test window ends at the slice's 12:00
    starts = re.findall(r"^\s+\d+ (\S+ \S+) ", out.split("walk-forward by")[1], flags=re.MULTILINE)
    assert starts == ["2022-11-08 00:00"] * 3  # anchored: every fold trains from the start


@pytest.mark.parametrize("args, message", [
    (["--pbo", "7"], "--pbo 7: the number of blocks must be an even int from 2 to 22, got 7"),
    (["--pbo", "x"], "--pbo x: the number of blocks must be an even int from 2 to 22, got 'x'"),
    (["--pbo", "0"], "--pbo 0: the number of blocks must be an even int"),
    (["--pbo", "24"], "--pbo 24: the number of blocks must be an even int from 2 to 22 (S = 24 makes 2,704,156"),
    (["--walk-forward", "train=12h,test=6"], "test=6 is not a positive duration"),
    (["--walk-forward", "train=12,test=6h"], "train=12 is not a positive duration"),
    (["--walk-forward", "train=3h"], "--walk-forward train=3h: missing test"),
    (["--walk-forward", "train=3h,test=soon"], "--walk-forward train=3h,test=soon: test=soon is not a positive duration"),
    (["--walk-forward", "train=3h,tset=2h"], "unknown key 'tset'"),
    (["--walk-forward", "train=3h,test=2h,anchored=yes"], "anchored must be true or false, got 'yes'"),
    (["--walk-forward", "train=-3h,test=2h"], "train=-3h is not a positive duration"),
    (["--walk-forward", "train=3h,test"], "'test' is not key=value"),
    (["--walk-forward", "train=3h test=2h"], "train=3h test=2h is not a positive duration"),
    (["--walk-forward", "train=3h,test=2h,train=4h"], "train given twice"),
    (["--walk-forward", "train=3h,test=2h,carry=1"], "carry must be true or false, got '1'"),
])
def test_malformed_values_exit_2_before_any_run(sweep_file, tmp_path, capsys, args, message):
    assert _run(sweep_file, tmp_path, *args) == 2
    cap = capsys.readouterr()
    assert message in cap.err
    assert "runs," not in cap.out  # refused before the sweep
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, message", [
    (["--walk-forward", "train=3h,test=2h,step=1h"], "--walk-forward train=3h,test=2h,step=1h: walk_forward: step"),
    (["--walk-forward", "train=30D,test=2h"], "shorter than one fold"),
])
def test_values_the_data_cannot_meet_exit_2_before_the_sweep(sweep_file, tmp_path, capsys, args, message):
    assert _run(sweep_file, tmp_path, *args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "sweep.csv").exists()   # refused before a single run


def test_parsers():
    assert parse_pbo(" 16 ") == 16
    assert parse_walk_forward("train=14D, test=3D, step=4D, anchored=False") == {
        "train": pd.Timedelta("14D"), "test": pd.Timedelta("3D"), "step": pd.Timedelta("4D"), "anchored": False}


def test_parse_carry():
    assert parse_walk_forward("train=3h,test=2h,carry=TRUE") == {
        "train": pd.Timedelta("3h"), "test": pd.Timedelta("2h"), "carry": True}
    assert parse_walk_forward("train=3h,test=2h,carry=false")["carry"] is False
    with pytest.raises(ValueError, match=r"unknown key 'carried'; known: train, test, step, anchored, carry"):
        parse_walk_forward("train=3h,test=2h,carried=true")


def test_carried_walk_forward_under_the_files_scenarios(sweep_file, tmp_path, capsys):
    from backtester import scenarios as sc

    sweep_file.write_text(sweep_file.read_text().replace('top = 2', 'top = 2\nscenarios = ["normal", "slippage"]'))
    assert _run(sweep_file, tmp_path, "--walk-forward", "train=3h,test=2h,carry=true") == 0
    out = capsys.readouterr().out
    data = dl.sample().slice(*SLICE)
    labels = [s.name for s in sc.by_name(["normal", "slippage"], data)]
    wf = walkforward.walk_forward(MaCross, GRID, data, train="3h", test="2h", carry=True,
                                  scenarios=sc.by_name(["normal", "slippage"], data))
    assert "4 folds (train 3h, test 2h; one account carried across folds)" in out
    assert "scenarios are not applied" not in out
    ranks = out.split("rank of each fold's winner (chosen on 'normal')")[1].splitlines()[1:7]
    assert ranks[0].split() == ["scenario", *labels[0].split(), *labels[1].split()]
    for k in range(4):
        cells = ranks[2 + k].split()
        assert int(cells[0]) == k
        assert [int(c) for c in cells[1:]] == [int(v) for v in wf.ranks.loc[k]]
    assert f"total out-of-sample return {wf.total_return:+.2%}" in out


def test_walk_forward_resumes_in_the_sweeps_folder(sweep_file, tmp_path, capsys):
    from backtester.sweep.cli import walk_forward_folder

    out = tmp_path / "o"
    assert cli_main(["sweep", str(sweep_file), "--out", str(out), "--quiet", "--walk-forward", "train=3h,test=3h"]) == 0
    first = capsys.readouterr().out.split("walk-forward by")[1]
    folder = out / walk_forward_folder("train=3h,test=3h")
    assert (folder / "walk_forward.csv").exists() and (folder / "fold-000").is_dir()
    stamp = {p: p.stat().st_mtime_ns for p in folder.rglob("*.parquet")}
    assert stamp
    assert cli_main(["sweep", str(sweep_file), "--out", str(out), "--quiet", "--walk-forward", "train=3h,test=3h"]) == 0
    assert capsys.readouterr().out.split("walk-forward by")[1].split("done in")[0] == first.split("done in")[0]
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*.parquet")} == stamp   # no training run redone
