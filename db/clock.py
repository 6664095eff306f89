"""One clock for "today": every date default, every "not in the future" check and every cache key
that depends on the day reads `today()`, never `datetime.date.today()` directly.

Why one place: the test suite pins the day for a whole run (tests/conftest.py). Before this, ten
test modules fixed TODAY when imported while the app read the calendar per request, so a run that
crossed midnight UTC compared yesterday's expectations with today's answers and failed about 30
tests (seen 2026-11-30 on b051925). A served process never pins: `today()` is the calendar day.
"""
from __future__ import annotations

import datetime as dt

_pinned: dt.date | None = None


def today() -> dt.date:
    """The day a request counts as today: the calendar's, unless a test run pinned one."""
    return _pinned or dt.date.today()


def pin(day: dt.date | None) -> None:
    """Fix `today()` to `day` (None: back to the calendar). Tests only: a run that crosses
    midnight then sees one day from start to end, as a request does."""
    global _pinned
    _pinned = day
