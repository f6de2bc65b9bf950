"""Arrow/numpy helpers the scenarios share: row masks, column edits, step-function windows.

Every helper returns a new table and never touches its input (Arrow tables are immutable; numpy
arrays taken from them are copied before being written).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NS_MAX = np.iinfo(np.int64).max


def ts_ns(table: pa.Table) -> np.ndarray:
    """The ``ts`` column as int64 nanoseconds (a fresh array)."""
    return np.asarray(table.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False), np.int64).copy()


def names(table: pa.Table, column: str) -> list[str]:
    """Sorted distinct values of a string (or dictionary) column."""
    if table.num_rows == 0:
        return []
    return sorted(pc.unique(table.column(column).cast(pa.string())).to_pylist())


def in_groups(table: pa.Table, column: str, groups) -> np.ndarray:
    """Boolean mask of the rows whose ``column`` is one of ``groups``."""
    if table.num_rows == 0:
        return np.zeros(0, bool)
    col = table.column(column).cast(pa.string())
    mask = pc.is_in(col, value_set=pa.array(list(groups), pa.string()))
    return np.asarray(mask.to_numpy(zero_copy_only=False), bool)


def group_rows(table: pa.Table, column: str, group: str) -> np.ndarray:
    """Positions of the rows of one market or venue, in table order (= time order)."""
    return np.flatnonzero(in_groups(table, column, [group]))


def set_column(table: pa.Table, name: str, values) -> pa.Table:
    """``table`` with column ``name`` replaced by ``values`` cast to the column's type."""
    i = table.schema.get_field_index(name)
    field = table.schema.field(i)
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
    if arr.type != field.type:
        arr = arr.cast(field.type)
    return table.set_column(i, field, arr)


def floats(table: pa.Table, name: str) -> np.ndarray:
    """A float column as a writable numpy copy (nulls as NaN)."""
    col = table.column(name)
    if col.null_count:
        col = col.fill_null(np.nan)
    return np.array(col.to_numpy(zero_copy_only=False), np.float64)


def durations(table: pa.Table, name: str) -> np.ndarray:
    """A duration column as writable int64 nanoseconds."""
    return np.array(table.column(name).cast(pa.int64()).to_numpy(zero_copy_only=False), np.int64)


def scale_rows(table: pa.Table, name: str, mask: np.ndarray, factor: float) -> pa.Table:
    """Multiply column ``name`` by ``factor`` on the rows of ``mask`` (NaN stays NaN)."""
    if not mask.any():
        return table
    values = floats(table, name)
    values[mask] *= factor
    if table.schema.field(name).nullable:
        return set_column(table, name, pa.array(values, pa.float64(), from_pandas=True))
    return set_column(table, name, values)


def rebuild(table: pa.Table, take: np.ndarray, stamps: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """Rows ``take`` of ``table`` restamped to ``stamps``, sorted by (stamp, source row).

    The sort keeps every group non-decreasing in time (the validator's rule) and, for rows not
    restamped, their original relative order (for a table in time order). Returns the table and
    the permutation applied to ``take`` (to carry per-row flags along).
    """
    take = np.asarray(take, np.int64)
    stamps = np.asarray(stamps, np.int64)
    order = np.lexsort((take, stamps))
    out = table.take(pa.array(take[order]))
    out = set_column(out, "ts", pa.array(stamps[order]).cast(table.schema.field("ts").type))
    return _unify(out), order


def _unify(table: pa.Table) -> pa.Table:
    return table.unify_dictionaries().combine_chunks() if table.num_rows else table


def step_window(t: np.ndarray, p: np.ndarray, s: int, e: int, floor: int | None):
    """Rows that describe one group's step function with explicit rows at ``s`` and ``e``.

    A latency trace or oracle is a step function: the value in force at ``t`` is the last row
    with ``ts <= t``. To change it on ``[s, e)`` only, we need a row at ``s`` (a copy of the one
    in force there) and a row at ``e`` (a copy of the original in force there), so that the
    rows inside can be edited without touching anything outside.

    Parameters
    ----------
    t, p : arrays
        The group's timestamps (non-decreasing) and their positions in the table.
    s, e : int
        Window ``[s, e)`` in ns (``e = NS_MAX``: open-ended).
    floor : int or None
        For traces, whose first row also holds *before* it: when the first row is after ``s``,
        an unedited copy of it is stamped at ``floor`` (``< s``) so that times before ``s``
        keep their value. ``None`` (oracle): nothing holds before the first row, and no row is
        added at ``s`` unless one is in force there.

    Returns
    -------
    take, stamps, inside : arrays
        Source positions, new stamps and whether each new row lies in the window (to edit).

    Examples
    --------
    >>> import numpy as np
    >>> take, stamps, inside = step_window(np.array([0, 10, 20]), np.arange(3), 5, 15, None)
    >>> stamps.tolist(), take.tolist(), inside.tolist()
    ([0, 5, 10, 15, 20], [0, 0, 1, 1, 2], [False, True, True, False, False])
    """
    parts = []  # (take, stamps, inside)

    def add(pos, stamp, flag):
        pos = np.atleast_1d(pos)
        parts.append((pos, np.broadcast_to(np.atleast_1d(stamp), pos.shape), np.full(len(pos), flag)))

    if floor is not None and t[0] > s and floor < s:
        add(p[0], floor, False)
    before, after = t < s, t >= e
    inside = ~before & ~after
    add(p[before], t[before], False)
    i_s = np.searchsorted(t, s, side="right") - 1
    if i_s < 0 and floor is not None:
        i_s = 0  # before its first row a trace holds its first row
    if i_s >= 0 and not np.any(t == s):
        add(p[i_s], s, True)
    add(p[inside], t[inside], True)
    if e < NS_MAX and not np.any(t == e):
        i_e = np.searchsorted(t, e, side="right") - 1
        if i_e < 0 and floor is not None:
            i_e = 0
        if i_e >= 0:
            add(p[i_e], e, False)
    add(p[after], t[after], False)
    take, stamps, flags = (np.concatenate([x[k] for x in parts]) for k in range(3))
    return take.astype(np.int64), stamps.astype(np.int64), flags.astype(bool)


def shift_window(t: np.ndarray, p: np.ndarray, s: int | None, e: int, d: int):
    """Rows of one group's step function delayed by ``d`` on ``[s, e)``.

    Inside the window the value in force at ``t`` becomes the original one at ``t - d``;
    outside it is unchanged. ``s = None``: every row is stamped ``d`` later.

    Returns
    -------
    take, stamps : arrays
        Source positions and new stamps.

    Examples
    --------
    >>> import numpy as np
    >>> take, stamps = shift_window(np.array([0, 10, 20, 30]), np.arange(4), 10, 30, 5)
    >>> stamps.tolist(), take.tolist()
    ([0, 10, 15, 25, 30], [0, 0, 1, 2, 3])
    """
    if s is None:
        return p.astype(np.int64), (t + d).astype(np.int64)
    parts = []
    before, after = t < s, t >= e
    parts.append((p[before], t[before]))
    j = np.searchsorted(t, s - d, side="right") - 1
    if j >= 0:  # the value that was in force d before the window opened
        parts.append((p[j:j + 1], np.array([s])))
    moved = (t > s - d) & (t < e - d)
    parts.append((p[moved], t[moved] + d))
    if e < NS_MAX and not np.any(t == e):
        k = np.searchsorted(t, e, side="right") - 1
        if k >= 0:  # the window closes on the original value in force at e
            parts.append((p[k:k + 1], np.array([e])))
    parts.append((p[after], t[after]))
    take = np.concatenate([x[0] for x in parts]).astype(np.int64)
    stamps = np.concatenate([x[1] for x in parts]).astype(np.int64)
    return take, stamps
