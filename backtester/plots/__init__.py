"""Plots of a backtest (matplotlib only); each draws the data of one :mod:`backtester.analysis`
function and returns its Figure.

Functions taking ``ax=None`` draw into that Axes (or a new figure); those with several Axes
take ``fig=None`` (a Figure or a SubFigure to fill) and list their Axes in ``fig.axes``. None
calls ``plt.show()``; save with ``fig.savefig("equity.png")`` then ``plt.close(fig)``.

=====================  =====================================  ===========================
plot                   data                                   module
=====================  =====================================  ===========================
plot_equity            analysis.equity_frame                  account
plot_margin            analysis.margin_frame, liquidation_events  account
plot_ladder            analysis.liquidation_ladder, shock_table   risk
plot_waterfall         analysis.pnl_breakdown                 pnl
plot_funding           analysis.funding_frame                 funding
plot_finality          analysis.finality_frame, pending_exposure  finality
heatmap                analysis.heatmap_table                 compare
dashboard              equity, margin, waterfall, ladder      dashboard
=====================  =====================================  ===========================

Examples
--------
>>> import backtester as bt, data_loaders as dl
>>> from strategies import BuyAndHold
>>> import matplotlib.pyplot as plt
>>> from backtester import plots
>>> res = bt.run(BuyAndHold(leverage=3.0), dl.sample("btcusdt-tape"))
>>> fig = plots.plot_equity(res)
>>> len(fig.axes)
2
>>> plt.close(fig)
"""
from .account import plot_equity, plot_margin
from .compare import heatmap
from .dashboard import dashboard
from .finality import plot_finality
from .funding import plot_funding
from .pnl import plot_waterfall
from .risk import plot_ladder

__all__ = ["plot_equity", "plot_margin", "plot_ladder", "plot_waterfall", "plot_funding", "plot_finality",
           "heatmap", "dashboard"]
