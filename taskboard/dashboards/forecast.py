"""Will the work be done by the due date? Pure arithmetic on counters, testable at its edges.

The pace is measured over a recent window (the last days, from `DailyThroughput`) as two figures:
how many items people finish per *active hour* (net: rework takes items back), and how many active
hours a day they have recently put in (over calendar days, nights and days off included, since the
due date is on the calendar too). The items left need `remaining / per_hour` active hours; at the
observed hours per day they take `hours / hours_per_day` days from now: that is the projected
finish, and against the due date it gives the state. Their product is the daily pace shown.

Items finished with no active time recorded (through the API, or before the work view measured
time) leave no per-hour pace: then the pace is items per calendar day, and the note says so.
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
# Less active time than this in the window is too little to measure a per-hour pace from.
MIN_ACTIVE_SECONDS = 60.0
CALENDAR_NOTE = "no active time recorded: pace per calendar day"


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
    pace_per_hour: float | None = None  # net items per active hour in the window
    hours_per_day: float | None = None  # active hours per calendar day in the window

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
    active_seconds_in_window: float = 0.0,
) -> Forecast:
    """`done_in_window`: net items finished since `window_from`; `active_seconds_in_window`: the
    active time people spent on the task's items in the same days (the pace's evidence)."""
    done = max(0, min(done, total))
    remaining = total - done
    if total == 0:
        return Forecast(EMPTY, 0, 0, 0, None, None, due_at, "no items yet")
    if remaining == 0:
        return Forecast(DONE, total, done, 0, None, None, due_at)
    # At least a day: a first hour's burst is not a daily pace (people do not work around the clock).
    elapsed_days = max((now - window_from).total_seconds() / 86400, MIN_PACE_DAYS)
    per_hour = hours_per_day = pace = finish_at = None
    note = ""
    if done_in_window > 0:
        active_hours = max(active_seconds_in_window or 0.0, 0.0) / 3600
        if active_hours * 3600 >= MIN_ACTIVE_SECONDS:
            per_hour = done_in_window / active_hours
            hours_per_day = active_hours / elapsed_days
            pace = per_hour * hours_per_day
            finish_at = now + datetime.timedelta(days=(remaining / per_hour) / hours_per_day)
        else:
            pace = done_in_window / elapsed_days
            finish_at = now + datetime.timedelta(days=remaining / pace)
            note = CALENDAR_NOTE

    def result(state, why=""):
        return Forecast(state, total, done, remaining, pace, finish_at, due_at, why or note, per_hour, hours_per_day)

    if due_at is not None and now >= due_at:
        return result(OVERDUE, "past the due date")
    if pace is None:
        started = created_at or window_from
        if now - started < GRACE:
            return result(ON_TRACK, "no pace yet")
        return result(AT_RISK, "nothing finished lately")
    if due_at is None or finish_at is None or finish_at <= due_at:
        return result(ON_TRACK)
    return result(AT_RISK, "finishes after the due date")
