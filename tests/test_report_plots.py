"""Report plots saved by worker processes and drawn while a comparison runs
(`backtester.report.ReportPlots`): the same files and page as drawing everything here, and a
figure or a worker that fails never loses the report."""
import hashlib
import pickle
import warnings
from concurrent.futures.process import BrokenProcessPool

import matplotlib

matplotlib.use("Agg")

import pytest

import data_loaders as dl
from backtester import report
from backtester import scenarios as sc
from backtester.comparison import compare
from strategies import BuyAndHold, MaCross


@pytest.fixture(scope="module")
def tape():
    return dl.sample("btcusdt-tape")


def _strategies():
    return {"hold": BuyAndHold(leverage=2.0), "cross": MaCross(fast=3, slow=10, leverage=2.0)}


_SCENARIOS = [sc.NORMAL, sc.Slippage(3.0), sc.Outage("2024-08-08 23:56", "2min")]


@pytest.fixture(scope="module")
def cmp(tape):
    return compare(_strategies(), tape, scenarios=_SCENARIOS, progress=False)


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.png"))}


@pytest.fixture(scope="module")
def here(cmp, tmp_path_factory):
    """Everything drawn and saved in this process: the reference the other routes must equal."""
    folder = tmp_path_factory.mktemp("here")
    sections = report.write_plots(cmp, folder, jobs=0)
    return sections, _digests(folder)


def test_worker_processes_write_the_same_files_and_sections(cmp, here, tmp_path):
    sections = report.write_plots(cmp, tmp_path, jobs=2)
    assert sections == here[0]
    assert _digests(tmp_path) == here[1]
    assert len(here[1]) == sum(len(v) for v in sections.values())
    assert not any(name is None for v in sections.values() for _, name in v)


def test_plots_drawn_while_compare_runs_equal_plots_drawn_after(tape, here, tmp_path):
    seen = []
    with report.ReportPlots(tmp_path, jobs=1) as drawing:

        def on_cell(scenario, seed, runs):
            seen.append((scenario, seed, list(runs)))
            drawing(scenario, seed, runs)

        streamed = compare(_strategies(), tape, scenarios=_SCENARIOS, progress=False, on_cell=on_cell)
        # the first scenario's plots are written before compare returns: the streaming is real
        sections = drawing.finish(streamed)
    assert [s for s, _, _ in seen] == streamed.scenarios
    assert all(names == ["hold", "cross"] for _, _, names in seen)
    assert sections == here[0]
    assert _digests(tmp_path) == here[1]


def test_on_cell_is_called_after_each_cell_before_the_next_runs(tape, monkeypatch):
    from backtester import comparison

    order = []
    original = comparison.run_many

    def spy(strategies, prepared, **kwargs):
        order.append("runs")
        return original(strategies, prepared, **kwargs)

    monkeypatch.setattr(comparison, "run_many", spy)
    compare(_strategies(), tape, scenarios=_SCENARIOS[:2], progress=False,
            on_cell=lambda s, seed, runs: order.append(("cell", s, seed, len(runs))))
    assert order == ["runs", ("cell", _SCENARIOS[0].name, 0, 2), "runs", ("cell", _SCENARIOS[1].name, 0, 2)]


def test_write_report_finishes_a_report_plots_that_drew_during_compare(tape, here, tmp_path):
    with report.ReportPlots(tmp_path, jobs=0) as drawing:
        streamed = compare(_strategies(), tape, scenarios=_SCENARIOS, progress=False, on_cell=drawing)
        page = report.write_report(streamed, tmp_path, title="t", plots=drawing)
    text = page.read_text()
    for name in here[1]:
        assert f"src='{name}'" in text
    assert "not drawn" not in text


def test_a_figure_that_does_not_pickle_is_saved_here(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    ax.unpicklable = lambda: None  # a lambda attribute: pickle.dumps(fig) fails
    with pytest.raises(Exception):  # noqa: B017 - whichever error pickle raises
        pickle.dumps(fig)
    with report._Savers(100, 1) as savers:
        done = savers.submit(fig, tmp_path / "a.png")
        assert done() == "a.png"
    assert (tmp_path / "a.png").stat().st_size > 0


class _BrokenFuture:
    def result(self):
        raise BrokenProcessPool("a worker died")


class _BrokenPool:
    def submit(self, *args, **kwargs):
        return _BrokenFuture()

    def shutdown(self, **kwargs):
        pass


def test_a_dead_worker_costs_no_plot(tmp_path):
    import matplotlib.pyplot as plt

    savers = report._Savers(100, 1)
    savers._pool = _BrokenPool()  # what a worker killed mid-report looks like to the caller
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    done = savers.submit(fig, tmp_path / "b.png")
    assert done() == "b.png" and (tmp_path / "b.png").stat().st_size > 0
    assert savers._pool is None  # and the rest are saved here


def test_a_plot_that_fails_to_draw_is_a_warning_and_a_caption(cmp, tmp_path, monkeypatch):
    from backtester import plots

    def broken(res, *args, **kwargs):
        raise ValueError("no ladder today")

    monkeypatch.setattr(plots, "plot_ladder", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sections = report.write_plots(cmp, tmp_path, jobs=1)
    failed = [c for c, name in sections["liquidation"] if name is None]
    assert failed and all("not drawn (ValueError: no ladder today)" in c for c in failed)
    assert any("no ladder today" in str(w.message) for w in caught)
    assert sections["survival"] and all(name for _, name in sections["survival"])


def test_jobs_must_be_a_count():
    with pytest.raises(ValueError, match="jobs"):
        report._Savers(10, -1)


def test_a_handful_of_plots_is_saved_without_workers():
    assert report._Savers(report.PLOTS_PER_WORKER - 1, None).jobs == 0
    assert report._Savers(report.PLOTS_PER_WORKER, None).jobs == 1


def test_labels_that_slug_alike_get_files_of_their_own(tape, tmp_path):
    strategies = {"Carry 3x": BuyAndHold(leverage=2.0), "carry-3x": BuyAndHold(leverage=1.0)}
    both = compare(strategies, tape, scenarios=[sc.NORMAL, sc.Slippage(3.0)], progress=False)
    sections = report.write_plots(both, tmp_path, jobs=0)
    files = [name for entries in sections.values() for _, name in entries]
    assert len(files) == len(set(files)) == len(list(tmp_path.glob("*.png")))
    assert {"waterfall-carry-3x.png", "waterfall-carry-3x-2.png"} <= set(files)
