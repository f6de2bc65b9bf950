"""The order book of markets with book data (docs/simulation.md, "Order book"): applying book
rows, what a side shows under stress, taker walks, and queue position of resting orders.

Each (market, side) is a row ``r = 2 * market + (0 bid | 1 ask)`` of ``st.lv_key``,
``st.lv_size`` and ``st.lv_taken``, with ``st.lv_n[r]`` levels in use. Keys ascend with the
best level last (``key = price`` for bids, ``-price`` for asks): most rows of a feed touch the
top, and an insert or removal near the end of the row shifts little. The level update
(``apply_level_nb``) is inlined in the event loop's quiet stretch, where most book rows pass (a
call handing over four arrays costs more in reference counts than the update itself), and
called with the state's one reference elsewhere (``set_level_nb``). Fixed signatures
(``typed``) keep one compiled copy of each function whatever integer types its callers hold.
"""
import numpy as np
from numba import njit

from .enums import C_BOOK, OT_LIMIT, ST_OPEN, ST_PARTIAL
from .fills_nb import multiplier_nb
from .state import CF_QUEUE_POWER, CI_QUEUE_MODEL, typed

#: ``Inputs.bk_flag`` of a row: an update, the first row of a snapshot group (clears its side)
#: or a later row of that group
BK_UPDATE = 0
BK_SNAPSHOT_FIRST = 1
BK_SNAPSHOT_MORE = 2
#: ``SimConfig.queue_model`` codes
QUEUE_CONSERVATIVE = 0
QUEUE_PROBABILISTIC = 1


@njit(cache=True, inline="always")
def side_row_nb(m, side):
    """Row of market ``m``'s bid (``side > 0``) or ask side in the level arrays."""
    return 2 * m + (0 if side > 0 else 1)


@njit(cache=True, inline="always")
def _key(price, side):
    return price if side > 0 else -price


@njit(cache=True, inline="always")
def _lower_bound(keys, n, key):
    """First index ``j < n`` with ``keys[j] >= key`` (``n`` when none)."""
    a = 0
    b = n
    while a < b:
        mid = (a + b) // 2
        if keys[mid] < key:
            a = mid + 1
        else:
            b = mid
    return a


@typed("f8(ST, i8, f8, i8)")
def data_size_nb(st, r, price, side):
    """The data size ``D(price)`` of side row ``r`` (0 when the level is absent)."""
    key = _key(price, side)
    n = st.lv_n[r]
    j = _lower_bound(st.lv_key[r], n, key)
    if j < n and st.lv_key[r, j] == key:
        return st.lv_size[r, j]
    return 0.0


@njit(cache=True, inline="always")
def apply_level_nb(lv_key, lv_size, lv_taken, lv_n, r, price, side, size):
    """A data row sets a level: its size (0 removes it) and no size taken by us."""
    key = _key(price, side)
    keys = lv_key[r]
    n = lv_n[r]
    j = _lower_bound(keys, n, key)
    if j < n and keys[j] == key:
        if size > 0.0:
            lv_size[r, j] = size
            lv_taken[r, j] = 0.0
            return
        for k in range(j, n - 1):
            keys[k] = keys[k + 1]
            lv_size[r, k] = lv_size[r, k + 1]
            lv_taken[r, k] = lv_taken[r, k + 1]
        lv_n[r] = n - 1
    elif size > 0.0:
        for k in range(n, j, -1):
            keys[k] = keys[k - 1]
            lv_size[r, k] = lv_size[r, k - 1]
            lv_taken[r, k] = lv_taken[r, k - 1]
        keys[j] = key
        lv_size[r, j] = size
        lv_taken[r, j] = 0.0
        lv_n[r] = n + 1


@njit(cache=True)
def snapshot_group_nb(bk_price, bk_side, bk_size, bk_flag, lv_key, lv_size, lv_taken, lv_n, r, i):
    """Replace side row ``r`` by the snapshot group starting at book row ``i``; returns the
    group's last row. A group listed best first or worst first (every feed's order) is written
    straight into place; any other order goes level by level."""
    last = i
    n_rows = bk_flag.shape[0]
    while last + 1 < n_rows and bk_flag[last + 1] == BK_SNAPSHOT_MORE:
        last += 1
    side = bk_side[i]
    g = 0  # levels with a size, and whether their keys run strictly down or up
    down = True
    up = True
    prev = 0.0
    for j in range(i, last + 1):
        if bk_size[j] > 0.0:
            key = _key(bk_price[j], side)
            if g > 0:
                down = down and key < prev
                up = up and key > prev
            prev = key
            g += 1
    lv_n[r] = 0
    if down or up:
        k = g - 1 if down else 0
        for j in range(i, last + 1):
            if bk_size[j] > 0.0:
                lv_key[r, k] = _key(bk_price[j], side)
                lv_size[r, k] = bk_size[j]
                lv_taken[r, k] = 0.0
                k += -1 if down else 1
        lv_n[r] = g
    else:
        for j in range(i, last + 1):
            apply_level_nb(lv_key, lv_size, lv_taken, lv_n, r, bk_price[j], side, bk_size[j])
    return last


@typed("void(ST, i8, f8, i8, f8)")
def set_level_nb(st, r, price, side, size):
    """:func:`_apply_level` on the run's book (one reference to hand over, not four arrays)."""
    apply_level_nb(st.lv_key, st.lv_size, st.lv_taken, st.lv_n, r, price, side, size)


@typed("i8(INP, ST, i8, i8)")
def apply_snapshot_nb(inp, st, r, i):
    """:func:`snapshot_group_nb` of book row ``i`` on the run's book; returns the group's last row."""
    return snapshot_group_nb(inp.bk_price, inp.bk_side, inp.bk_size, inp.bk_flag, st.lv_key, st.lv_size,
                             st.lv_taken, st.lv_n, r, i)


@njit(cache=True)
def shown_levels_nb(n, mult):
    """How many of a side's ``n`` levels show under the multiplier ``mult``: ``ceil(n / mult)``
    when ``mult > 1``, all of them otherwise."""
    if mult <= 1.0:
        return n
    return min(n, int(np.ceil(n / mult)))


@njit(cache=True)
def available_nb(size, taken, mult):
    """What our takers can take at a level: ``max(D / m - taken, 0)``; unlimited when the
    multiplier is 0 (a frictionless book)."""
    if mult <= 0.0:
        return np.inf
    return max(size / mult - taken, 0.0)


@typed("f8(INP, ST, i8, i8, i8)")
def touch_nb(inp, st, m, side, t):
    """Best price a taker on ``side`` meets at ``t``: the opposite side's best shown level with
    available size (NaN when none)."""
    r = side_row_nb(m, -side)
    n = st.lv_n[r]
    mult = multiplier_nb(inp, t)
    shown = shown_levels_nb(n, mult)
    for j in range(n - 1, n - 1 - shown, -1):
        if available_nb(st.lv_size[r, j], st.lv_taken[r, j], mult) > 0.0:
            return st.lv_key[r, j] if side < 0 else -st.lv_key[r, j]
    return np.nan


@typed("f8(ST, i8, i8)")
def deepest_nb(st, m, side):
    """The worst price of the data's side a taker on ``side`` takes from (NaN when empty)."""
    r = side_row_nb(m, -side)
    if st.lv_n[r] == 0:
        return np.nan
    return st.lv_key[r, 0] if side < 0 else -st.lv_key[r, 0]


@typed("UniTuple(f8, 4)(INP, ST, i8, i8, f8, f8, i8)")
def walk_nb(inp, st, m, side, qty, limit, t):
    """A taker walk of ``qty`` on ``side`` at ``t``: takes from the opposite side's shown levels,
    best first, up to ``limit`` (NaN: none), and marks what it took. Returns ``(filled, cost,
    touch, edge)``: size taken, its ``sum(size * price)``, the first and the last level price
    taken from (NaN when nothing)."""
    r = side_row_nb(m, -side)
    n = st.lv_n[r]
    mult = multiplier_nb(inp, t)
    shown = shown_levels_nb(n, mult)
    rest = qty
    cost = 0.0
    touch = np.nan
    edge = np.nan
    has_limit = not np.isnan(limit)
    for j in range(n - 1, n - 1 - shown, -1):
        if rest <= 0.0:
            break
        price = st.lv_key[r, j] if side < 0 else -st.lv_key[r, j]
        if has_limit and (price - limit) * side > 0.0:
            break
        take = min(rest, available_nb(st.lv_size[r, j], st.lv_taken[r, j], mult))
        if take <= 0.0:
            continue
        if np.isnan(touch):
            touch = price
        edge = price
        st.lv_taken[r, j] += take
        cost += take * price
        rest -= take
    return qty - rest, cost, touch, edge


@typed("void(ST, i8, f8, f8, i8, f8)")
def queue_update_nb(st, oid, prev, new, model, power):
    """A book row moved the data size at resting order ``oid``'s price from ``prev`` to ``new``:
    the queue ahead under the conservative or the probabilistic rule."""
    if new == prev:
        return
    o = st.orders[oid]
    chg = prev - new - o.queue_traded
    o.queue_traded = 0.0
    ahead = o.queue_ahead
    if model == QUEUE_PROBABILISTIC and chg > 0.0:
        front = ahead
        back = max(prev - front, 0.0)
        fb = back ** power
        ff = front ** power
        p = 1.0 if fb + ff == 0.0 else fb / (fb + ff)  # chance the decrease was behind the order
        ahead = front - (1.0 - p) * chg + min(back - p * chg, 0.0)
    o.queue_ahead = max(min(ahead, new, o.queue_ahead), 0.0)


@njit(cache=True, inline="always")
def _rests_on_nb(o, m, side):
    return (o.market == m and o.side == side and o.type == OT_LIMIT and not o.ioc
            and (o.status == ST_OPEN or o.status == ST_PARTIAL))


@typed("i8(INP, ST, i8)")
def book_rows_nb(inp, st, i):
    """Apply book row ``i`` (a whole snapshot group when ``i`` starts one) and move the queue
    ahead of our resting orders at the prices it changed. Returns the last row applied."""
    m = inp.bk_market[i]
    side = inp.bk_side[i]
    r = side_row_nb(m, side)
    watch = st.n_open[m] > 0
    n_book = st.counters[C_BOOK] if watch else 0
    prev = np.empty(n_book)
    for k in range(n_book):
        o = st.orders[st.book[k]]
        prev[k] = data_size_nb(st, r, o.limit_price, side) if _rests_on_nb(o, m, side) else np.nan
    last = i
    if inp.bk_flag[i] == BK_SNAPSHOT_FIRST:
        last = apply_snapshot_nb(inp, st, r, i)
    else:
        set_level_nb(st, r, inp.bk_price[i], side, inp.bk_size[i])
    if not watch:
        return last
    model = inp.cfg_i[CI_QUEUE_MODEL]
    power = inp.cfg_f[CF_QUEUE_POWER]
    for k in range(n_book):
        if np.isnan(prev[k]):
            continue
        oid = st.book[k]
        limit = st.orders[oid].limit_price
        if st.lv_n[r] == 0 or _key(limit, side) < st.lv_key[r, 0]:
            continue  # out of the data's view (behind a top-N book): unknown, not gone
        queue_update_nb(st, oid, prev[k], data_size_nb(st, r, limit, side), model, power)
    return last


@njit(cache=True)
def replay_until_nb(bk_ts, bk_market, bk_side, bk_price, bk_size, bk_flag, lv_key, lv_size, lv_taken, lv_n,
                    start, t):
    """Apply book rows ``start, start + 1, ...`` stamped ``<= t`` to the level arrays (what a
    decision observes: ``Context.book``); returns the first row not applied."""
    i = start
    n = bk_ts.shape[0]
    while i < n and bk_ts[i] <= t:
        r = side_row_nb(bk_market[i], bk_side[i])
        if bk_flag[i] == BK_SNAPSHOT_FIRST:
            i = snapshot_group_nb(bk_price, bk_side, bk_size, bk_flag, lv_key, lv_size, lv_taken, lv_n, r, i)
        else:
            apply_level_nb(lv_key, lv_size, lv_taken, lv_n, r, bk_price[i], bk_side[i], bk_size[i])
        i += 1
    return i


@typed("void(ST, i8)")
def join_queue_nb(st, oid):
    """Order ``oid`` starts resting: the data size shown at its price on its side is ahead."""
    o = st.orders[oid]
    o.queue_ahead = data_size_nb(st, side_row_nb(o.market, o.side), o.limit_price, o.side)
    o.queue_traded = 0.0
