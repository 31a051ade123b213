"""Generated blocks of the docs: the text between two markers, rewritten or checked."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path


def replace_block(text: str, block: str, *, start: str, end: str, name: str) -> str:
    """`text` with everything from `start` to `end` (markers included) replaced by `block`."""
    if start not in text or end not in text:
        raise ValueError(f"{name} lacks the markers {start!r} ... {end!r}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return head + block + tail


def regenerate(path: Path, wanted: Callable[[str], str], *, check: bool, what: str) -> int:
    """Write `wanted(current text)` to `path` if it differs, or with `check` only compare (1 when
    stale); `what` names the generated part in the messages."""
    current = path.read_text()
    text = wanted(current)
    if check:
        if text != current:
            print(f"{path}: {what} out of date; run `make docs`", file=sys.stderr)
            return 1
        return 0
    if text == current:
        print(f"{path.name}: {what} already current")
    else:
        path.write_text(text)
        print(f"{path.name}: {what} regenerated")
    return 0
