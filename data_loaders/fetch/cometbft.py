"""A venue latency trace from dYdX v4 block headers (CometBFT RPC), sampled.

dYdX v4 is a CometBFT chain with single-slot finality: an order is in the book once a block
includes it, and that block is final when committed. So the block interval is the time to
inclusion and to finality, and a long gap between two blocks is an outage (a chain halt). The
trace reads block headers from a CometBFT RPC node (JSON-RPC over HTTP GET):

- ``/status``: the node's earliest and latest block (nodes prune: an archive node serves the past);
- ``/block?height=H``: one header's time (used to find the first block of a day by bisection);
- ``/blockchain?minHeight=A&maxHeight=B``: up to 20 headers, newest first.

Every ``every`` (default 5 minutes) one window of 20 consecutive headers is read; the trace
gets one row per window stamped at its first block: ``order_latency``, ``ack_latency`` and
``finality`` the median block interval of the window, ``up`` true, ``gas_fee`` 0 (dYdX v4
charges no gas for trading). Between two windows the heights and times tell whether blocks
stopped: when the time passed exceeds what the blocks in between account for by more than
``outage`` (default 30 s), the longest interval is found by bisection and the trace gets a row
``up`` false at the last block before it and an ``up`` row at the first block after it. An
interval longer than ``outage`` inside a window is handled the same way. A day costs about 300
requests at the default sampling.

Examples
--------
>>> from data_loaders.fetch.cometbft import median_interval
>>> median_interval([3_000_000_000, 2_000_000_000, 1_000_000_000])
1000000000
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from ..readers._common import Origin, conform_at
from ..validate import DataError
from ._http import Client, expect

#: headers a /blockchain answer holds at most
WINDOW = 20
EVERY = pd.Timedelta("5min")
OUTAGE = pd.Timedelta("30s")


def median_interval(times_ns) -> int:
    """The median interval of block times (any order), in ns."""
    t = np.sort(np.asarray(times_ns, np.int64))
    return int(np.median(np.diff(t))) if len(t) > 1 else 0


class ChainTrace:
    """Sampled block headers of a CometBFT node (see the module docstring).

    Parameters
    ----------
    client : Client
        On the RPC node's address.
    venue : str
        The venue name of the trace rows (``dydx``).
    every, outage : str or Timedelta
        Sampling period, and the block interval from which the chain counts as down.
    """

    def __init__(self, client: Client, venue: str = "dydx", every=EVERY, outage=OUTAGE):
        self.client = client
        self.venue = venue
        self.every = pd.Timedelta(every)
        self.outage = pd.Timedelta(outage)
        self._times: dict[int, int] = {}

    def _result(self, path: str, params: dict | None = None) -> dict:
        url = self.client.url(path, params)
        body = self.client.get_json(path, params)
        expect(isinstance(body, dict) and isinstance(body.get("result"), dict), url,
               "a JSON-RPC answer with an object 'result'", body)
        return body["result"]

    def span(self) -> tuple[int, int]:
        """(earliest, latest) block heights the node serves."""
        info = self._result("/status").get("sync_info")
        url = self.client.url("/status")
        expect(isinstance(info, dict), url, "result.sync_info", info)
        try:
            lo, hi = int(info["earliest_block_height"]), int(info["latest_block_height"])
            self._times[lo] = _ns(info["earliest_block_time"], url)
            self._times[hi] = _ns(info["latest_block_time"], url)
        except (KeyError, TypeError, ValueError):
            raise DataError(url, "sync_info without block heights and times", value=str(info)[:120],
                            expected="earliest/latest_block_height and _time") from None
        return lo, hi

    def first_time(self) -> pd.Timestamp:
        """Time of the earliest block the node serves."""
        lo, _ = self.span()
        return pd.Timestamp(self._times[lo], tz="UTC")

    def time_of(self, height: int) -> int:
        """The time (ns) of block ``height``."""
        if height not in self._times:
            url = self.client.url("/block", {"height": height})
            block = self._result("/block", {"height": height}).get("block")
            expect(isinstance(block, dict) and isinstance(block.get("header"), dict), url, "result.block.header",
                   block)
            self._times[height] = _ns(block["header"].get("time"), url)
        return self._times[height]

    def height_at(self, ts: pd.Timestamp, lo: int, hi: int) -> int:
        """The first block at or after ``ts`` within ``[lo, hi]`` (``hi`` if none), by bisection."""
        while lo < hi:
            mid = (lo + hi) // 2
            if self.time_of(mid) < ts.value:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def window(self, top: int) -> tuple[np.ndarray, np.ndarray]:
        """Heights and times (ns) of the ``WINDOW`` blocks ending at ``top``, oldest first."""
        params = {"minHeight": max(top - WINDOW + 1, 1), "maxHeight": top}
        url = self.client.url("/blockchain", params)
        metas = self._result("/blockchain", params).get("block_metas")
        expect(isinstance(metas, list) and metas, url, "a non-empty list result.block_metas", metas)
        pairs = []
        for i, m in enumerate(metas):
            header = m.get("header") if isinstance(m, dict) else None
            expect(isinstance(header, dict), f"{url} (block_metas[{i}])", "an object with a header", m)
            pairs.append((int(header["height"]), _ns(header.get("time"), url)))
        pairs.sort()
        for h, t in pairs:
            self._times[h] = t
        return np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64)

    def longest_gap(self, a: int, b: int) -> int:
        """The height ``h`` in ``[a, b)`` whose interval to ``h + 1`` is the longest, assuming one
        interval dominates (a halt): bisect toward the half whose time per block is larger."""
        while b - a > 1:
            mid = (a + b) // 2
            left = (self.time_of(mid) - self.time_of(a)) / (mid - a)
            right = (self.time_of(b) - self.time_of(mid)) / (b - mid)
            a, b = (a, mid) if left >= right else (mid, b)
        return a

    def trace(self, day: pd.Timestamp, hi: pd.Timestamp) -> tuple[pa.Table, str]:
        """The trace rows of ``[day, hi)`` and a description of where they came from."""
        first, last = self.span()
        if self._times[first] > day.value:
            raise DataError(self.client.url("/status"), f"the node's earliest block is "
                            f"{pd.Timestamp(self._times[first], tz='UTC')}, after {day}: it has pruned that day "
                            "(use an archive node's address)")
        start_h = self.height_at(day, first, last)
        end_h = self.height_at(hi, start_h, last)  # the first block of the next day (or the latest)
        step = max((self._times[last] - self._times[first]) // max(last - first, 1), 1)
        rows = []  # (ts ns, block interval ns, up)
        prev = None  # height of the last block of the previous window
        cursor_h, cursor_t = start_h, self.time_of(start_h)
        t = day
        while t < hi and (prev is None or prev < end_h):
            # where the chain should be at t if blocks kept coming at the last pace
            top = cursor_h + max((t.value - cursor_t) // step, 0) + WINDOW - 1
            if prev is not None:
                top = max(top, prev + WINDOW)
            heights, times = self.window(min(top, end_h))
            keep = (times >= day.value) & (times < hi.value)
            if prev is not None:
                keep &= heights > prev
            heights, times = heights[keep], times[keep]
            if len(heights) > 1:
                step = max(median_interval(times), 1)
                if prev is not None:
                    self._gap(rows, prev, int(heights[0]), step)
                for a in np.flatnonzero(np.diff(times) > self.outage.value):
                    rows.append((int(times[a]), step, False))
                    rows.append((int(times[a + 1]), step, True))
                rows.append((int(times[0]), step, True))
            if len(heights):
                prev, cursor_h, cursor_t = int(heights[-1]), int(heights[-1]), int(times[-1])
            elif prev is None:
                break
            t = max(t + self.every, pd.Timestamp(cursor_t + 1, tz="UTC"))
        if prev is not None and end_h > prev:  # blocks stopped before the day ended: the halt starts today
            self._gap(rows, prev, end_h, step)
        # a halt found twice is one halt; its end may be the next day's (that day's trace has it)
        rows = sorted({r for r in rows if day.value <= r[0] < hi.value}, key=lambda r: (r[0], r[2]))
        table = _table(rows, self.venue, self.client.url("/blockchain"))
        return table, f"{self.client.url('/blockchain')} (blocks {start_h}..{end_h}, one window every {self.every})"

    def _gap(self, rows: list, a: int, b: int, step: int) -> None:
        """Rows for a halt between blocks ``a`` and ``b`` (both known), if there was one."""
        if b <= a + 1:
            if b == a + 1 and self.time_of(b) - self.time_of(a) > self.outage.value:
                rows += [(self.time_of(a), step, False), (self.time_of(b), step, True)]
            return
        expected = (b - a) * step
        if self.time_of(b) - self.time_of(a) - expected <= self.outage.value:
            return
        h = self.longest_gap(a, b)
        if self.time_of(h + 1) - self.time_of(h) > self.outage.value:
            rows += [(self.time_of(h), step, False), (self.time_of(h + 1), step, True)]


def _ns(text, url: str) -> int:
    try:
        return pd.Timestamp(text).tz_convert("UTC").value
    except (ValueError, TypeError, AttributeError):
        raise DataError(url, "a block time", value=str(text), expected="an RFC 3339 time with a zone") from None


def _table(rows: list, venue: str, source: str) -> pa.Table:
    n = len(rows)
    ts = np.array([r[0] for r in rows], np.int64)
    step = pa.array(np.array([r[1] for r in rows], np.int64)).cast(pa.duration("ns"))
    table = pa.table({
        "ts": pa.array(ts).cast(pa.timestamp("ns", tz="UTC")),
        "venue": pa.array([venue] * n, pa.string()),
        "order_latency": step, "ack_latency": step, "finality": step,
        "up": pa.array([bool(r[2]) for r in rows], pa.bool_()),
        "gas_fee": pa.array(np.zeros(n)),
    })
    return conform_at(table, "latency", Origin(source))
