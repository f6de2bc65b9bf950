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
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 4.2))
    else:
        fig = ax.figure
    runs = {k[1]: r for k, r in cmp.results.items() if k[0] == scenario}
    if not runs:
        raise KeyError(f"no kept results for scenario {scenario!r} (compare(keep_results=True) keeps them)")
    from .plots._common import times

    styles = ["-", "--", "-.", ":"]
    for i, name in enumerate(cmp.strategies):  # line styles too: identical curves stay visible
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


def _save(fig, path: Path) -> str:
    import matplotlib.pyplot as plt
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    # constrained layout already fits everything in the figure; bbox_inches="tight" would
    # measure every artist again after the layout's dry-run draw and crop to it (the equity
    # overlays, legend outside the axes and no layout engine, still need it)
    tight = not isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine)
    fig.savefig(path, dpi=110, **({"bbox_inches": "tight"} if tight else {}))
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
            import concurrent.futures as cf

            from ._workers import context

            try:
                self._pool = cf.ProcessPoolExecutor(self.jobs, mp_context=context())
            except (OSError, ValueError, ImportError):  # no process support here: save in-process
                self._pool = None
        return self

    def __exit__(self, *exc):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    @property
    def window(self) -> int:
        """Saves in flight before :meth:`submit`'s caller should collect the oldest."""
        return 2 * self.jobs if self._pool is not None else 0

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


def write_plots(cmp, folder: Path, progress: bool = False, jobs: int | None = None) -> dict:
    """PNG plots of a comparison; returns {section: [(caption, file name)]}.

    ``jobs`` worker processes save the figures while this process draws the next ones
    (default: one per CPU, fewer for a handful of plots; 0 saves them all here). The files
    are the same either way; a plot that fails becomes a RuntimeWarning and a caption saying
    so, and the rest of the report is still written.
    """
    from . import plots

    folder.mkdir(parents=True, exist_ok=True)
    sections: dict = {"survival": [], "costs": [], "liquidation": [], "heatmaps": [], "finality": []}
    tasks = []
    for scenario in cmp.scenarios:
        tasks.append(("survival", f"Equity of every strategy: {scenario}", f"equity-{slug(scenario)}.png",
                      lambda s=scenario: equity_overlay(cmp, s)))
    for metric in ("total_return", "max_drawdown", "funding", "slippage_cost", "n_liquidations"):
        if metric in set(cmp.table["metric"]) and len(cmp.scenarios) * len(cmp.strategies) > 1:
            tasks.append(("heatmaps", f"{metric} by scenario and strategy", f"heatmap-{metric}.png",
                          lambda m=metric: plots.heatmap(cmp.table, m)))
    base = cmp.scenarios[0]
    worst = cmp.pivot("total_return").idxmin() if len(cmp.scenarios) > 1 else None
    for name in cmp.strategies:
        res = cmp.results.get((base, name, _first_seed(cmp, base)))
        if res is None:
            continue
        s = slug(name)
        tasks += [
            ("costs", f"P&L waterfall: {name} ({base})", f"waterfall-{s}.png", lambda r=res: plots.plot_waterfall(r)),
            ("liquidation", f"Liquidation ladder: {name} ({base})", f"ladder-{s}.png", lambda r=res: plots.plot_ladder(r)),
            ("liquidation", f"Margin ratio: {name} ({base})", f"margin-{s}.png", lambda r=res: plots.plot_margin(r)),
            ("survival", f"Equity and drawdown: {name} ({base})", f"drawdown-{s}.png", lambda r=res: plots.plot_equity(r)),
            ("finality", f"Time to finality: {name} ({base})", f"finality-{s}.png", lambda r=res: plots.plot_finality(r)),
        ]
        carry = getattr(res.strategy, "sizing", None) is not None or hasattr(res.strategy, "plan")
        if carry and res.data.funding.num_rows:  # nothing to draw on a tape without funding
            tasks.append(("costs", f"Funding, z-score and sizing: {name} ({base})", f"funding-{s}.png",
                          lambda r=res: plots.plot_funding(r)))
        bad = worst.get(name) if worst is not None else None
        if bad is not None and bad != base:  # the same views under the strategy's worst scenario
            wres = cmp.results.get((bad, name, _first_seed(cmp, bad)))
            if wres is not None:
                tag = f"{name} under its worst scenario, {bad}"
                tasks += [
                    ("costs", f"P&L waterfall: {tag}", f"waterfall-{s}-worst.png",
                     lambda r=wres: plots.plot_waterfall(r)),
                    ("liquidation", f"Margin ratio: {tag}", f"margin-{s}-worst.png", lambda r=wres: plots.plot_margin(r)),
                    ("liquidation", f"Liquidation ladder: {tag}", f"ladder-{s}-worst.png",
                     lambda r=wres: plots.plot_ladder(r)),
                ]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(tasks), desc="plots", unit="plot")
    pending: deque = deque()

    def collect():
        section, caption, done = pending.popleft()
        try:
            sections[section].append((caption, done()))
        except Exception as exc:  # noqa: BLE001 - one bad plot must not lose the whole report
            msg = f"{caption}: not drawn ({type(exc).__name__}: {exc})"
            warnings.warn(msg, RuntimeWarning, stacklevel=3)
            sections[section].append((msg, None))
        if bar is not None:
            bar.update()

    try:
        with _Savers(len(tasks), jobs) as savers:
            for section, caption, fname, make in tasks:
                try:
                    done = savers.submit(make(), folder / fname)
                except Exception as exc:  # noqa: BLE001 - reported by collect, in order
                    done = _raiser(exc)
                pending.append((section, caption, done))
                while len(pending) > savers.window:
                    collect()
            while pending:
                collect()
    finally:
        if bar is not None:
            bar.close()
    return sections


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


def write_report(cmp, folder, *, title: str = "Backtest comparison", notes=(), plots: bool = True,
                 progress: bool = False, jobs: int | None = None) -> Path:
    """Write tables (CSV), plots (PNG) and ``index.html`` for a :class:`Comparison`.

    Parameters
    ----------
    cmp : Comparison
        From :func:`backtester.compare` (with ``keep_results=True`` for the plots).
    folder : str or Path
        Created if missing; files in it with the same names are replaced.
    title : str
    notes : sequence of str
        Paragraphs shown under the title (data provenance, config).
    plots : bool
        False writes tables and the page only.
    progress : bool
        Progress bar over plots.
    jobs : int, optional
        Worker processes that save the plots (see :func:`write_plots`); 0 for none.

    Returns
    -------
    Path
        The HTML page.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = write_tables(cmp, folder)
    sections = write_plots(cmp, folder, progress=progress, jobs=jobs) if plots and cmp.results else {}
    return write_html(cmp, folder, tables, sections, title=title, notes=list(notes))


__all__ = [
    "comparison_text",
    "downtime_windows",
    "equity_overlay",
    "slug",
    "write_html",
    "write_plots",
    "write_report",
    "write_tables",
]
