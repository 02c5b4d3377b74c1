"""Pausing a person: they pull nothing in the task (or the whole project) until resumed, on both
databases, and they and the managers are told."""

import pytest
from django.core.exceptions import ValidationError

from taskboard.annotation.models import Assignment
from taskboard.annotation.people import is_paused, pause_person, resume_person
from taskboard.annotation.pulling import pulling_claim
from taskboard.annotation.selection import Selection
from taskboard.notifications.models import Notification
from taskboard.work import flow, services
from tests.factories import create_task, in_days, make_items


@pytest.fixture
def pulling_task(dataset, recipe, manager, annotator, annotator2):
    make_items(dataset, {"/q": 30})
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="pull",
        selection=Selection(mode="all"),
        assignees=[annotator, annotator2],
        due_at=in_days(3),
        allocation="pulling",
        batch_size=3,
        max_batch_workload=5,
    )


def held(task, user):
    return Assignment.objects.get(task=task, assignee=user).item_count


def test_a_paused_person_pulls_nothing_until_resumed(pulling_task, project, manager, annotator, annotator2):
    pause_person(project=project, user=annotator, task=pulling_task, by=manager, reason="check quality")
    assert is_paused(user=annotator, task=pulling_task)
    mine = Assignment.objects.get(task=pulling_task, assignee=annotator)
    for row in mine.task_items.order_by("rank")[:3]:
        flow.item_status_set(task=pulling_task, item=row.item, status="completed", by=annotator)
    assert held(pulling_task, annotator) == 3  # the refill after the statuses brought nothing
    assert pulling_claim(task=pulling_task, user=annotator) == 0
    with pytest.raises(ValidationError, match="paused"):
        services.pulling_get_more(assignment=mine, by=annotator)
    assert pulling_claim(task=pulling_task, user=annotator2) == 0 or held(pulling_task, annotator2) >= 3
    resume_person(project=project, user=annotator, task=pulling_task, by=manager)
    assert pulling_claim(task=pulling_task, user=annotator) == 3


def test_a_project_wide_pause_covers_every_task(pulling_task, project, manager, annotator):
    pause_person(project=project, user=annotator, by=manager)
    assert is_paused(user=annotator, task=pulling_task)
    mine = Assignment.objects.get(task=pulling_task, assignee=annotator)
    for row in mine.task_items.order_by("rank")[:3]:
        flow.item_status_set(task=pulling_task, item=row.item, status="completed", by=annotator)
    assert held(pulling_task, annotator) == 3


def test_pausing_tells_the_person_and_the_managers_once(pulling_task, project, manager, owner, annotator):
    pause_person(project=project, user=annotator, task=pulling_task, by=manager, reason="r")
    pause_person(project=project, user=annotator, task=pulling_task, by=manager, reason="again")
    told = set(Notification.objects.filter(kind="paused").values_list("recipient__email", flat=True))
    assert told == {annotator.email, manager.email, owner.email}


def test_only_members_are_paused(pulling_task, project, manager, other_manager):
    with pytest.raises(ValidationError):
        pause_person(project=project, user=other_manager, by=manager)
