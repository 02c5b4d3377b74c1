"""The item's timeline: arrival, statuses, reviews, moves and comments, in order, with the system's
own actions named as such."""

import pytest
from django.urls import reverse

from taskboard.annotation import moves
from taskboard.annotation.models import Assignment, AssignmentKind, ChangeKind, HoldingChange, StatusLog, TaskItem
from taskboard.annotation.selection import Selection
from taskboard.annotation.timeline import SYSTEM, item_timeline
from taskboard.discussion import services
from taskboard.work import flow
from tests.factories import create_task, make_items


@pytest.fixture
def task(dataset, recipe, manager, annotator, annotator2):
    make_items(dataset, {"/city": 4})
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="Boxes",
        selection=Selection(mode="all"),
        assignees=[annotator, annotator2],
    )


def first_row(task, user):
    assignment = Assignment.objects.get(task=task, assignee=user, kind=AssignmentKind.WORK)
    return TaskItem.objects.filter(assignment=assignment).select_related("task", "item").order_by("rank").first()


def test_every_status_change_is_recorded_with_who(task, annotator):
    row = first_row(task, annotator)
    flow.item_status_set(task=task, item=row.item, status="completed", by=annotator)
    flow.item_status_clear(task=task, item=row.item, by=annotator)
    records = list(
        StatusLog.objects.filter(task=task, item=row.item).order_by("id").values_list("status", "action", "creator")
    )
    assert records == [("completed", "create", annotator.email), ("completed", "delete", annotator.email)]


def test_the_whole_story_of_an_item(task, dataset, manager, annotator, annotator3, reviewer):
    row = first_row(task, annotator)
    item = row.item
    flow.item_status_set(task=task, item=item, status="completed", by=annotator)
    qa = create_task(dataset=dataset, created_by=manager, name="", task_type="qa", parent=task, assignees=[reviewer])
    qa_item = TaskItem.objects.select_related("task", "item", "assignment").get(task=qa)
    flow.item_reject(qa_task_item=qa_item, comment="Missed the bike", by=reviewer)
    thread = services.comment_post(task=task, item=item, body="Where is the bike?", by=annotator)
    services.comment_post(task=task, item=item, body="Left edge", by=reviewer, thread=thread)
    services.thread_resolve(thread=thread, by=annotator)
    flow.item_status_set(task=task, item=item, status="completed", by=annotator)
    flow.item_status_set(task=qa, item=item, status="approved", by=reviewer)

    story = [(e.kind, e.who, e.text) for e in item_timeline(task=task, item=item)]
    assert story[0] == ("added", "alice@example.com", "In the task from its creation to bob@example.com")
    assert ("status", "bob@example.com", "Status set to Completed") in story
    assert ("review", "rita@example.com", "Sent back for rework from rita@example.com to bob@example.com") in story
    assert ("comment", "bob@example.com", "Started a thread") in story
    assert ("comment", "rita@example.com", "Replied") in story
    assert ("resolved", "bob@example.com", "Resolved a thread") in story
    assert story[-1] == ("review", "rita@example.com", "Status set to Approved")
    kinds = [k for k, _, _ in story]
    assert kinds.index("comment") > kinds.index("review")  # oldest first
    # The same story from the review side.
    assert [(e.kind, e.text) for e in item_timeline(task=qa, item=item)] == [(k, t) for k, _, t in story]


def test_system_actions_are_named_as_such(task, manager, annotator, annotator3):
    row = first_row(task, annotator)
    moves.assignment_reassign(assignment=row.assignment, to_user=annotator3, by=manager)
    HoldingChange.objects.filter(task=task, item=row.item, kind=ChangeKind.REASSIGN).update(by=None)
    entries = [e for e in item_timeline(task=task, item=row.item) if e.kind == "move"]
    assert [(e.who, e.is_system) for e in entries] == [(SYSTEM, True)]
    assert entries[0].text == "Reassigned from bob@example.com to dave@example.com"


def test_the_item_page_shows_the_timeline(client, task, manager, annotator):
    row = first_row(task, annotator)
    flow.item_status_set(task=task, item=row.item, status="completed", by=annotator)
    client.force_login(manager)
    page = client.get(reverse("work:item-page", args=[task.pk, row.item_id])).content.decode()
    assert "Status set to Completed" in page and "In the task from its creation" in page
