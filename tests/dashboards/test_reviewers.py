"""The reviewers' scorecard and its CSV."""

import csv
import datetime
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from taskboard.annotation.models import TaskItem, TaskType
from taskboard.dashboards.reviewers import reviewer_scorecards
from taskboard.work import flow
from taskboard.work import services as work
from tests.dashboards.conftest import held_items


@pytest.fixture
def reviewed(make_task, annotator, reviewer, project):
    from taskboard.projects.models import Role
    from tests.factories import MembershipFactory, UserFactory

    second = UserFactory(email="sam@example.com")
    MembershipFactory(project=project, user=second, role=Role.REVIEWER)
    task = make_task(assignees=[annotator], folder="/city/day")
    for item in held_items(task, annotator):
        flow.item_status_set(task=task, item=item, status="completed", by=annotator)
    first_qa = make_task("QA 1", assignees=[reviewer], task_type=TaskType.QA, parent=task, folder="/city/day")
    second_qa = make_task("QA 2", assignees=[second], task_type=TaskType.QA, parent=task, folder="/city/day")
    return task, first_qa, second_qa, second


def _row(qa, item):
    return TaskItem.objects.select_related("assignment", "task", "item").get(task=qa, item=item)


def test_reviewer_cards(client, reviewed, manager, annotator, reviewer):
    task, first_qa, second_qa, sam = reviewed
    items = held_items(task, annotator)
    t0 = timezone.now()
    # Rita approves four (timing two of them: 20 s and 40 s) and rejects one.
    for n, item in enumerate(items[:4]):
        row = _row(first_qa, item)
        if n < 2:
            work.item_time_beat(
                task_item=row, by=reviewer, marks_ago_ms=[0], now=t0 + datetime.timedelta(minutes=10 * n)
            )
            work.item_time_beat(
                task_item=row,
                by=reviewer,
                marks_ago_ms=[0],
                now=t0 + datetime.timedelta(minutes=10 * n, seconds=20 * (n + 1)),
            )
        flow.item_status_set(task=first_qa, item=item, status="approved", by=reviewer)
    flow.item_reject(qa_task_item=_row(first_qa, items[4]), comment="loose", by=reviewer)
    # Sam, in the second QA task, rejects one Rita approved: her acceptance is overturned.
    flow.item_reject(qa_task_item=_row(second_qa, items[0]), comment="missed a car", by=sam)
    cards = {c.email: c for c in reviewer_scorecards(task.project)}
    rita = cards["rita@example.com"]
    # Four acceptances given (one later overturned in the other QA task) and one reject.
    assert (rita.accepted, rita.rejected, rita.reviewed, rita.overturned) == (4, 1, 5, 1)
    assert rita.overturn_rate == pytest.approx(0.25)
    assert rita.median_seconds == pytest.approx(30)
    assert rita.last_active is not None
    assert (cards["sam@example.com"].rejected, cards["sam@example.com"].overturned) == (1, 0)

    client.force_login(manager)
    page = client.get(reverse("dashboards:reviewers", args=[task.project_id])).content.decode()
    assert "rita@example.com" in page and "1 (25%)" in page and "30 s" in page
    body = client.get(reverse("dashboards:reviewers-csv", args=[task.project_id])).content.decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert {r["email"]: r["overturned"] for r in rows} == {"rita@example.com": "1", "sam@example.com": "0"}
    assert rows[0]["median review seconds"] == "30.0"
    client.force_login(annotator)
    assert client.get(reverse("dashboards:reviewers", args=[task.project_id])).status_code == 404


def test_changing_ones_own_mind_is_not_an_overturn(reviewed, annotator, reviewer):
    task, first_qa, _, _ = reviewed
    item = held_items(task, annotator)[0]
    flow.item_status_set(task=first_qa, item=item, status="approved", by=reviewer)
    flow.item_reject(qa_task_item=_row(first_qa, item), comment="on second look", by=reviewer)
    (rita,) = [c for c in reviewer_scorecards(task.project) if c.email == "rita@example.com"]
    assert (rita.accepted, rita.rejected, rita.overturned) == (0, 1, 0)


def test_an_overturn_in_the_same_qa_task_still_counts_the_acceptance(reviewed, annotator, reviewer):
    task, first_qa, _, sam = reviewed
    from taskboard.annotation.models import Assignment

    item = held_items(task, annotator)[0]
    flow.item_status_set(task=first_qa, item=item, status="approved", by=reviewer)
    # Sam takes over Rita's QA item (reassigned) and rejects it: her verdict is cleared, yet given.
    row = _row(first_qa, item)
    sams, _ = Assignment.objects.get_or_create(task=first_qa, assignee=sam, kind="work")
    TaskItem.objects.filter(pk=row.pk).update(assignment=sams)
    flow.item_reject(qa_task_item=_row(first_qa, item), comment="wrong", by=sam)
    (rita,) = [c for c in reviewer_scorecards(task.project) if c.email == "rita@example.com"]
    assert (rita.accepted, rita.overturned, rita.overturn_rate) == (1, 1, 1.0)
