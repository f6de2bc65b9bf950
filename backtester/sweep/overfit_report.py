"""The overfitting section of ``backtester sweep --pbo S --walk-forward SPEC``: a Markdown file
and its figures in the sweep's ``out`` folder, from the objects the printed checks computed
(nothing is run again).

Files (written or overwritten; nothing else in the folder is touched)::

    out/overfitting.md                          the numbers, each with what it means
    out/overfitting_pbo_logits.png              --pbo: where the in-sample winner ranked out of sample
    out/overfitting_pbo_is_vs_oos.png           --pbo: in- against out-of-sample metric per split
    out/overfitting_walk_forward.png            --walk-forward: stitched out-of-sample equity, fold starts
    out/overfitting_walk_forward_is_vs_oos.png  --walk-forward: in- against out-of-sample metric per fold

Examples
--------
>>> import numpy as np, tempfile
>>> from backtester.sweep import pbo
>>> res = pbo(np.random.default_rng(0).normal(0, 0.01, (320, 10)), n_blocks=4)
>>> path = write_overfit_report(tempfile.mkdtemp(), pbo=PBOSummary(res, n_returns=320))
>>> path.name
'overfitting.md'
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .overfit import PBOResult
from .walkforward import WalkForwardResult

#: the report's own file names (:func:`write_overfit_report` writes only these)
MARKDOWN = "overfitting.md"
PNG = {"pbo_logits": "overfitting_pbo_logits.png", "pbo_is_vs_oos": "overfitting_pbo_is_vs_oos.png",
       "wf_equity": "overfitting_walk_forward.png", "wf_is_vs_oos": "overfitting_walk_forward_is_vs_oos.png",
       "wf_ranks": "overfitting_walk_forward_scenario_ranks.png"}


@dataclass(frozen=True)
class PBOSummary:
    """What ``--pbo`` computed and printed: the :class:`PBOResult` and the deflated Sharpe ratio
    of the best run (``dsr`` None when fewer than two runs' equity moved).

    Attributes
    ----------
    result : PBOResult
    n_returns : int
        Rows of the returns matrix (returns between equity samples).
    dsr, sharpe : float or None
        Deflated Sharpe ratio of the best run and its per-period (not annualised) Sharpe ratio.
    n_trials : int
        Runs whose equity changed (the trials the deflation counts).
    best_run, best_params : str or None, str
        The best run's ``run_id`` and its parameters as ``fast=10, slow=60``.
    scenario : str or None
        The scenario the runs were ranked under, when the sweep had several (None: one).
    """

    result: PBOResult
    n_returns: int
    dsr: float | None = None
    sharpe: float | None = None
    n_trials: int = 0
    best_run: str | None = None
    best_params: str = ""
    scenario: str | None = None


def write_overfit_report(out, *, pbo: PBOSummary | None = None, walk_forward: WalkForwardResult | None = None,
                         walk_forward_spec: dict | None = None, title: str | None = None) -> Path:
    """Write ``out/overfitting.md`` and its PNG figures; returns the Markdown file's path.

    Parameters
    ----------
    out : str or Path
        The sweep's folder (created if missing).
    pbo : PBOSummary, optional
    walk_forward : WalkForwardResult, optional
    walk_forward_spec : dict, optional
        The keyword arguments the walk-forward ran with (``train``, ``test``, ...), for the heading.
    title : str, optional
        A line under the heading, e.g. the strategy and the data.
    """
    if pbo is None and walk_forward is None:
        raise ValueError("write_overfit_report: nothing to report (give pbo= and/or walk_forward=)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Is the best run an accident?", ""]
    if title:
        lines += [title, ""]
    how = (["PBO ranks runs by the Sharpe ratio of their returns between equity samples (not annualised)."]
           if pbo is not None else [])
    how += ([("The walk-forward ranks by the sweep's metric, a `Result.stats()` column (its `sharpe` is "
             "annualised).")] if walk_forward is not None else [])
    lines += [" ".join(["Each number is followed by what it means for the parameters this sweep would choose.",
                        *how]), ""]
    if pbo is not None:
        lines += _pbo_section(pbo, out)
    if walk_forward is not None:
        lines += _walk_forward_section(walk_forward, walk_forward_spec or {}, out)
    path = out / MARKDOWN
    tmp = path.with_name(f".{MARKDOWN}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)  # a reader never sees half a report
    return path


# ---------------------------------------------------------------------------- PBO
def _pbo_section(s: PBOSummary, out: Path) -> list[str]:
    from .overfit_plots import plot_is_vs_oos, plot_pbo_logits

    r = s.result
    lines = [f"## Probability of backtest overfitting (CSCV, {r.n_blocks} blocks)", "",
             (f"{r.n_runs} runs x {s.n_returns:,} returns, cut into {r.n_blocks} time blocks: "
             f"{r.n_combinations:,} ways of choosing half of them as the past, ranking by {r.metric}."
             + (f" Under scenario {s.scenario!r} only: each other scenario is the same parameters on another "
                "venue model, not another trial." if s.scenario else "")), "",
             "| number | value | what it means |", "|---|---|---|"]
    lines.append(f"| PBO | {r.pbo:.3f} | {_pbo_words(r)} |")
    lines.append(f"| probability of out-of-sample loss | {r.prob_oos_loss:.3f} | {_loss_words(r)} |")
    lines.append(f"| degradation slope | {_num(r.degradation_slope)} | {_slope_words(r.degradation_slope)} |")
    if s.dsr is None:
        lines.append("| deflated Sharpe ratio | n/a | Fewer than two runs' equity changed: there are no "
                     "trials to deflate against. |")
    else:
        best = f"{s.best_run}" + (f" ({s.best_params})" if s.best_params else "")
        lines.append(f"| best run by Sharpe ratio | {best} | The run a sweep ranked by the Sharpe ratio of its "
                     "returns would pick; the next two rows are about it. |")
        lines.append(f"| its per-period Sharpe ratio | {s.sharpe:.4f} | Mean over standard deviation of its "
                     "returns between equity samples (not annualised). |")
        lines.append(f"| deflated Sharpe ratio | {s.dsr:.3f} | {_dsr_words(s)} |")
    lines += ["", _figure(out, "pbo_logits", lambda ax: plot_pbo_logits(r, ax=ax), (6.5, 4.0),
                          "Where the in-sample winner ranked out of sample, one count per split; the "
                          "shaded side (logit <= 0, the bottom half) holds the PBO."),
              _figure(out, "pbo_is_vs_oos", lambda ax: plot_is_vs_oos(r, ax=ax), (5.5, 5.0),
                      "The winner's metric in sample (x) and out of sample (y), one point per split; "
                      "a line falling to the right is performance degradation."), ""]
    return lines


def _pbo_words(r: PBOResult) -> str:
    share = (f"In {r.pbo:.1%} of the {r.n_combinations:,} splits, the run that looked best on one half ranked "
             f"at or below the median of the {r.n_runs} runs on the other half.")
    if r.pbo >= 0.5:
        return share + (" Choosing these parameters by their past is a coin toss or worse: the sweep's winner "
                        "says nothing about how it will do next; do not trust it.")
    if r.pbo >= 0.2:
        return share + (" The winner beats the median more often than not, but often enough not to: treat the "
                        "chosen parameters with caution.")
    share += " The in-sample winner usually stays in the top half: on this data the ranking carries information."
    if r.prob_oos_loss > 0.5:
        share += " But ranking above the other runs is not making money: see the next row."
    return share


def _loss_words(r: PBOResult) -> str:
    share = f"In {r.prob_oos_loss:.1%} of the splits the in-sample winner's {r.metric} was below 0 on the other half."
    if r.prob_oos_loss > 0.5:
        return share + " The chosen parameters are more likely than not to lose money on unseen data."
    return share + " The chosen parameters made money out of sample in most splits."


def _slope_words(slope: float) -> str:
    if not math.isfinite(slope):
        return "Cannot be fitted (every split chose runs with the same in-sample metric)."
    if slope < 0:
        return ("Negative: the better a choice looked in sample, the worse it did out of sample "
                "(performance degradation). Near -1 it is partly by construction: the two halves are one "
                "history, so what a run earns in one half it does not earn in the other.")
    return "Not negative: choices that looked better in sample did at least as well out of sample, on average."


def _dsr_words(s: PBOSummary) -> str:
    head = (f"The probability that the best run's true Sharpe ratio beats the best that {s.n_trials} skill-less "
            "runs would reach by luck.")
    if s.dsr >= 0.95:
        return head + " Above 0.95: its Sharpe ratio is unlikely to be selection bias alone."
    return head + (" Below 0.95: its Sharpe ratio is within what luck gives the best of that many trials; "
                   "it is no evidence of an edge.")


# ---------------------------------------------------------------------------- walk-forward
def _walk_forward_section(wf: WalkForwardResult, spec: dict, out: Path) -> list[str]:
    from ..scenarios.base import fmt_duration
    from .overfit_plots import plot_is_vs_oos, plot_walk_forward

    how = ", ".join(f"{k} {fmt_duration(v) if isinstance(v, pd.Timedelta) else v}" for k, v in spec.items())
    folds = wf.folds
    lines = [f"## Walk-forward by {wf.metric}" + (f" ({how})" if how else ""), "",
             (f"{len(folds)} folds: each sweeps the grid on its training window only, keeps the best run by "
             f"{wf.metric}, and trades it on the test window that follows, "
             + ("one account carried from window to window (positions included)." if wf.carry
                else "starting flat with the initial cash.")), "",
             _table(folds), "", "| number | value | what it means |", "|---|---|---|"]
    tr = wf.total_return
    if math.isfinite(tr):
        verdict = "it made money" if tr > 0 else "it lost money" if tr < 0 else "it broke even"
        lines.append(f"| total out-of-sample return | {tr:+.2%} | What \"sweep, then trade the winner\" would "
                     f"have earned over the test windows stitched together: {verdict}. |")
    else:
        lines.append("| total out-of-sample return | n/a | No fold had a successful training run. |")
    ok = folds.dropna(subset=["is_metric", "oos_metric"]) if len(folds) else folds
    if len(ok):
        ism, oosm = float(ok["is_metric"].mean()), float(ok["oos_metric"].mean())
        worse = int((ok["oos_metric"] < ok["is_metric"]).sum())
        lines.append(f"| mean {wf.metric}, training / test | {_num(ism)} / {_num(oosm)} | The winners scored "
                     f"{_num(ism)} where they were chosen and {_num(oosm)} on the window after; {worse} of "
                     f"{len(ok)} folds did worse out of sample. A large gap is selection bias: the sweep's best "
                     "score overstates what the choice earns next. |")
        cols = list(folds.columns)  # the chosen grid values sit between test_end and is_metric
        params = cols[cols.index("test_end") + 1:cols.index("is_metric")]
        n_sets = len(ok[params].drop_duplicates()) if params else 1
        lines.append(f"| distinct parameter sets chosen | {n_sets} of {len(ok)} folds | "
                     + ("The same parameters won every training window: a stable choice. |" if n_sets == 1 else
                        "The winner changed between folds: the best parameters depend on the window, so one "
                        "fixed choice from the whole history is fragile. |" if n_sets > len(ok) / 2 else
                        "The winner changed now and then: a partly stable choice. |"))
    lines += ["", _figure(out, "wf_equity", lambda ax: plot_walk_forward(wf, ax=ax), (9.0, 4.0),
                          "The stitched out-of-sample equity; dotted lines: the start of each fold's test window."),
              _figure(out, "wf_is_vs_oos", lambda ax: plot_is_vs_oos(wf, ax=ax), (5.5, 5.0),
                      "Each fold's winner: its metric on the training window (x) and on the test window (y)."), ""]
    ranks = wf.ranks
    if ranks.shape[1] > 1:
        from .overfit_plots import scenario_ranks_size

        n_runs = int(folds["n_ok"].max()) if len(folds) else None
        worst = ranks.max()
        fell = [str(c) for c in ranks.columns if n_runs and worst[c] >= max(2, n_runs / 2)]
        missing = int(ranks.isna().to_numpy().sum())
        if fell:
            verdict = (f"under {', '.join(fell)} a winner fell to the bottom half, so parameters chosen on "
                       f"{wf.choose_on!r} are fragile there.")
        elif missing == ranks.size - len(ranks):  # only the chosen scenario has ranks
            verdict = "no other scenario could be ranked in any fold."
        else:
            verdict = "every winner that could be ranked stayed in the top half under every scenario."
        if missing:
            verdict += (f" {missing} of {ranks.size} cells are n/a: the scenario did not apply to that fold's "
                        "training window (an incident outside it) or every run under it failed.")
        lines += [f"Chosen under {wf.choose_on!r}; the rank of each fold's winner among the grid under every "
                  "scenario, in sample (1 = best): " + verdict, "",
                  _figure(out, "wf_ranks", lambda ax: _ranks_on(ax, wf, n_runs), scenario_ranks_size(*ranks.shape),
                          "The winner's in-sample rank by scenario (rows: folds)."), ""]
    return lines


def _ranks_on(ax, wf, n_runs):
    from .overfit_plots import plot_scenario_ranks

    plot_scenario_ranks(wf, ax=ax, n_runs=n_runs)


def _table(df: pd.DataFrame) -> str:
    """``df`` as a Markdown table (times to the minute, numbers to 4 significant digits)."""
    def cell(v):
        if isinstance(v, pd.Timestamp):
            return v.strftime("%Y-%m-%d %H:%M")
        if isinstance(v, (float, np.floating)):
            return _num(float(v))
        return "" if v is None else str(v)

    rows = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    rows += ["| " + " | ".join(cell(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join(rows)


# ---------------------------------------------------------------------------- figures
def _figure(out: Path, key: str, draw, size, caption: str) -> str:
    """Draw on a new Figure (no pyplot: no backend, no global state), save ``out/PNG[key]`` as the
    main report saves (constrained layout, no ``bbox_inches="tight"``), return the Markdown."""
    from matplotlib.figure import Figure

    from ..report import PNG_COMPRESS_LEVEL, PNG_DPI

    fig = Figure(figsize=size, layout="constrained")
    draw(fig.subplots())
    fig.savefig(out / PNG[key], dpi=PNG_DPI, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return f"![{caption}]({PNG[key]})\n\n*{caption}*\n"


def _num(v: float) -> str:
    return f"{v:,.4g}" if math.isfinite(v) else "n/a"
