"""Honest active time: gaps between signs of activity count up to the project's idle cut-off."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from taskboard.quality.activity import active_seconds_by_person_task
from taskboard.quality.models import ProjectQuality
from taskboard.work import services as work
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
