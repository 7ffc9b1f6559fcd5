"""Progress of the long loops (chip, train, predict), as Raster Vision shows its own.

In a terminal: a tqdm bar with the count done of the total and the rate. When
the output is not a terminal (a log file, a Batch job): one log line per 10%,
so logs stay readable and still show a job that is alive.
"""

import logging
import sys
import time

from tqdm.auto import tqdm

log = logging.getLogger(__name__)


class Progress:
    """Counts work done of ``total``; use as a context manager and call :meth:`update`."""

    def __init__(self, total: int, desc: str, unit: str = "chip", stream=None):
        self.total = max(int(total), 0)
        self.desc = desc
        self.unit = unit
        self.stream = stream or sys.stderr
        self.done = 0
        self.bar = None
        self.next_tenth = 1
        self.start = time.monotonic()

    def __enter__(self):
        if self.stream.isatty():
            self.bar = tqdm(
                total=self.total, desc=self.desc, unit=self.unit, file=self.stream
            )
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        if self.bar is not None:
            self.bar.close()

    def update(self, count: int = 1) -> None:
        """Add ``count`` done; log a line at each 10% passed when not in a terminal."""
        self.done += count
        if self.bar is not None:
            self.bar.update(count)
            return
        if not self.total:
            return
        tenth = self.done * 10 // self.total
        if tenth >= self.next_tenth:
            self.next_tenth = tenth + 1
            rate = self.done / max(time.monotonic() - self.start, 1e-9)
            log.info(
                "%s: %d of %d %ss (%d%%), %.1f %ss/s",
                self.desc,
                self.done,
                self.total,
                self.unit,
                100 * self.done // self.total,
                rate,
                self.unit,
            )
