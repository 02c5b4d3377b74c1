"""The forecast's active hours: the work view's heartbeats kept per assignment and day."""

import datetime

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from taskboard.annotation.models import TaskItem
from taskboard.dashboards import counters, queries
from taskboard.dashboards.models import DailyThroughput
from taskboard.work import flow
from taskboard.work import services as work
from tests.dashboards.conftest import held_items


def _work_on(task, user, items, *, seconds_each, start):
    """`user` spends `seconds_each` active seconds on each item (a sign of activity every 30 s), then
    completes it. The first mark only starts the clock."""
    now = start
    for n, item in enumerate(items):
        row = TaskItem.objects.select_related("assignment", "task").get(task=task, item=item)
        if n == 0:
            work.item_time_beat(task_item=row, by=user, marks_ago_ms=[0], now=now)
        for _ in range(int(seconds_each // 30)):
            now += datetime.timedelta(seconds=30)
            work.item_time_beat(task_item=row, by=user, marks_ago_ms=[0], now=now)
        flow.item_status_set(task=task, item=item, status="completed", by=user)
    return now


def _per_person(task):
    """Each assignee's (done, active seconds), summed over days: work near midnight spans two rows."""
    return {
        r["assignment__assignee_id"]: (r["done"], r["seconds"])
        for r in DailyThroughput.objects.filter(task=task)
        .values("assignment__assignee_id")
        .annotate(done=Sum("done"), seconds=Sum("active_seconds"))
    }


def test_heartbeats_feed_the_pace_per_active_hour(client, make_task, manager, annotator, annotator2):
    task = make_task(assignees=[annotator, annotator2])
    # The work comes after the task exists: the pace window opens at its creation.
    start = task.created_at
    # Bob: 4 items at 90 s each (6 min); Carol: 2 items at 3 min each (6 min).
    _work_on(task, annotator, held_items(task, annotator)[:4], seconds_each=90, start=start)
    _work_on(task, annotator2, held_items(task, annotator2)[:2], seconds_each=180, start=start)
    assert counters.find_drift([task.pk]) == []
    assert _per_person(task) == {annotator.pk: (4, 360.0), annotator2.pk: (2, 360.0)}

    n = queries.task_numbers(task)
    # 6 items in 12 active minutes: 30 per active hour, whatever the calendar.
    assert n.forecast.pace_per_hour == pytest.approx(30)
    bob, carol = sorted(n.rows, key=lambda r: r.label)
    assert bob.forecast.pace_per_hour == pytest.approx(40) and carol.forecast.pace_per_hour == pytest.approx(20)
    assert bob.forecast.hours_per_day == pytest.approx(0.1)  # 6 minutes over the one-day minimum
    (summary,) = queries.project_tasks(task.project)
    assert summary.forecast.pace_per_hour == pytest.approx(30)

    client.force_login(manager)
    page = client.get(reverse("dashboards:task", args=[task.pk])).content.decode()
    assert "30.0 items per active hour" in page


def test_drift_check_covers_the_daily_active_time(make_task, annotator):
    task = make_task(assignees=[annotator])
    _work_on(task, annotator, held_items(task, annotator)[:2], seconds_each=60, start=timezone.now())
    DailyThroughput.objects.filter(task=task).update(active_seconds=0)
    DailyThroughput.objects.filter(pk=DailyThroughput.objects.filter(task=task).first().pk).update(active_seconds=5)
    (drift,) = counters.find_drift([task.pk])
    assert (drift.counter, drift.stored, drift.actual) == ("active_time", 5, 120)
    counters.rebuild([task.pk])
    assert counters.find_drift() == []
    assert _per_person(task) == {annotator.pk: (2, 120)}  # the repair keeps the done count
    # And a throughput repair keeps the active time.
    DailyThroughput.objects.filter(task=task).update(done=9)
    counters.rebuild([task.pk])
    assert _per_person(task) == {annotator.pk: (2, 120)}
