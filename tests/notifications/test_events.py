"""Each event, from the service where it happens to the person's inbox."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from taskboard.annotation import moves, telling
from taskboard.annotation.models import AnnotationTask, Assignment, AssignmentKind, TaskItem
from taskboard.annotation.selection import Selection
from taskboard.jobs import services as jobs
from taskboard.notifications.models import EventKind, Notification
from taskboard.work import flow
from tests.factories import create_task, in_days, make_items

ALL = Selection(mode="all")


def notices(user, kind):
    return list(Notification.objects.filter(recipient=user, kind=kind))


def work(task, user):
    return Assignment.objects.select_related("task").get(task=task, assignee=user, kind=AssignmentKind.WORK)


def complete(row, user, status="completed"):
    return flow.item_status_set(task=row.task, item=row.item, status=status, by=user, copy=row.copy)


@pytest.fixture
def task(dataset, recipe, manager, annotator, annotator2):
    make_items(dataset, {"/city": 6})
    return create_task(
        dataset=dataset, created_by=manager, name="Boxes", selection=ALL, assignees=[annotator, annotator2]
    )


def test_new_task_tells_each_assignee_of_their_work_with_a_link(task, manager, annotator, annotator2):
    (mine,) = notices(annotator, EventKind.WORK_ASSIGNED)
    assert mine.title == "3 items assigned to you in Boxes"
    assert mine.url == reverse("work:assignment", args=[work(task, annotator).pk])
    assert mine.project_id == task.project_id
    assert len(notices(annotator2, EventKind.WORK_ASSIGNED)) == 1
    assert notices(manager, EventKind.WORK_ASSIGNED) == []  # who hands out work is not told of it


def test_reassign_tells_the_newcomer(task, manager, annotator, annotator3):
    moves.assignment_reassign(assignment=work(task, annotator), to_user=annotator3, by=manager)
    (theirs,) = notices(annotator3, EventKind.WORK_ASSIGNED)
    assert theirs.title == "3 items assigned to you in Boxes"


def test_added_items_tell_the_holders(task, dataset, manager, annotator, annotator2):
    make_items(dataset, {"/more": 4})
    moves.task_add_items(task=task, selection=Selection(mode="folder", folder="/more"), by=manager)
    assert len(notices(annotator, EventKind.WORK_ASSIGNED)) == 2


@pytest.fixture
def qa(task, dataset, manager, annotator, reviewer):
    first = TaskItem.objects.filter(assignment=work(task, annotator)).select_related("task", "item").order_by("rank")
    complete(first[0], annotator)
    return create_task(dataset=dataset, created_by=manager, name="", task_type="qa", parent=task, assignees=[reviewer])


def test_qa_task_tells_the_reviewer_a_batch_is_ready_once_an_hour(qa, task, annotator, reviewer):
    assert len(notices(reviewer, EventKind.REVIEW_READY)) == 1
    # More items come in by QA intake within the hour: the reviewer already knows there is a batch.
    second = TaskItem.objects.filter(assignment=work(task, annotator)).select_related("task", "item").order_by("rank")
    complete(second[1], annotator)
    assert TaskItem.objects.filter(task=qa).count() == 2
    assert len(notices(reviewer, EventKind.REVIEW_READY)) == 1


def test_reject_tells_the_annotator_and_rework_done_tells_the_reviewer(qa, task, annotator, reviewer):
    qa_item = TaskItem.objects.select_related("task", "item", "assignment").get(task=qa)
    flow.item_reject(qa_task_item=qa_item, comment="Missed the bike", by=reviewer)
    (rework,) = notices(annotator, EventKind.REWORK)
    parent = TaskItem.objects.select_related("task", "item").get(task=task, item_id=qa_item.item_id)
    assert rework.body == "Missed the bike"
    assert rework.url == reverse("work:item", args=[parent.assignment_id, parent.pk])

    complete(parent, annotator)
    back = [n for n in notices(reviewer, EventKind.REVIEW_READY) if "reworked" in n.title]
    assert len(back) == 1 and back[0].url == reverse("work:item", args=[qa_item.assignment_id, qa_item.pk])


def test_deadlines_are_told_once_per_due_date(task, manager, annotator, annotator2):
    AnnotationTask.objects.filter(pk=task.pk).update(due_at=timezone.now() + datetime.timedelta(hours=5))
    soon, overdue = telling.deadlines_remind()
    assert (soon, overdue) == (3, 0)  # the owner and both people with undone work
    assert telling.deadlines_remind() == (0, 0)
    assert notices(annotator, EventKind.DUE_SOON)[0].url == reverse("dashboards:task-detail", args=[task.pk])

    later = timezone.now() + datetime.timedelta(hours=7)
    assert telling.deadlines_remind(now=later) == (0, 3)
    # A new due date is a new deadline to be told of.
    AnnotationTask.objects.filter(pk=task.pk).update(due_at=in_days(0.5))
    assert telling.deadlines_remind() == (3, 0)


def test_deadline_reminders_skip_people_who_are_done(task, manager, annotator, annotator2):
    for row in TaskItem.objects.filter(assignment=work(task, annotator)).select_related("task", "item"):
        complete(row, annotator)
    AnnotationTask.objects.filter(pk=task.pk).update(due_at=timezone.now() + datetime.timedelta(hours=5))
    telling.deadlines_remind()
    assert notices(annotator, EventKind.DUE_SOON) == []
    assert len(notices(annotator2, EventKind.DUE_SOON)) == 1


def test_a_job_tells_its_starter_how_it_ended(project, manager):
    done = jobs.job_create(kind="test_notify_ok", params={}, project=project, created_by=manager)
    jobs.job_run(job_id=done.pk)
    broken = jobs.job_create(kind="test_notify_broken", params={}, project=project, created_by=manager)
    jobs.job_run(job_id=broken.pk)
    jobs.job_run(job_id=broken.pk)  # a finished job run again tells nobody again
    (finished,) = notices(manager, EventKind.JOB_FINISHED)
    (failed,) = notices(manager, EventKind.JOB_FAILED)
    assert finished.url == reverse("jobs:job-detail", args=[done.pk])
    assert "Something went wrong" in failed.body
