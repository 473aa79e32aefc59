"""Progress lines a person sees on the console during long steps (downloads, decoding).

One line at most every ``every`` seconds, and one at the end: what, how far, how long so far
and about how long is left. Also usable as a pooch progress bar (``total``, ``update``,
``reset``, ``close``), so downloads report the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable

EVERY = 10.0  # seconds between progress lines


def _size(n: float, unit: str) -> str:
    if unit != "B":
        return f"{n:,.0f}{unit}"
    for prefix in ("", "k", "M", "G"):
        if abs(n) < 1000 or prefix == "G":
            return f"{n:,.0f} {prefix}B" if not prefix else f"{n:.1f} {prefix}B"
        n /= 1000
    return f"{n:.1f} GB"


class Ticker:
    def __init__(
        self,
        label: str,
        total: float | None,
        say: Callable[[str], None],
        every: float | None = None,
        unit: str = "",
    ):
        self.label, self.total, self.say, self.unit = label, total, say, unit
        self.every = EVERY if every is None else every
        self.n = 0.0
        self.start = self.last = time.monotonic()

    def reset(self) -> None:  # pooch calls this before a download starts
        self.n = 0.0
        self.start = self.last = time.monotonic()

    def update(self, n: float = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.say(self.line(now))

    def line(self, now: float) -> str:
        elapsed = now - self.start
        if self.total:
            frac = min(self.n / self.total, 1.0)
            left = f", ~{elapsed / frac - elapsed:.0f} s left" if 0 < frac < 1 else ""
            done = f"{_size(self.n, self.unit)} of {_size(self.total, self.unit)} ({frac:.0%})"
        else:
            done, left = _size(self.n, self.unit), ""
        return f"{self.label}: {done}, {elapsed:.0f} s{left}"

    def close(self) -> None:
        if time.monotonic() - self.start >= self.every:  # only long steps say they ended
            self.say(self.line(time.monotonic()) + ", done")
