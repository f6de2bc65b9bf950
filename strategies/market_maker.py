"""A simple market maker: post-only quotes at the touch on both sides, with an inventory limit.

It lives on what the order book rules model (docs/simulation.md, "Order book"): its quotes
join the queue behind the size shown at their price, fill only once that queue has traded
away, are rejected when the book moved through them before they arrived (post-only), and are
picked off when the price moves against them (adverse selection). Latency makes all three
worse: quotes and cancels arrive late, against a book that has moved.
"""
from __future__ import annotations

import numpy as np

from backtester import Strategy


class MarketMaker(Strategy):
    """Quote ``size`` on both sides at the best bid and ask, post-only, within an inventory
    limit; requote when the touch moves.

    At each decision, from the observed book (``ctx.book``): a bid at the best bid while the
    expected position is below ``max_inventory``, an ask at the best ask while it is above
    ``-max_inventory``. A quote whose price is no longer the touch is cancelled and sent again
    at the new touch (each cancel and submit pays gas and travels with the venue's latency). A
    quote rejected because the book crossed it on arrival is simply sent again at the next
    decision. On a market without book data there is nothing to quote against: it does not
    trade.

    Parameters
    ----------
    market : str
        Market quoted (default ``"BTC-USD"``).
    size : float
        Base units per quote (default 0.01).
    max_inventory : float
        Largest absolute position (base units) it keeps quoting into (default 0.1).
    every : str
        Decision cadence (default ``"1s"``).

    Notes
    -----
    What it earns is the spread plus maker rebates on fills, minus what the price does after a
    fill (a bid fills when sellers push through it, often just before the price falls): compare
    ``res.fills`` prices with the mid some seconds later to see that adverse selection. Under
    ``queue_model="probabilistic"`` cancellations ahead move it up the queue, so more of its
    quotes fill than under the conservative rule (``notebooks/06_order_book.ipynb``).

    Examples
    --------
    >>> import backtester as bt, data_loaders as dl
    >>> res = bt.run(MarketMaker(size=0.01), dl.sample("btcusdt-tape"))
    >>> int((res.fills.liquidity == "maker").sum()) > 0
    True
    """

    params = dict(market="BTC-USD", size=0.01, max_inventory=0.1, every="1s")

    def init(self, data):
        if not (np.isfinite(self.size) and self.size > 0):
            raise ValueError(f"MarketMaker: size must be a positive number, got {self.size!r}")
        if not (np.isfinite(self.max_inventory) and self.max_inventory >= self.size):
            raise ValueError(f"MarketMaker: max_inventory must be >= size, got {self.max_inventory!r}")
        self._quotes = {1: None, -1: None}  # side -> (order id, price)

    def on_decision(self, ctx):
        book = ctx.book(self.market, depth=1)
        if not (np.isfinite(book.best_bid) and np.isfinite(book.best_ask)):
            return
        expected = ctx.expected_position(self.market)
        for side, touch, room in ((1, book.best_bid, self.max_inventory - expected),
                                  (-1, book.best_ask, self.max_inventory + expected)):
            quote = self._quotes[side]
            live = quote is not None and ctx.is_live(quote[0])
            if live and quote[1] == touch:
                continue  # still at the touch: keep its place in the queue
            if live:
                ctx.cancel(quote[0])
                room += self.size  # its unfilled size no longer counts once cancelled
            self._quotes[side] = None
            if room >= self.size:
                oid = ctx.submit(self.market, side * self.size, limit=float(touch), post_only=True)
                self._quotes[side] = (oid, touch)
