"""Reading a sweep table: the best runs, a heatmap over two parameters, and the stability view.

A parameter set that is best on one sample but whose neighbours (one grid step away) and other
scenarios do much worse is an overfit peak: :func:`stability` puts those numbers side by side.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"run_id": list("abcd"), "fast": [5, 5, 10, 10], "slow": [50, 100, 50, 100],
...                    "scenario": "normal", "seed": 0, "status": "ok", "sharpe": [1.0, 2.0, 0.5, 3.0]})
>>> best(df, "sharpe", n=2)["run_id"].tolist()
['d', 'b']
>>> float(heatmap_table(df, "fast", "slow", "sharpe").loc[100, 10])
3.0
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..comparison import HIGHER_IS_BETTER
from .space import FIXED_COLUMNS


def _ok(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a sweep table (DataFrame), got {type(df).__name__}")
    if metric not in df.columns:
        have = [c for c in df.columns if c not in FIXED_COLUMNS]
        raise KeyError(f"unknown metric {metric!r}; the table has {have}")
    return df[df["status"] == "ok"] if "status" in df.columns else df


def _up(metric: str, higher_is_better) -> bool:
    return metric in HIGHER_IS_BETTER if higher_is_better is None else bool(higher_is_better)


def param_columns(df: pd.DataFrame) -> list:
    """The parameter columns of a sweep table (those between ``run_id`` and ``scenario``)."""
    params = df.attrs.get("params")
    if params is not None and all(p in df.columns for p in params):
        return list(params)
    cols = list(df.columns)
    if "scenario" not in cols:
        raise ValueError("cannot tell the parameter columns: pass params=[...]")
    return [c for c in cols[:cols.index("scenario")] if c != "run_id"]


def best(df: pd.DataFrame, metric: str = "sharpe", n: int = 10, higher_is_better: bool | None = None) -> pd.DataFrame:
    """The ``n`` best successful runs by ``metric`` (NaN last, ties in table order).

    Parameters
    ----------
    df : DataFrame
        A sweep table.
    metric : str
    n : int
    higher_is_better : bool, optional
        Default: by metric (returns, Sharpe, drawdown up; costs, liquidations down).

    Returns
    -------
    DataFrame
        The rows, indexed by rank 1..n.

    Examples
    --------
    >>> best(df, "sharpe", n=3)            # doctest: +SKIP
    """
    ok = _ok(df, metric)
    ok = ok[ok[metric].notna()]
    out = ok.sort_values(metric, ascending=not _up(metric, higher_is_better), kind="stable").head(n)
    out = out.reset_index(drop=True)
    out.index = pd.RangeIndex(1, len(out) + 1, name="rank")
    return out


def heatmap_table(df: pd.DataFrame, x: str, y: str, metric: str, agg="mean") -> pd.DataFrame:
    """``metric`` over ``y`` (rows) x ``x`` (columns), aggregated with ``agg`` over the other
    parameters, scenarios and seeds; successful runs only, axes sorted.

    Examples
    --------
    >>> heatmap_table(df, "fast", "slow", "sharpe")      # doctest: +SKIP
    """
    ok = _ok(df, metric)
    for c in (x, y):
        if c not in df.columns:
            raise KeyError(f"unknown column {c!r}; parameters: {param_columns(df)}")
    t = ok.pivot_table(index=y, columns=x, values=metric, aggfunc=agg, dropna=False)
    return t.sort_index().sort_index(axis=1)


def heatmap(df: pd.DataFrame, x: str, y: str, metric: str, ax=None, agg="mean"):
    """A heatmap of ``metric`` over two parameters (see :func:`heatmap_table`).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = heatmap(df, "fast", "slow", "sharpe")       # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    t = heatmap_table(df, x, y, metric, agg)
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.0 + 0.7 * max(len(t.columns), 4), 1.0 + 0.5 * max(len(t.index), 4)))
    else:
        fig = ax.figure
    vals = t.to_numpy(float)
    up = _up(metric, None)
    im = ax.imshow(vals, cmap="RdYlGn" if up else "RdYlGn_r", aspect="auto", origin="lower")
    ax.set_xticks(range(len(t.columns)), [_fmt(v) for v in t.columns], rotation=45 if len(t.columns) > 8 else 0)
    ax.set_yticks(range(len(t.index)), [_fmt(v) for v in t.index])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    agg_name = agg if isinstance(agg, str) else getattr(agg, "__name__", "agg")
    ax.set_title(f"{metric} ({agg_name} over other params, scenarios, seeds)", fontsize=10)
    if vals.size <= 225:  # label cells while they stay readable
        finite = vals[np.isfinite(vals)]
        mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for (i, j), v in np.ndenumerate(vals):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=8,
                        color="black" if abs(v - mid) < 0.35 * (np.ptp(finite) or 1) else "white")
    fig.colorbar(im, ax=ax, label=metric)
    return fig


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, (float, np.floating)) else str(v)


# ============================================================================ stability
def stability(df: pd.DataFrame, metric: str, params: list | None = None, k: int | None = None) -> pd.DataFrame:
    """For each parameter set: ``metric``, its neighbours' mean and minimum, and its spread
    across scenarios, so an isolated peak (great here, poor one step away) is visible.

    Parameters
    ----------
    df : DataFrame
        A sweep table (successful runs are used).
    metric : str
    params : list of str, optional
        Parameter columns (default: the sweep's).
    k : int, optional
        None: neighbours are the parameter sets one grid step away in one parameter (the
        adjacent value in that parameter's sorted values, the others equal). An int: the ``k``
        nearest parameter sets in rank-scaled space (for random spaces, where points rarely
        share coordinates).

    Returns
    -------
    DataFrame
        One row per parameter set, in table order: the params, ``metric`` (mean over scenarios
        and seeds), ``n_neighbours``, ``neighbour_mean``, ``neighbour_min``, ``drop``
        (``metric - neighbour_mean``: large means isolated), ``scenario_min``,
        ``scenario_max``, ``scenario_spread`` (max - min of the per-scenario means) and
        ``n_scenarios``.

    Examples
    --------
    >>> stability(df, "sharpe")[["fast", "slow", "sharpe", "neighbour_mean"]]   # doctest: +SKIP
    """
    ok = _ok(df, metric)
    params = param_columns(df) if params is None else list(params)
    if not params:
        raise ValueError("stability needs at least one parameter column")
    missing = [p for p in params if p not in df.columns]
    if missing:
        raise KeyError(f"unknown parameter column {missing[0]!r}; have {list(df.columns)}")
    scen = "scenario" if "scenario" in ok.columns else None
    per_scen = ok.groupby(params + ([scen] if scen else []), sort=False, dropna=False)[metric].mean()
    sets = per_scen.groupby(level=list(range(len(params))), sort=False, dropna=False)
    out = sets.mean().rename(metric).to_frame()
    out["scenario_min"], out["scenario_max"] = sets.min(), sets.max()
    out["scenario_spread"] = out["scenario_max"] - out["scenario_min"]
    out["n_scenarios"] = sets.count()
    out = out.reset_index()
    values = out[metric].to_numpy(float)
    nbrs = _grid_neighbours(out[params]) if k is None else _knn(out[params], int(k))
    out.insert(len(params) + 1, "n_neighbours", [len(n) for n in nbrs])
    out.insert(len(params) + 2, "neighbour_mean", [np.nanmean(values[n]) if len(n) else np.nan for n in nbrs])
    out.insert(len(params) + 3, "neighbour_min", [np.nanmin(values[n]) if len(n) else np.nan for n in nbrs])
    out.insert(len(params) + 4, "drop", out[metric] - out["neighbour_mean"])
    return out


def _steps(col: pd.Series) -> np.ndarray:
    """Each value's position among the column's distinct values (sorted when they sort)."""
    uniq = list(dict.fromkeys(col.tolist()))
    try:
        uniq = sorted(uniq)
    except TypeError:  # mixed types: keep first-seen order
        pass
    pos = {v: i for i, v in enumerate(uniq)}
    return np.array([pos[v] for v in col.tolist()], np.int64)


def _grid_neighbours(sets: pd.DataFrame) -> list:
    idx = np.column_stack([_steps(sets[c]) for c in sets.columns])
    where = {tuple(row): i for i, row in enumerate(idx)}
    out = []
    for row in idx:
        found = []
        for d in range(idx.shape[1]):
            for step in (-1, 1):
                other = list(row)
                other[d] += step
                j = where.get(tuple(other))
                if j is not None:
                    found.append(j)
        out.append(np.array(found, np.int64))
    return out


def _knn(sets: pd.DataFrame, k: int) -> list:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    idx = np.column_stack([_steps(sets[c]) for c in sets.columns]).astype(float)
    span = idx.max(axis=0)
    idx = idx / np.where(span > 0, span, 1.0)  # each parameter's ranks on [0, 1]
    d = np.sqrt(((idx[:, None, :] - idx[None, :, :]) ** 2).sum(axis=2))
    np.fill_diagonal(d, np.inf)
    k = min(k, len(sets) - 1)
    return [np.argsort(row, kind="stable")[:k] for row in d] if k > 0 else [np.zeros(0, np.int64)] * len(sets)


def plot_stability(df: pd.DataFrame, metric: str, params: list | None = None, k: int | None = None,
                   ax=None, label: int = 3):
    """Each parameter set's ``metric`` (x) against its neighbours' mean (y), coloured by the
    spread across scenarios; points far below the diagonal are isolated peaks.

    The ``label`` best sets are annotated with their parameters.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_stability(df, "sharpe")       # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    st = stability(df, metric, params, k)
    params = [c for c in st.columns[:list(st.columns).index(metric)]]
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 5.5))
    else:
        fig = ax.figure
    sc = ax.scatter(st[metric], st["neighbour_mean"], c=st["scenario_spread"].fillna(0.0), cmap="viridis", s=28)
    finite = np.concatenate([st[metric].to_numpy(float), st["neighbour_mean"].to_numpy(float)])
    finite = finite[np.isfinite(finite)]
    if finite.size:
        lo, hi = finite.min(), finite.max()
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--", label="neighbours as good")
    up = _up(metric, None)
    top = st.sort_values(metric, ascending=not up, kind="stable").head(label)
    for _, r in top.iterrows():
        ax.annotate(", ".join(f"{p}={_fmt(r[p])}" for p in params), (r[metric], r["neighbour_mean"]),
                    fontsize=7, xytext=(4, -10), textcoords="offset points")
    ax.set_xlabel(f"{metric} (mean over scenarios and seeds)")
    ax.set_ylabel(f"mean {metric} of the neighbours")
    ax.set_title("stability: isolated peaks sit below the diagonal", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.colorbar(sc, ax=ax, label="spread across scenarios")
    return fig
