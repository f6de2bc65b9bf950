"""The overfitting report of ``backtester sweep --pbo S --walk-forward SPEC``: ``overfitting.md``
and its PNGs in the sweep's folder, with the printed numbers and what each one means."""
from __future__ import annotations

import re
import textwrap

import numpy as np
import pytest

import data_loaders as dl
from backtester.cli import main as cli_main
from backtester.sweep import pbo, walk_forward
from backtester.sweep.overfit_report import (
    MARKDOWN,
    PNG,
    PBOSummary,
    write_overfit_report,
)
from strategies import MaCross

pytestmark = pytest.mark.filterwarnings("ignore::backtester.RejectedOrdersWarning")

#: six hours of the sample: 4 folds of train 2h / test 1h, a few seconds in all
SLICE = ("2022-11-08 00:00", "2022-11-08 06:00")
GRID = {"fast": [3, 6], "slow": [20, 40]}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def sweep_file(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(textwrap.dedent(f"""
        strategy = "ma-cross"
        [grid]
        fast = {GRID["fast"]}
        slow = {GRID["slow"]}
        [data]
        sample = "default"
        slice = ["{SLICE[0]}", "{SLICE[1]}"]
    """))
    return f


def _run(f, out, *extra):
    return cli_main(["sweep", str(f), "--out", str(out), "--quiet", "--no-resume", *extra])


def _linked(md: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)


def test_cli_writes_the_report_with_the_printed_numbers(sweep_file, tmp_path, capsys):
    out = tmp_path / "o"
    assert _run(sweep_file, out, "--pbo", "4", "--walk-forward", "train=2h,test=1h") == 0
    printed = capsys.readouterr().out
    md_path = out / MARKDOWN
    assert f"overfitting report: {md_path}" in printed
    md = md_path.read_text()
    # every figure is written, is a PNG, and the Markdown links each one (and nothing else)
    drawn = [v for k, v in PNG.items() if k != "wf_ranks"]   # ranks by scenario: only with scenarios
    assert sorted(_linked(md)) == sorted(drawn)
    for name in drawn:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
    # the numbers printed are the numbers written
    value = re.search(r"  PBO (\d\.\d{3}):", printed).group(1)
    assert f"| PBO | {value} |" in md
    loss = re.search(r"probability of out-of-sample loss (\d\.\d{3})", printed).group(1)
    assert f"| probability of out-of-sample loss | {loss} |" in md
    dsr = re.search(r"deflated Sharpe ratio of the best run (\w+) \([^)]*\): (\d\.\d{3})", printed)
    assert f"| deflated Sharpe ratio | {dsr.group(2)} |" in md and dsr.group(1) in md
    total = re.search(r"total out-of-sample return ([+-]\d+\.\d\d%)", printed).group(1)
    assert f"| total out-of-sample return | {total} |" in md
    # the folds table: one row per printed fold, in order
    folds = re.findall(r"^\| (\d+) \| 2022-11-08", md, flags=re.MULTILINE)
    assert folds == ["0", "1", "2", "3"]   # tests at 02:00, 03:00, 04:00, 05:00 (the slice ends at 06:00)
    assert "## Walk-forward by sharpe (train 2h, test 1h)" in md
    # every number row says what it means (a sentence, not just the number)
    rows = [r for r in md.splitlines() if r.startswith("| ") and r.count("|") == 4 and not r.startswith("| number")]
    assert len(rows) >= 8 and all(len(r.rsplit("|", 2)[1].strip()) > 30 for r in rows)


def test_pbo_alone_writes_only_its_part_and_keeps_other_files(sweep_file, tmp_path, capsys):
    out = tmp_path / "o"
    assert _run(sweep_file, out, "--pbo", "2") == 0
    (out / "notes.txt").write_text("mine")
    (out / PNG["wf_equity"]).write_bytes(b"an older report's figure")
    assert _run(sweep_file, out, "--pbo", "4") == 0
    md = (out / MARKDOWN).read_text()
    assert "4 blocks" in md and "Walk-forward" not in md
    assert sorted(_linked(md)) == sorted([PNG["pbo_logits"], PNG["pbo_is_vs_oos"]])
    assert (out / "notes.txt").read_text() == "mine"                        # not ours: untouched
    assert (out / PNG["wf_equity"]).read_bytes() == b"an older report's figure"  # not written this time
    assert not list(out.glob(".*.tmp"))


def test_without_either_option_no_report(sweep_file, tmp_path, capsys):
    out = tmp_path / "o"
    assert _run(sweep_file, out) == 0
    assert not (out / MARKDOWN).exists()
    assert "overfitting report" not in capsys.readouterr().out


def test_the_words_follow_the_numbers(tmp_path):
    """A planted edge (one run drifts up) gives PBO 0 and says the ranking carries information; pure
    noise with PBO >= 0.5 says the choice is a coin toss. Swapping the sentences fails this."""
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.01, (480, 12))
    edge = noise.copy()
    edge[:, 5] += 0.004
    for x, expect, absent in [(edge, "usually stays in the top half", "coin toss"),
                              (noise, "coin toss or worse", "usually stays in the top half")]:
        res = pbo(x, n_blocks=6)
        assert (res.pbo == 0.0) if x is edge else (res.pbo >= 0.5), res
        md = write_overfit_report(tmp_path, pbo=PBOSummary(res, n_returns=len(x))).read_text()
        row = next(r for r in md.splitlines() if r.startswith("| PBO |"))
        assert f"| {res.pbo:.3f} |" in row and expect in row and absent not in row
        assert "| deflated Sharpe ratio | n/a |" in md


def test_nothing_to_report_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="nothing to report"):
        write_overfit_report(tmp_path)
    assert not list(tmp_path.iterdir())


def test_walk_forward_section_from_the_library_object(tmp_path):
    import matplotlib.pyplot as plt

    data = dl.sample().slice(*SLICE)
    wf = walk_forward(MaCross, GRID, data, train="2h", test="1h")
    open_before = plt.get_fignums()
    md = write_overfit_report(tmp_path, walk_forward=wf).read_text()
    assert plt.get_fignums() == open_before  # no pyplot figure left behind by a CLI run
    assert sorted(_linked(md)) == sorted([PNG["wf_equity"], PNG["wf_is_vs_oos"]])
    n_sets = len(wf.folds[["fast", "slow"]].drop_duplicates())
    assert f"| distinct parameter sets chosen | {n_sets} of {len(wf.folds)} folds |" in md
    assert f"| {wf.total_return:+.2%} |" in md


def test_carried_walk_forward_under_scenarios_adds_the_rank_heatmap(sweep_file, tmp_path, capsys):
    sweep_file.write_text(sweep_file.read_text().replace('strategy = "ma-cross"',
                                                         'strategy = "ma-cross"\nscenarios = ["normal", "slippage"]'))
    out = tmp_path / "o"
    assert _run(sweep_file, out, "--walk-forward", "train=2h,test=1h,carry=true", "--pbo", "4") == 0
    printed = capsys.readouterr().out
    md = (out / MARKDOWN).read_text()
    # PBO ranks the grid's 4 parameter sets under the first scenario, not 8 scenario variants
    assert "--pbo: under scenario 'normal' only" in printed and "of 4 runs" in printed
    assert "Under scenario 'normal' only" in md
    assert "one account carried from window to window" in md and "starting flat" not in md
    assert PNG["wf_ranks"] in _linked(md) and (out / PNG["wf_ranks"]).read_bytes()[:8] == PNG_MAGIC
    assert "Chosen under 'normal'" in md and "rank[slippage" in md
