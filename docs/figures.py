"""Regenerate the README's figures from the bundled sample: ``python docs/figures.py``.

Writes ``docs/img/overfitting.png``: the PBO logit histogram of a 12-point ``MaCross`` grid on
two days of the sample (left) and the stitched out-of-sample equity of its walk-forward, train
12 hours / test 6 hours, with the fold starts (right), the same runs as the last section of
``notebooks/05_sweeps.ipynb``. Takes a few seconds once the kernel is compiled.
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
GRID = {"fast": [5, 10, 20, 40], "slow": [60, 120, 240]}


def overfitting(path: Path) -> Path:
    """The two-panel PBO / walk-forward figure, saved to ``path``."""
    import warnings

    from matplotlib.figure import Figure

    import data_loaders as dl
    from backtester.sweep import (
        pbo,
        plot_pbo_logits,
        plot_walk_forward,
        returns_matrix,
        walk_forward,
    )
    from strategies import MaCross

    day2 = dl.sample().slice("2022-11-08", "2022-11-10")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sample's rejected-order notes: not the point here
        res = pbo(returns_matrix(MaCross, GRID, day2).dropna(axis=1), n_blocks=16)
        wf = walk_forward(MaCross, GRID, day2, train="12h", test="6h", start="2022-11-08")
    fig = Figure(figsize=(12, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.5]})
    plot_pbo_logits(res, ax=left)
    plot_walk_forward(wf, ax=right)
    left.set_title(f"PBO {res.pbo:.2f}: the in-sample best of {res.n_runs} runs, out of sample "
                   f"({res.n_combinations:,} splits)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, pil_kwargs={"optimize": True})
    return path


def main() -> int:
    for made in (overfitting(HERE / "img" / "overfitting.png"),):
        print(f"{made.relative_to(HERE.parent)}: {made.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
