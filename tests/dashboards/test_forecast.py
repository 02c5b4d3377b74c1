import datetime

from taskboard.dashboards import forecast as fc

NOW = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


def make(**kw):
    args = dict(total=100, done=0, due_at=NOW + 5 * DAY, now=NOW, done_in_window=0, window_from=NOW - 2 * DAY)
    args.update(kw)
    return fc.forecast(**args)


def test_zero_items_is_empty_not_trouble():
    f = make(total=0)
    assert f.state == fc.EMPTY and f.remaining == 0 and f.percent == 0 and f.finish_at is None


def test_finished_is_done_even_past_the_due_date():
    f = make(done=100, due_at=NOW - DAY)
    assert f.state == fc.DONE and f.remaining == 0 and f.percent == 100


def test_already_overdue_with_work_left():
    f = make(done=40, due_at=NOW - DAY, done_in_window=40)
    assert f.state == fc.OVERDUE
    assert f.remaining == 60
    assert f.pace_per_day == 20  # 40 over the 2-day window
    assert f.finish_at == NOW + 3 * DAY


def test_due_exactly_now_counts_as_overdue():
    assert make(done=1, due_at=NOW, done_in_window=1).state == fc.OVERDUE


def test_no_work_done_yet_in_a_new_task_is_on_track_without_pace():
    f = make(window_from=NOW - datetime.timedelta(hours=3), created_at=NOW - datetime.timedelta(hours=3))
    assert f.state == fc.ON_TRACK and f.pace_per_day is None and f.note == "no pace yet"


def test_no_work_done_after_a_day_is_at_risk():
    f = make(created_at=NOW - 2 * DAY)
    assert f.state == fc.AT_RISK and f.finish_at is None


def test_pace_that_finishes_in_time_is_on_track():
    # 30 per day, 60 left: two days, due in five.
    f = make(done=40, done_in_window=60)
    assert f.state == fc.ON_TRACK
    assert f.pace_per_day == 30
    assert f.finish_at == NOW + 2 * DAY


def test_pace_that_finishes_late_is_at_risk():
    # 5 per day, 90 left: 18 days, due in five.
    f = make(done=10, done_in_window=10)
    assert f.state == fc.AT_RISK and f.finish_at == NOW + 18 * DAY


def test_finishing_exactly_at_the_due_date_is_on_track():
    f = make(done=0, done_in_window=40, total=140, due_at=NOW + 5 * DAY)  # 20/day, 140 left -> 7 days
    assert f.state == fc.AT_RISK
    f = make(done=40, done_in_window=40, total=140)  # 100 left at 20/day: exactly 5 days
    assert f.state == fc.ON_TRACK and f.finish_at == f.due_at


def test_net_negative_window_means_no_pace():
    f = make(done=10, done_in_window=-3, created_at=NOW - 3 * DAY)
    assert f.pace_per_day is None and f.state == fc.AT_RISK


def test_done_beyond_total_is_clamped():
    assert make(done=120).state == fc.DONE


def test_window_start_never_before_creation():
    created = NOW - datetime.timedelta(hours=5)
    assert fc.window_start(now=NOW, created_at=created, days=7) == created
    assert fc.window_start(now=NOW, created_at=NOW - 30 * DAY, days=7) == datetime.datetime(
        2026, 11, 21, tzinfo=datetime.UTC
    )


def test_trouble_sorts_first():
    states = [fc.DONE, fc.ON_TRACK, fc.OVERDUE, fc.EMPTY, fc.AT_RISK]
    assert sorted(states, key=fc.ORDER.get) == [fc.OVERDUE, fc.AT_RISK, fc.ON_TRACK, fc.EMPTY, fc.DONE]


# --- the pace per active hour -----------------------------------------------------------------

HOUR = 3600.0


def test_pace_is_items_per_active_hour_times_active_hours_per_day():
    # 40 done in 4 active hours over the 2-day window: 10 per active hour, 2 active hours a day.
    f = make(done=40, done_in_window=40, active_seconds_in_window=4 * HOUR)
    assert f.pace_per_hour == 10 and f.hours_per_day == 2 and f.pace_per_day == 20
    # 60 left need 6 active hours, which at 2 a day take 3 days: due in five.
    assert f.finish_at == NOW + 3 * DAY and f.state == fc.ON_TRACK and f.note == ""


def test_few_active_hours_a_day_make_a_fast_worker_late():
    # 30 an hour, but only 0.25 h a day lately: 90 left need 3 hours, i.e. 12 days; due in five.
    f = make(done=10, done_in_window=15, active_seconds_in_window=0.5 * HOUR)
    assert f.pace_per_hour == 30 and f.hours_per_day == 0.25
    assert f.finish_at == NOW + 12 * DAY and f.state == fc.AT_RISK


def test_items_done_without_active_time_fall_back_to_calendar_days():
    f = make(done=40, done_in_window=40, active_seconds_in_window=0)
    assert f.pace_per_hour is None and f.pace_per_day == 20 and f.note == fc.CALENDAR_NOTE
    # A few seconds are not an hour's evidence either.
    assert make(done=40, done_in_window=40, active_seconds_in_window=10).pace_per_hour is None


def test_active_time_with_nothing_finished_is_no_pace():
    f = make(done=0, done_in_window=0, active_seconds_in_window=3 * HOUR, created_at=NOW - 2 * DAY)
    assert f.pace_per_hour is None and f.pace_per_day is None and f.state == fc.AT_RISK
    new = make(done_in_window=0, active_seconds_in_window=HOUR, created_at=NOW - datetime.timedelta(hours=2))
    assert new.state == fc.ON_TRACK and new.note == "no pace yet"


def test_overdue_and_finished_with_active_time():
    f = make(done=40, due_at=NOW - DAY, done_in_window=40, active_seconds_in_window=4 * HOUR)
    assert f.state == fc.OVERDUE and f.finish_at == NOW + 3 * DAY and f.pace_per_hour == 10
    assert make(done=100, done_in_window=100, active_seconds_in_window=HOUR).state == fc.DONE


def test_a_window_under_a_day_counts_as_a_day_of_hours():
    # Two active hours in the first three hours of a task: 2 h/day, not 16.
    start = NOW - datetime.timedelta(hours=3)
    f = make(done=20, done_in_window=20, active_seconds_in_window=2 * HOUR, window_from=start, created_at=start)
    assert f.hours_per_day == 2 and f.pace_per_hour == 10 and f.pace_per_day == 20
