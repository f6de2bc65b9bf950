"""The report folder of a comparison: tables as CSV, plots as PNG, one HTML page linking them.

The page answers three questions first: which strategy survives each stress (equity of every
strategy under every scenario, liquidations counted), what funding and slippage cost each one
(cost table and P&L waterfalls), and where each would be liquidated (liquidation ladders).

Examples
--------
>>> cmp = bt.compare(strategies, data, scenarios=bt.scenarios.stress_suite(data))  # doctest: +SKIP
>>> bt.report.write_report(cmp, "report/")                                         # doctest: +SKIP
"""
from __future__ import annotations

import html
import re
import warnings
from collections import deque
from pathlib import Path

import pandas as pd

from .report_folder import claim_folder, note_file, seal_folder

#: metrics written as scenario x strategy tables and heatmaps, with how to show them
KEY_METRICS = {
    "total_return": "{:+.2%}",
    "max_drawdown": "{:.2%}",
    "n_liquidations": "{:.0f}",
    "funding": "{:+,.2f}",
    "slippage_cost": "{:,.2f}",
    "fees": "{:,.2f}",
    "min_margin_ratio": "{:,.2f}",
}
_CSS = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
        "table.t{border-collapse:collapse;font-size:13px;margin:0.5em 0 1.5em}"
        "table.t td,table.t th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "img{max-width:100%;border:1px solid #eee;margin:0.3em 0 1em}"
        "figure{margin:0}figcaption{font-size:13px;color:#444}")
COST_METRICS = ["fees", "slippage_cost", "funding", "gas", "liquidation_losses", "insurance_cover"]


def slug(text: str) -> str:
    """A file-name-safe version of a label."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:80] or "x"


def _fmt_frame(df: pd.DataFrame, fmt: str) -> pd.DataFrame:
    return df.apply(lambda col: col.map(lambda v: "" if pd.isna(v) else fmt.format(v)))


def comparison_text(cmp, metric: str = "total_return") -> str:
    """The console table: ``metric`` by scenario x strategy, then the ranking."""
    fmt = KEY_METRICS.get(metric, "{:,.4g}")
    p = _fmt_frame(cmp.pivot(metric), fmt)
    rank = cmp.ranking(metric)
    with pd.option_context("display.width", 200, "display.max_columns", 50, "display.max_colwidth", 40):
        lines = [f"{metric} by scenario (rows) and strategy (columns):", p.to_string(), "",
                 "ranking (1 = best; mean rank over scenarios):",
                 _rank_text(rank, metric, fmt)]
    return "\n".join(lines)


def _rank_text(rank: pd.DataFrame, metric: str, fmt: str) -> str:
    cols = ["mean_rank", f"worst_{metric}"] + (["liquidated_in"] if "liquidated_in" in rank else [])
    shown = rank[cols].copy()
    shown["mean_rank"] = shown["mean_rank"].map("{:.2f}".format)
    shown[f"worst_{metric}"] = shown[f"worst_{metric}"].map(fmt.format)
    return shown.to_string()


def write_tables(cmp, folder: Path) -> dict:
    """CSV tables of the comparison; returns {name: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {"comparison": folder / "comparison.csv", "summary": folder / "summary.csv",
           "ranking": folder / "ranking.csv", "fingerprints": folder / "fingerprints.csv"}
    cmp.table.to_csv(out["comparison"], index=False)
    cmp.summary().to_csv(out["summary"], index=False)
    cmp.ranking().to_csv(out["ranking"])
    cmp.fingerprints.to_csv(out["fingerprints"], index=False)
    for metric in KEY_METRICS:
        if metric in set(cmp.table["metric"]):
            out[metric] = folder / f"{metric}.csv"
            cmp.pivot(metric).to_csv(out[metric])
    return out


def equity_overlay(cmp, scenario: str, ax=None):
    """Equity of every strategy under one scenario (first seed), with venue downtime shaded.

    Returns the Figure. Downtime comes from the scenario's latency trace (rows with
    ``up=False``), so an outage shows where it happened.

    Examples
    --------
    >>> fig = bt.report.equity_overlay(cmp, cmp.scenarios[0])   # doctest: +SKIP
    """
    seed = _first_seed(cmp, scenario)
    runs = {k[1]: r for k, r in cmp.results.items() if k[0] == scenario and k[2] == seed}
    if not runs:
        raise KeyError(f"no kept results for scenario {scenario!r} (compare(keep_results=True) keeps them)")
    return _overlay(runs, cmp.strategies, scenario, ax)


def _overlay(runs: dict, order: list, scenario: str, ax=None):
    """The overlay of ``runs`` ({strategy label: Result}), strategies in ``order``."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 4.2))
    else:
        fig = ax.figure
    from .plots._common import times

    styles = ["-", "--", "-.", ":"]
    for i, name in enumerate(order):  # line styles too: identical curves stay visible
        if name in runs:
            eq = runs[name].equity["equity"]
            # naive UTC datetime64: matplotlib converts a tz-aware index one Timestamp at a time
            ax.plot(times(eq.index), eq.to_numpy(), lw=1.3, ls=styles[i % 4],
                    label=name, zorder=3 + (i % 3))
    down = downtime_windows(next(iter(runs.values())).data)
    for start, end in down:
        span = times([start, end])
        ax.axvspan(span[0], span[1], color="tab:red", alpha=0.15, lw=0)
    ax.set_title(f"Equity under {scenario}" + (" (shaded: venue down, the data's own outage included)" if down else ""),
                 fontsize=10)
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("equity (quote)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return fig


def downtime_windows(data) -> list:
    """[(start, end)] of venue downtime in a dataset's latency trace (any venue)."""
    lt = data.latency
    if lt.num_rows == 0:
        return []
    df = lt.select(["ts", "venue", "up"]).to_pandas()
    out = []
    for _, g in df.groupby("venue", observed=True):
        up = g["up"].to_numpy()
        ts = g["ts"].to_numpy()
        i = 0
        while i < len(up):
            if not up[i]:
                j = i
                while j < len(up) and not up[j]:
                    j += 1
                end = ts[j] if j < len(up) else ts[-1]
                out.append((pd.Timestamp(ts[i]), pd.Timestamp(end)))
                i = j
            else:
                i += 1
    return out


#: resolution of the report's PNG files
PNG_DPI = 110
#: zlib level of the PNG files: 1 saves about 7 % of ``savefig`` time for files about 10 %
#: larger than matplotlib's default (6); the pixels are the same
PNG_COMPRESS_LEVEL = 1


def _save(fig, path: Path) -> str:
    import matplotlib.pyplot as plt
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    # constrained layout already fits everything in the figure; bbox_inches="tight" would
    # measure every artist again after the layout's dry-run draw and crop to it (the equity
    # overlays, legend outside the axes and no layout engine, still need it)
    tight = not isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine)
    fig.savefig(path, dpi=PNG_DPI, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL},
                **({"bbox_inches": "tight"} if tight else {}))
    plt.close(fig)
    return path.name


def _save_pickled(blob: bytes, path: str) -> str:
    """Worker side of :class:`_Savers`: rebuild a pickled Figure and save it."""
    import pickle

    import matplotlib

    matplotlib.use("Agg")  # a worker has no display
    return _save(pickle.loads(blob), Path(path))


#: plots per worker process below which saving in this process is quicker than starting workers
PLOTS_PER_WORKER = 6
#: pickled figures waiting for a worker at most: bounds memory (about 0.1-1.5 MB each) without
#: making the drawing wait on a typical report
SAVES_IN_FLIGHT = 96


class _Savers:
    """Save figures as PNG in worker processes while this process draws the next ones.

    ``savefig`` (layout and rasterising) is most of a report's time; a Figure pickles in
    milliseconds, byte-identical PNG on the other side. A figure that does not pickle, or any
    failure of the workers themselves, falls back to saving here, so the report is the same
    with or without them. ``jobs=0`` saves everything here.
    """

    def __init__(self, n_plots: int, jobs: int | None):
        import os

        if jobs is None:
            jobs = min(os.cpu_count() or 1, n_plots // PLOTS_PER_WORKER)
        if jobs < 0:
            raise ValueError(f"jobs: expected None or a count >= 0, got {jobs}")
        self.jobs = jobs
        self._pool = None

    def __enter__(self):
        if self.jobs:
            from ._workers import pool

            try:
                self._pool = pool(self.jobs)
            except (OSError, ValueError, ImportError):  # no process support here: save in-process
                self._pool = None
        return self

    def __exit__(self, *exc):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    @property
    def window(self) -> int:
        """Saves in flight before :meth:`submit`'s caller should collect the oldest: enough
        that drawing never waits for a worker (a pickled figure is about 0.1-1.5 MB)."""
        return SAVES_IN_FLIGHT if self._pool is not None else 0

    def submit(self, fig, path: Path):
        """Start saving ``fig``; returns a callable that gives the file name (or raises)."""
        import pickle

        import matplotlib.pyplot as plt

        if self._pool is None:
            name = _save(fig, path)
            return lambda: name
        try:
            blob = pickle.dumps(fig)
        except Exception:  # noqa: BLE001 - e.g. a lambda formatter: draw it here instead
            name = _save(fig, path)
            return lambda: name
        plt.close(fig)
        try:
            fut = self._pool.submit(_save_pickled, blob, str(path))
        except Exception:  # noqa: BLE001 - a broken pool: save here from now on
            self._pool = None
            return lambda: _save_pickled(blob, str(path))

        def result():
            from concurrent.futures.process import BrokenProcessPool

            try:
                return fut.result()
            except BrokenProcessPool:  # a worker died (killed, out of memory): save it here
                self._pool = None
                return _save_pickled(blob, str(path))

        return result


def _raiser(exc):
    def done():
        raise exc
    return done


#: heatmaps of the report, in page order
HEATMAP_METRICS = ("total_return", "max_drawdown", "funding", "slippage_cost", "n_liquidations")
SECTIONS = ("survival", "costs", "liquidation", "heatmaps", "finality")


class ReportPlots:
    """The PNG plots of a comparison, drawn while its runs still go on.

    Pass it as ``on_cell`` to :func:`backtester.compare`: each scenario's plots (the equity
    overlay; for the first scenario also every strategy's waterfall, ladder, margin, drawdown,
    finality and funding views) are drawn as soon as the scenario's runs finish, and worker
    processes save them while the next scenario runs. :meth:`finish` adds the plots that need
    every scenario (heatmaps, each strategy's worst scenario). :func:`write_plots` does the same
    from a finished comparison; the files and the page are the same either way.

    Parameters
    ----------
    folder : str or Path
        Created if missing.
    jobs : int, optional
        Worker processes that save figures (default: one per CPU, fewer for a handful of
        plots; 0 saves them in this process).
    progress : bool
        Progress bar over plots (shown by :meth:`finish`).
    expected : int, optional
        Number of plots expected, to size ``jobs`` (default: as many workers as CPUs).

    Examples
    --------
    >>> with bt.report.ReportPlots("report/") as plots:                      # doctest: +SKIP
    ...     cmp = bt.compare(strategies, data, scenarios, on_cell=plots)
    ...     sections = plots.finish(cmp)
    """

    def __init__(self, folder, *, jobs: int | None = None, progress: bool = False, expected: int | None = None):
        self.folder = claim_folder(folder)
        self.progress = progress
        self._savers = _Savers(expected if expected is not None else PLOTS_PER_WORKER * 64, jobs)
        self._pending: deque = deque()
        self._done: list = []  # (order key, section, caption, file name or None)
        self._seen: set = set()
        self._base = None
        self._order: list | None = None
        self._bar = None
        self._slugs: dict = {}

    def __enter__(self):
        self._savers.__enter__()
        return self

    def __exit__(self, *exc):
        self._savers.__exit__(*exc)

    # compare(on_cell=...) calls this after each (scenario, seed) cell
    def __call__(self, scenario: str, seed: int, runs: dict) -> None:
        if scenario in self._seen:  # plots show the first seed of a scenario
            return
        self._seen.add(scenario)
        if self._order is None:
            self._order = list(runs)
            self._base = scenario
        from . import plots

        n = len(self._seen) - 1
        self._draw((0, n), "survival", f"Equity of every strategy: {scenario}", f"equity-{self._slug('scenario', scenario)}.png",
                   lambda: _overlay(runs, self._order, scenario))
        if scenario != self._base:
            return
        for i, (name, res) in enumerate(runs.items()):
            s = self._slug("strategy", name)
            views = [
                ("costs", f"P&L waterfall: {name} ({scenario})", f"waterfall-{s}.png", plots.plot_waterfall),
                ("liquidation", f"Liquidation ladder: {name} ({scenario})", f"ladder-{s}.png", plots.plot_ladder),
                ("liquidation", f"Margin ratio: {name} ({scenario})", f"margin-{s}.png", plots.plot_margin),
                ("survival", f"Equity and drawdown: {name} ({scenario})", f"drawdown-{s}.png", plots.plot_equity),
                ("finality", f"Time to finality: {name} ({scenario})", f"finality-{s}.png", plots.plot_finality),
            ]
            carry = getattr(res.strategy, "sizing", None) is not None or hasattr(res.strategy, "plan")
            if carry and res.data.funding.num_rows:  # nothing to draw on a tape without funding
                views.append(("costs", f"Funding, z-score and sizing: {name} ({scenario})", f"funding-{s}.png",
                              plots.plot_funding))
            for j, (section, caption, fname, draw) in enumerate(views):
                self._draw((2, i, j), section, caption, fname, lambda d=draw, r=res: d(r))

    def finish(self, cmp) -> dict:
        """Draw the plots that need every scenario, wait for every file; returns
        ``{section: [(caption, file name or None)]}`` in page order."""
        if self.progress:
            from tqdm.auto import tqdm
            self._bar = tqdm(total=len(self._done) + len(self._pending), desc="plots", unit="plot",
                             initial=len(self._done))
        try:
            return self._finish(cmp)
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None

    def _finish(self, cmp) -> dict:
        from . import plots

        for scenario in cmp.scenarios:  # scenarios not fed through on_cell
            seed = _first_seed(cmp, scenario)
            runs = {k[1]: r for k, r in cmp.results.items() if k[0] == scenario and k[2] == seed}
            if runs:
                self(scenario, seed, {name: runs[name] for name in cmp.strategies if name in runs})
        table_metrics = set(cmp.table["metric"])
        if len(cmp.scenarios) * len(cmp.strategies) > 1:
            for i, metric in enumerate(m for m in HEATMAP_METRICS if m in table_metrics):
                self._draw((1, i), "heatmaps", f"{metric} by scenario and strategy", f"heatmap-{metric}.png",
                           lambda m=metric: plots.heatmap(cmp.table, m))
        worst = cmp.pivot("total_return").idxmin() if len(cmp.scenarios) > 1 else None
        order = list(cmp.strategies)
        for name in order if worst is not None else ():
            bad = worst.get(name)
            if bad is None or bad == self._base:
                continue
            res = cmp.results.get((bad, name, _first_seed(cmp, bad)))
            if res is None:
                continue
            s, tag = self._slug("strategy", name), f"{name} under its worst scenario, {bad}"
            views = [("costs", f"P&L waterfall: {tag}", f"waterfall-{s}-worst.png", plots.plot_waterfall),
                     ("liquidation", f"Margin ratio: {tag}", f"margin-{s}-worst.png", plots.plot_margin),
                     ("liquidation", f"Liquidation ladder: {tag}", f"ladder-{s}-worst.png", plots.plot_ladder)]
            for j, (section, caption, fname, draw) in enumerate(views):
                self._draw((2, order.index(name), 10 + j), section, caption, fname, lambda d=draw, r=res: d(r))
        while self._pending:
            self._collect()
        sections: dict = {name: [] for name in SECTIONS}
        for _, section, caption, fname in sorted(self._done, key=lambda e: e[0]):
            sections[section].append((caption, fname))
        return sections

    def _slug(self, kind: str, name: str) -> str:
        """A file-name part for ``name``, unique among the report's names of ``kind``: two
        labels that slug alike ("Carry 3x", "carry-3x") get "carry-3x" and "carry-3x-2"."""
        names = self._slugs.setdefault(kind, {})
        if name not in names:
            base, n = slug(name), 1
            taken = set(names.values())
            candidate = base
            while candidate in taken:
                n += 1
                candidate = f"{base}-{n}"
            names[name] = candidate
        return names[name]

    def _draw(self, key, section, caption, fname, make) -> None:
        note_file(self.folder, fname)  # listed before it exists: an interrupted report still owns it
        try:
            done = self._savers.submit(make(), self.folder / fname)
        except Exception as exc:  # noqa: BLE001 - reported by _collect, in order
            done = _raiser(exc)
        self._pending.append((key, section, caption, done))
        if self._bar is not None:  # plots drawn by finish() join the bar's total
            self._bar.total += 1
            self._bar.refresh()
        while len(self._pending) > self._savers.window:
            self._collect()

    def _collect(self) -> None:
        key, section, caption, done = self._pending.popleft()
        try:
            entry = (caption, done())
        except Exception as exc:  # noqa: BLE001 - one bad plot must not lose the whole report
            msg = f"{caption}: not drawn ({type(exc).__name__}: {exc})"
            warnings.warn(msg, RuntimeWarning, stacklevel=4)
            entry = (msg, None)
        self._done.append((key, section, *entry))
        if self._bar is not None:
            self._bar.update()


def expected_plots(n_scenarios: int, n_strategies: int) -> int:
    """About how many plots a report of this size draws (to size its worker processes)."""
    return n_scenarios + len(HEATMAP_METRICS) + 9 * n_strategies


def write_plots(cmp, folder: Path, progress: bool = False, jobs: int | None = None) -> dict:
    """PNG plots of a comparison; returns {section: [(caption, file name)]}.

    ``jobs`` worker processes save the figures while this process draws the next ones
    (default: one per CPU, fewer for a handful of plots; 0 saves them all here). The files
    are the same either way; a plot that fails becomes a RuntimeWarning and a caption saying
    so, and the rest of the report is still written. :class:`ReportPlots` draws them while
    the comparison still runs.
    """
    expected = expected_plots(len(cmp.scenarios), len(cmp.strategies))
    with ReportPlots(folder, jobs=jobs, progress=progress, expected=expected) as stream:
        return stream.finish(cmp)


def _first_seed(cmp, scenario):
    seeds = cmp.table.loc[cmp.table["scenario"] == scenario, "seed"]
    return int(seeds.iloc[0]) if len(seeds) else 0


def _table_html(df: pd.DataFrame, fmt: str | None = None) -> str:
    shown = _fmt_frame(df, fmt) if fmt else df
    return shown.to_html(classes="t", border=0, escape=True, na_rep="")


def write_html(cmp, folder: Path, tables: dict, sections: dict, *, title: str, notes: list) -> Path:
    """One self-contained page linking the plots and tables."""
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>{e(title)}</h1>"]
    parts += [f"<p>{e(n)}</p>" for n in notes]
    parts.append("<h2>Summary</h2>")
    for metric, fmt in KEY_METRICS.items():
        if metric in set(cmp.table["metric"]):
            parts.append(f"<h3>{e(metric)} (scenario x strategy, mean over seeds)</h3>")
            parts.append(_table_html(cmp.pivot(metric), fmt))
    parts.append("<h3>Ranking by total return</h3>" + _table_html(cmp.ranking().round(3)))
    costs = cmp.metric_table()[[c for c in COST_METRICS if c in set(cmp.table["metric"])]]
    headings = {"survival": "Which strategy survives each stress", "costs": "What fees, slippage and funding cost",
                "liquidation": "Where each would be liquidated", "heatmaps": "Scenario x strategy heatmaps",
                "finality": "Finality: time to final and exposure while pending"}
    for key, heading in headings.items():
        items = sections.get(key, [])
        if key == "costs":
            parts.append(f"<h2>{e(heading)}</h2><p>Cost lines under {e(cmp.scenarios[0])} (quote currency; "
                         "fees, slippage, gas and liquidation losses are costs paid; funding is received "
                         "when positive):</p>" + _table_html(costs, "{:,.2f}"))
        elif items:
            parts.append(f"<h2>{e(heading)}</h2>")
        for caption, fname in items:
            if fname is None:
                parts.append(f"<p><em>{e(caption)}</em></p>")
            else:
                parts.append(f"<figure><img src='{e(fname)}' alt='{e(caption)}'><figcaption>{e(caption)}"
                             "</figcaption></figure>")
    parts.append("<h2>Tables (CSV)</h2><ul>")
    parts += [f"<li><a href='{e(p.name)}'>{e(p.name)}</a></li>" for p in tables.values()]
    parts.append("</ul></body></html>")
    path = folder / "index.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def write_report(cmp, folder, *, title: str = "Backtest comparison", notes=(), plots=True,
                 progress: bool = False, jobs: int | None = None) -> Path:
    """Write tables (CSV), plots (PNG) and ``index.html`` for a :class:`Comparison`.

    Parameters
    ----------
    cmp : Comparison
        From :func:`backtester.compare` (with ``keep_results=True`` for the plots).
    folder : str or Path
        Created if missing. A folder an earlier report wrote has that report's files removed
        first (only those); a non-empty folder no report wrote is refused
        (:mod:`backtester.report_folder`).
    title : str
    notes : sequence of str
        Paragraphs shown under the title (data provenance, config).
    plots : bool or ReportPlots
        False writes tables and the page only; a :class:`ReportPlots` that was drawing while
        ``cmp`` ran (``compare(on_cell=...)``) finishes its plots instead of drawing anew.
    progress : bool
        Progress bar over plots.
    jobs : int, optional
        Worker processes that save the plots (see :func:`write_plots`); 0 for none.

    Returns
    -------
    Path
        The HTML page.
    """
    folder = claim_folder(folder)  # a no-op when the plots claimed it for this report
    tables = write_tables(cmp, folder)
    if isinstance(plots, ReportPlots):
        sections = plots.finish(cmp)
    else:
        sections = write_plots(cmp, folder, progress=progress, jobs=jobs) if plots and cmp.results else {}
    page = write_html(cmp, folder, tables, sections, title=title, notes=list(notes))
    seal_folder(folder)
    return page


__all__ = [
    "ReportPlots",
    "comparison_text",
    "downtime_windows",
    "equity_overlay",
    "expected_plots",
    "slug",
    "write_html",
    "write_plots",
    "write_report",
    "write_tables",
]
