"""Which folder a report may write into, and what it may remove there.

A report writes many files (CSV tables, one PNG per plot, ``index.html``). Run again with
other strategies or scenarios, it would leave the previous run's plots beside the new ones,
and pointed by mistake at a folder of the user's it would mix its files into theirs. So:

* a report folder is marked by :data:`MANIFEST`, which lists the files the report wrote;
* a new report into a marked folder first removes the files the previous one listed (and
  nothing else: a file the user added stays);
* a folder that is not empty and not a report folder is refused before any run starts.

A folder written by a version before the manifest (``index.html`` and ``comparison.csv``
present) is taken as a report folder; its files are overwritten by name, none removed.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp()) / "rep"
>>> claim_folder(d) == d, (d / MANIFEST).exists()
(True, True)
>>> (d / "equity.png").write_bytes(b"png")
3
>>> seal_folder(d)
['equity.png']
>>> _ = claim_folder(d)           # the next report: the previous one's files are removed
>>> sorted(p.name for p in d.iterdir())
['.backtester-report.json']
"""
from __future__ import annotations

import json
import os
from pathlib import Path

#: marks a report folder and lists the files the report wrote there
MANIFEST = ".backtester-report.json"
#: files that identify a report folder written before the manifest existed
_LEGACY = ("index.html", "comparison.csv")
#: files named in the refusal
_SHOWN = 5


def claim_folder(folder) -> Path:
    """Make ``folder`` ready for a report and mark it as one (see the module docstring).

    Claiming again from the same process while its report is being written changes nothing,
    so the plots and the page can each claim the folder.

    Parameters
    ----------
    folder : str or Path
        Created if missing.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        ``folder`` is a file, or a non-empty folder that no report wrote (naming some of its
        files).
    """
    folder = check_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    mark = folder / MANIFEST
    previous = _read(mark)
    if previous is not None and previous.get("pid") == os.getpid() and not previous.get("complete"):
        return folder  # this process is writing it
    if previous is not None:
        for name in previous.get("files", []):
            path = folder / name
            # plain names in the folder only: a manifest edited by hand cannot reach elsewhere
            if Path(name).name == name and path.is_file() and not path.is_symlink():
                path.unlink()
    present = {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file() and p.name != MANIFEST}
    _write(mark, {"pid": os.getpid(), "complete": False, "files": [], "present": present})
    return folder


def check_folder(folder) -> Path:
    """What :func:`claim_folder` refuses, checked without creating or changing anything (to
    fail before a long run rather than after it).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "notes.txt").write_text("mine")
    4
    >>> check_folder(d)                      # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: report folder ... is not empty and no report wrote it (notes.txt); ...
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"report folder {folder} is a file; choose another --out")
    if not folder.exists() or (folder / MANIFEST).exists():
        return folder
    entries = sorted(p.name for p in folder.iterdir())
    if entries and not all((folder / n).exists() for n in _LEGACY):
        shown = ", ".join(entries[:_SHOWN]) + (f" and {len(entries) - _SHOWN} more" if len(entries) > _SHOWN else "")
        raise ValueError(f"report folder {folder} is not empty and no report wrote it ({shown}); "
                         "choose a new or empty folder with --out (nothing was changed)")
    return folder


def seal_folder(folder) -> list:
    """Record the files this report wrote in :data:`MANIFEST` (those that appeared or changed
    since its :func:`claim_folder`; a file the user had there and left alone is not listed);
    returns their names."""
    folder = Path(folder)
    mark = folder / MANIFEST
    present = (_read(mark) or {}).get("present", {})
    files = sorted(p.name for p in folder.iterdir()
                   if p.is_file() and not p.name.startswith(MANIFEST) and present.get(p.name) != p.stat().st_mtime_ns)
    _write(mark, {"pid": os.getpid(), "complete": True, "files": files})
    return files


def note_file(folder, name: str) -> None:
    """Record ``name`` in the manifest of the report being written, before the file is
    written: a report interrupted halfway still lists what it wrote, so the next one removes
    it (a no-op in a folder that was not claimed)."""
    mark = Path(folder) / MANIFEST
    info = _read(mark)
    if not info or info.get("complete") or name in info.get("files", []):
        return
    info["files"] = [*info.get("files", []), name]
    _write(mark, info)


def _read(mark: Path):
    try:
        return json.loads(mark.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # a damaged mark: still a report folder, but with no list nothing is removed


def _write(mark: Path, value: dict) -> None:
    tmp = mark.with_name(mark.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=1), encoding="utf-8")
    os.replace(tmp, mark)


__all__ = ["MANIFEST", "check_folder", "claim_folder", "note_file", "seal_folder"]
