"""One place for "no such name; did you mean ...?" errors (params, config and market fields)."""
from __future__ import annotations

import difflib


def check_names(owner: str, what: str, given, known) -> None:
    """Raise ``TypeError`` for the first name in ``given`` not in ``known``, naming the close
    match (or listing the known names when nothing is close)."""
    known = list(known)
    for key in given:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(known))}"
            raise TypeError(f"{owner} has no {what} {key!r}{hint}")
