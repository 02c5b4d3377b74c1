"""Will the work be done by the due date? Pure arithmetic on counters, testable at its edges.

The pace is the net items finished per day over a recent window (from `DailyThroughput`).
The projected finish is now + remaining / pace; against the due date that gives the state.
A window shorter than a day counts as a day.
"""

import datetime
from dataclasses import dataclass

DONE = "done"
OVERDUE = "overdue"
AT_RISK = "at_risk"
ON_TRACK = "on_track"
EMPTY = "empty"

LABELS = {DONE: "Finished", OVERDUE: "Overdue", AT_RISK: "At risk", ON_TRACK: "On track", EMPTY: "No items"}
# Trouble first on the project dashboard.
ORDER = {OVERDUE: 0, AT_RISK: 1, ON_TRACK: 2, EMPTY: 3, DONE: 4}
# Before this much time has passed with nothing done, no pace is not yet a warning.
GRACE = datetime.timedelta(days=1)
DEFAULT_WINDOW_DAYS = 7
MIN_PACE_DAYS = 1.0


@dataclass(frozen=True)
class Forecast:
    state: str
    total: int
    done: int
    remaining: int
    pace_per_day: float | None  # None: nothing measured yet
    finish_at: datetime.datetime | None
    due_at: datetime.datetime | None
    note: str = ""

    @property
    def label(self) -> str:
        return LABELS[self.state]

    @property
    def sort_key(self) -> int:
        return ORDER[self.state]

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def css(self) -> str:
        return {OVERDUE: "bad", AT_RISK: "warn", ON_TRACK: "ok", DONE: "ok"}.get(self.state, "")


def window_start(*, now: datetime.datetime, created_at: datetime.datetime, days: int) -> datetime.datetime:
    """The start of the pace window: `days` calendar days back (from midnight), not before creation."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return max(created_at, midnight - datetime.timedelta(days=days - 1))


def forecast(
    *,
    total: int,
    done: int,
    due_at: datetime.datetime | None,
    now: datetime.datetime,
    done_in_window: int,
    window_from: datetime.datetime,
    created_at: datetime.datetime | None = None,
) -> Forecast:
    """`done_in_window`: net items finished since `window_from` (the pace's evidence)."""
    done = max(0, min(done, total))
    remaining = total - done
    if total == 0:
        return Forecast(EMPTY, 0, 0, 0, None, None, due_at, "no items yet")
    if remaining == 0:
        return Forecast(DONE, total, done, 0, None, None, due_at)
    # At least a day: a first hour's burst is not a daily pace (people do not work around the clock).
    elapsed_days = max((now - window_from).total_seconds() / 86400, MIN_PACE_DAYS)
    pace = done_in_window / elapsed_days if done_in_window > 0 and elapsed_days > 0 else None
    finish_at = now + datetime.timedelta(days=remaining / pace) if pace else None
    if due_at is not None and now >= due_at:
        return Forecast(OVERDUE, total, done, remaining, pace, finish_at, due_at, "past the due date")
    if pace is None:
        started = created_at or window_from
        if now - started < GRACE:
            return Forecast(ON_TRACK, total, done, remaining, None, None, due_at, "no pace yet")
        return Forecast(AT_RISK, total, done, remaining, None, None, due_at, "nothing finished lately")
    if due_at is None or finish_at <= due_at:
        return Forecast(ON_TRACK, total, done, remaining, pace, finish_at, due_at)
    return Forecast(AT_RISK, total, done, remaining, pace, finish_at, due_at, "finishes after the due date")
