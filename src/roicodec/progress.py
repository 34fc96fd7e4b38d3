"""How far one encode or decode has got, for the command line's progress bar on big pictures.

A 12 MP photo takes tens of seconds each way on two cores, a 50 MP one ten minutes, and the time goes
four or five calls below ``compress``/``decompress``: the transforms' tiles (model/tiling.py), the
entropy coder's checkerboard passes and bands (model/entropy.py), rate control's trial encodes
(encoder.py). Threading a callback through every signature on the way would touch the whole codec for
a display concern, so the code that does the work reports to whoever is listening in this context
(a ``contextvars.ContextVar``: per thread and per asyncio task, nothing global), and nobody listens
unless a caller asks (``reporting``). A report costs one context-variable read when nobody listens.
"""

from __future__ import annotations

import sys
import time
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator, TextIO

#: ``reporter(stage, done, total)``: ``stage`` names what runs now ("trial 2: entropy coding"),
#: ``done`` of ``total`` units of it are finished.
Reporter = Callable[[str, int, int], None]

_reporter: ContextVar[Reporter | None] = ContextVar("roicodec_progress_reporter", default=None)
_phase: ContextVar[str] = ContextVar("roicodec_progress_phase", default="")


def report(stage: str, done: int, total: int) -> None:
    """Say that ``done`` of ``total`` units of ``stage`` are finished (inside any ``phase``)."""
    reporter = _reporter.get()
    if reporter is not None:
        prefix = _phase.get()
        reporter(f"{prefix}: {stage}" if prefix else stage, done, total)


@contextmanager
def _bound(var: ContextVar, value: object) -> Iterator[None]:
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


def phase(name: str) -> AbstractContextManager[None]:
    """Name the larger step that the reports inside belong to (a rate-control trial, say)."""
    return _bound(_phase, name)


def reporting(reporter: Reporter) -> AbstractContextManager[None]:
    """Send this context's reports to ``reporter`` until the block ends."""
    return _bound(_reporter, reporter)


class ProgressBar:
    """A reporter that draws one tqdm bar on stderr, only once the work has run ``delay`` seconds: a
    Kodak-sized picture, done in under a second, prints nothing. The bar is removed when it closes."""

    def __init__(self, delay: float = 1.0, file: TextIO | None = None) -> None:
        self.delay = delay
        self.file = file if file is not None else sys.stderr
        self.start = time.monotonic()
        self._bar = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._bar is None:
            if time.monotonic() - self.start < self.delay:
                return
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=done, desc=stage, file=self.file, leave=False, dynamic_ncols=True,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {n}/{total} [{elapsed}]")
            self._bar.start_t -= time.monotonic() - self.start  # elapsed since the work began, not the bar
            self._bar.refresh()
            return
        self._bar.total = total
        self._bar.n = done
        self._bar.set_description_str(stage, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@contextmanager
def bar(enabled: bool = True, delay: float = 1.0, file: TextIO | None = None) -> Iterator[None]:
    """Show a ``ProgressBar`` for the work inside the block, when ``enabled`` and ``file`` (stderr) is a
    terminal: redirected output, logs and one-line errors stay free of carriage-return redraws."""
    file = file if file is not None else sys.stderr
    isatty = getattr(file, "isatty", None)
    if not enabled or not (isatty is not None and isatty()):
        yield
        return
    shown = ProgressBar(delay, file)
    try:
        with reporting(shown):
            yield
    finally:
        shown.close()
