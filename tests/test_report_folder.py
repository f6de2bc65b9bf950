"""The report folder: a user's folder is refused before any run, a report's own files (and only
those) are removed by the next report into the same folder."""
import json

import pytest

import backtester.cli as cli
import data_loaders as dl
from backtester import compare
from backtester import scenarios as sc
from backtester.report import write_report
from backtester.report_folder import MANIFEST, check_folder, claim_folder, seal_folder
from strategies import BuyAndHold, MaCross


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_users_folder_is_refused_and_left_as_it_was(tmp_path):
    (tmp_path / "thesis.txt").write_text("mine")
    (tmp_path / "figure.png").write_bytes(b"mine")
    for fn in (check_folder, claim_folder):
        with pytest.raises(ValueError, match=r"not empty and no report wrote it \(figure.png, thesis.txt\)"):
            fn(tmp_path)
    assert _names(tmp_path) == ["figure.png", "thesis.txt"]   # no mark written either


def test_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        claim_folder(tmp_path / "f")


def test_an_empty_or_missing_folder_is_claimed(tmp_path):
    assert claim_folder(tmp_path / "new" / "rep").is_dir()
    assert claim_folder(tmp_path / "new" / "rep") == tmp_path / "new" / "rep"   # same process: no-op
    (tmp_path / "empty").mkdir()
    assert _names(claim_folder(tmp_path / "empty")) == [MANIFEST]


def test_the_next_report_removes_the_previous_reports_files_and_only_those(tmp_path):
    rep = claim_folder(tmp_path / "rep")
    for name in ("equity_outage.png", "comparison.csv", "index.html"):
        (rep / name).write_text("first")
    assert seal_folder(rep) == ["comparison.csv", "equity_outage.png", "index.html"]
    (rep / "my_notes.md").write_text("added by the user after the report")
    claim_folder(rep)
    assert _names(rep) == [MANIFEST, "my_notes.md"]
    (rep / "comparison.csv").write_text("second")
    assert seal_folder(rep) == ["comparison.csv"]       # the user's file is not the report's
    claim_folder(rep)
    assert _names(rep) == [MANIFEST, "my_notes.md"]


def test_a_user_file_rewritten_during_a_report_counts_as_the_reports(tmp_path):
    # the report overwrote a file of that name: what is there now is the report's
    rep = claim_folder(tmp_path / "rep")
    seal_folder(rep)
    (rep / "index.html").write_text("user")
    claim_folder(rep)
    (rep / "index.html").write_text("report")
    assert "index.html" in seal_folder(rep)


def test_a_report_folder_from_before_the_mark_is_taken_and_nothing_removed(tmp_path):
    for name in ("index.html", "comparison.csv", "equity_normal.png"):
        (tmp_path / name).write_text("old")
    claim_folder(tmp_path)
    assert _names(tmp_path) == [MANIFEST, "comparison.csv", "equity_normal.png", "index.html"]
    # one of the two marks of an old report is not enough
    other = tmp_path / "other"
    other.mkdir()
    (other / "index.html").write_text("someone's page")
    with pytest.raises(ValueError, match="no report wrote it"):
        claim_folder(other)


def test_a_mark_cannot_reach_outside_its_folder(tmp_path):
    outside = tmp_path / "keep.txt"
    outside.write_text("x")
    rep = tmp_path / "rep"
    rep.mkdir()
    (rep / "sub").mkdir()
    (rep / "sub" / "deep.txt").write_text("x")
    (rep / MANIFEST).write_text(json.dumps({"complete": True, "files": ["../keep.txt", "sub/deep.txt", "sub"]}))
    claim_folder(rep)
    assert outside.exists() and (rep / "sub" / "deep.txt").exists()


def test_a_damaged_mark_removes_nothing(tmp_path):
    (tmp_path / MANIFEST).write_text("{not json")
    (tmp_path / "a.png").write_text("x")
    claim_folder(tmp_path)
    assert (tmp_path / "a.png").exists()


def test_write_report_twice_lists_what_it_wrote_and_leaves_a_user_file(tmp_path):
    tape = dl.sample("btcusdt-tape")
    cmp = compare([BuyAndHold(leverage=2.0), MaCross(fast=3, slow=10, leverage=2.0)], tape,
                  scenarios=[sc.NORMAL], progress=False)
    rep = tmp_path / "rep"
    write_report(cmp, rep, title="t", plots=False)
    first = json.loads((rep / MANIFEST).read_text())
    assert first["complete"] and "index.html" in first["files"] and "comparison.csv" in first["files"]
    assert sorted(first["files"]) == sorted(n for n in _names(rep) if n != MANIFEST)
    (rep / "stale_from_an_older_report.png").write_text("x")
    first["files"].append("stale_from_an_older_report.png")   # as if an earlier report had drawn it
    (rep / MANIFEST).write_text(json.dumps(first))
    (rep / "keep.md").write_text("the user's")
    write_report(cmp, rep, title="t", plots=False)
    assert not (rep / "stale_from_an_older_report.png").exists() and (rep / "keep.md").exists()
    assert "keep.md" not in json.loads((rep / MANIFEST).read_text())["files"]


def test_backtester_run_refuses_a_users_folder_before_loading_or_running(tmp_path, capsys, monkeypatch):
    (tmp_path / "thesis.txt").write_text("mine")
    monkeypatch.setattr(dl, "sample", lambda *a, **k: pytest.fail("data loaded before the folder check"))
    code = cli.main(["run", "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and f"report folder {tmp_path} is not empty and no report wrote it (thesis.txt)" in err
    assert _names(tmp_path) == ["thesis.txt"]
    monkeypatch.undo()
    # --no-report writes no folder, so it does not look at one
    assert cli.main(["run", "--out", str(tmp_path), "--no-report", "--quiet", "--sample", "btcusdt-tape",
                     "--strategy", "buy-and-hold", "--scenario", "normal"]) == 0


def test_an_interrupted_report_still_owns_the_plots_it_wrote(tmp_path):
    # the plots are listed as they are drawn: a report stopped halfway (Ctrl-C, a crash) leaves a
    # manifest naming them, and the next report removes them; the user's file stays
    from backtester.report_folder import note_file

    rep = claim_folder(tmp_path / "rep")
    for name in ("equity_outage.png", "ladder_trend.png"):
        note_file(rep, name)
        (rep / name).write_text("half a report")
    (rep / "mine.txt").write_text("the user's")
    info = json.loads((rep / MANIFEST).read_text())
    assert not info["complete"] and info["files"] == ["equity_outage.png", "ladder_trend.png"]
    info["pid"] = -1   # as if another process had been interrupted
    (rep / MANIFEST).write_text(json.dumps(info))
    claim_folder(rep)
    assert _names(rep) == [MANIFEST, "mine.txt"]
    note_file(tmp_path, "x.png")   # not a report folder: nothing written
    assert not (tmp_path / MANIFEST).exists()


def test_report_plots_list_each_plot_before_saving_it(tmp_path):
    from backtester.report import ReportPlots

    tape = dl.sample("btcusdt-tape")
    with ReportPlots(tmp_path / "rep", jobs=0) as drawing:
        compare([BuyAndHold(leverage=2.0)], tape, scenarios=[sc.NORMAL], progress=False, keep_results=True,
                on_cell=drawing)
        listed = json.loads((tmp_path / "rep" / MANIFEST).read_text())["files"]
    pngs = sorted(p.name for p in (tmp_path / "rep").glob("*.png"))
    assert pngs and sorted(listed) == pngs
