"""Progress display and the signal handling every long run shares (Ctrl-C and SIGTERM alike)."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Iterator
from types import FrameType


class Interrupted(Exception):
    """SIGINT/SIGTERM during a run: stop the workers and the servers, report nothing."""


class Progress:
    """One updating line on a TTY, a line every few seconds otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stdout.isatty()
        self._last = 0.0

    def update(self, text: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            sys.stdout.write("\r\x1b[2K" + text)
            sys.stdout.flush()
        elif now - self._last >= 5.0:
            print(text, flush=True)
            self._last = now

    def line(self, text: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            sys.stdout.write("\r\x1b[2K")
        print(text, flush=True)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C so the same cleanup path runs."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except KeyboardInterrupt as exc:
        raise Interrupted("SIGINT") from exc
    finally:
        signal.signal(signal.SIGTERM, previous)
