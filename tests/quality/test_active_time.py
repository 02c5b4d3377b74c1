"""Honest active time: gaps between signs of activity count up to the project's idle cut-off."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from taskboard.quality.activity import active_seconds_by_person_task, to_ms
from taskboard.quality.models import ActivityMark, ProjectQuality
from taskboard.work import services as work
from taskboard.work.models import AssignmentTime
from tests.quality.conftest import held


def _beat(row, user, now, *ages):
    work.item_time_beat(task_item=row, by=user, marks_ago_ms=list(ages), now=now)


def test_one_timeline_per_person_over_tasks_and_tabs(make_task, annotator):
    cars = make_task("Cars", assignees=[annotator])
    trucks = make_task("Trucks", assignees=[annotator], folder="/highway")
    car, truck = held(cars, annotator)[0], held(trucks, annotator)[0]
    t0 = timezone.now()
    _beat(car, annotator, t0, 30_000, 20_000, 0)  # 30 s on the car
    # Another tab, same moments, on the truck: nothing twice.
    _beat(truck, annotator, t0, 25_000, 5_000)
    # 40 s later on the truck: the gap belongs to the item the person came back to.
    _beat(truck, annotator, t0 + datetime.timedelta(seconds=40), 0)
    # Lunch (1 h), then 10 s on the car.
    _beat(car, annotator, t0 + datetime.timedelta(hours=1, seconds=10), 10_000, 0)
    recount = {r.task_id: r.seconds for r in active_seconds_by_person_task(task_ids=[cars.pk, trucks.pk])}
    assert recount == {cars.pk: pytest.approx(40), trucks.pk: pytest.approx(40)}
    # A report of one task only still measures its first gap from the mark before it, in any task.
    (only,) = active_seconds_by_person_task(task_ids=[trucks.pk])
    assert only.seconds == pytest.approx(40)


def test_recount_applies_the_projects_cutoff(make_task, annotator):
    task = make_task(assignees=[annotator])
    row = held(task, annotator)[0]
    t0 = timezone.now()
    for minutes in (0, 2, 4, 12):
        _beat(row, annotator, t0 + datetime.timedelta(minutes=minutes), 0)
    (total,) = active_seconds_by_person_task(task_ids=[task.pk])
    assert total.seconds == pytest.approx(240)
    ProjectQuality.objects.create(project=task.project, idle_cutoff_seconds=60)
    (total,) = active_seconds_by_person_task(task_ids=[task.pk])
    assert total.seconds == 0


def test_quality_page_sets_the_cutoff_and_shows_time(client, make_task, manager, annotator):
    task = make_task(assignees=[annotator])
    row = held(task, annotator)[0]
    t0 = timezone.now()
    _beat(row, annotator, t0, 90_000, 60_000, 0)
    client.force_login(manager)
    url = reverse("quality:project", args=[task.project_id])
    page = client.get(url).content.decode()
    assert "bob@example.com" in page and "1 min 30 s" in page
    response = client.post(url, {"idle_cutoff_seconds": "10"})
    assert response.status_code == 200 and "greater than or equal to 30" in response.content.decode()
    assert client.post(url, {"idle_cutoff_seconds": "120"}).status_code == 302
    assert ProjectQuality.objects.get(project=task.project).idle_cutoff_seconds == 120


def test_only_managers_see_the_quality_page(client, make_task, annotator, other_manager):
    task = make_task(assignees=[annotator])
    for user in (annotator, other_manager):
        client.force_login(user)
        assert client.get(reverse("quality:project", args=[task.project_id])).status_code == 404


def test_time_after_a_span_ended_by_leaving_the_window_does_not_count(make_task, annotator):
    """Two minutes in another window are under the cut-off but are not work: the page's last beat
    ended the span at its last input, so neither the heartbeat nor the recount counts the gap."""
    task = make_task(assignees=[annotator])
    row = held(task, annotator)[0]
    t0 = timezone.now()
    # 30 s of work; the window loses the focus 3 s after the last input.
    work.item_time_beat(task_item=row, by=annotator, marks_ago_ms=[33_000, 13_000, 3_000], ended_ago_ms=3_000, now=t0)
    # Back two minutes later: 10 s of work.
    back = t0 + datetime.timedelta(minutes=2)
    work.item_time_beat(task_item=row, by=annotator, marks_ago_ms=[10_000, 0], now=back)
    assert AssignmentTime.objects.get(assignment=row.assignment).active_seconds == pytest.approx(40)
    (total,) = active_seconds_by_person_task(task_ids=[task.pk])
    assert total.seconds == pytest.approx(40)


def test_an_end_with_no_new_marks_ends_the_latest_mark_before_it(make_task, annotator):
    task = make_task(assignees=[annotator])
    first, second = held(task, annotator)[:2]
    t0 = timezone.now()
    _beat(first, annotator, t0, 20_000, 0)
    # Another tab's mark comes in before this tab's end (sent 5 s after its last input, at t0).
    _beat(second, annotator, t0 + datetime.timedelta(seconds=4), 0)
    work.item_time_beat(
        task_item=first, by=annotator, marks_ago_ms=[], ended_ago_ms=5_000, now=t0 + datetime.timedelta(seconds=5)
    )
    # Only the mark at or before the end was ended: the other tab's span goes on for the next minute
    # (the 4 s from the ended mark to it do not count).
    _beat(second, annotator, t0 + datetime.timedelta(seconds=64), 0)
    assert list(ActivityMark.objects.filter(ends_span=True).values_list("at_ms", flat=True)) == [to_ms(t0)]
    recount = {r.task_id: r.seconds for r in active_seconds_by_person_task(task_ids=[task.pk])}
    assert recount == {task.pk: pytest.approx(20 + 60)}


def test_the_beat_view_takes_the_end_of_a_span(client, make_task, annotator):
    task = make_task(assignees=[annotator])
    row = held(task, annotator)[0]
    client.force_login(annotator)
    url = reverse("work:item-beat", args=[row.assignment_id, row.pk])
    assert client.post(url, {"marks": "2000,0", "ended": "0"}).status_code == 204
    assert ActivityMark.objects.filter(ends_span=True).count() == 1
    # Long ago is fine (ending a span only takes time away); from the future is not.
    assert client.post(url, {"marks": "", "ended": str(3_600_000)}).status_code == 204
    assert client.post(url, {"marks": "0", "ended": "-1"}).status_code == 400
