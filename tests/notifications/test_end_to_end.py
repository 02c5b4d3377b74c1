"""Each event end to end: it happens in its service, the person's inbox shows it, the email is in
Django's outbox, and the project's webhook receiver (started by the test) gets it signed."""

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from taskboard.annotation import telling
from taskboard.annotation.models import AnnotationTask, Assignment, AssignmentKind, TaskItem
from taskboard.annotation.people import pause_person
from taskboard.annotation.selection import Selection
from taskboard.discussion.services import comment_post
from taskboard.jobs import services as jobs
from taskboard.notifications import webhooks
from taskboard.notifications.models import EventKind, Notification
from taskboard.work import flow
from tests.factories import create_task, make_items
from tests.notifications.test_webhooks import verifies


@pytest.fixture
def hook(project, manager, receiver):
    return webhooks.webhook_create(project=project, url=receiver.url, events=EventKind.values, by=manager)


@pytest.fixture
def everywhere(hook, receiver, django_capture_on_commit_callbacks):
    """Run the event with on_commit callbacks run (as a request's commit does), then check the three ways."""

    def check(event, kind, person):
        mail.outbox = []
        receiver.received.clear()
        with django_capture_on_commit_callbacks(execute=True):
            event()
        notice = Notification.objects.filter(recipient=person, kind=kind).latest("id")
        assert notice.title
        assert any(m.to == [person.email] and notice.title in m.subject for m in mail.outbox), mail.outbox
        sent = [(h, b) for h, b in receiver.received if h["x-taskboard-event"] == kind]
        assert sent, f"no {kind} webhook"
        assert all(verifies(hook.secret, h, b) for h, b in sent)
        return notice

    return check


def rows(task, user):
    assignment = Assignment.objects.get(task=task, assignee=user, kind=AssignmentKind.WORK)
    return list(TaskItem.objects.filter(assignment=assignment).select_related("task", "item").order_by("rank"))


def make_task(dataset, manager, people, **extra):
    return create_task(
        dataset=dataset, created_by=manager, name="Boxes", selection=Selection(mode="all"), assignees=people, **extra
    )


def test_assigned_work(everywhere, dataset, recipe, manager, annotator):
    make_items(dataset, {"/a": 2})
    everywhere(lambda: make_task(dataset, manager, [annotator]), EventKind.WORK_ASSIGNED, annotator)


def test_review_ready_rework_and_back(everywhere, dataset, recipe, manager, annotator, reviewer):
    make_items(dataset, {"/a": 2})
    task = make_task(dataset, manager, [annotator])
    first = rows(task, annotator)[0]
    flow.item_status_set(task=task, item=first.item, status="completed", by=annotator)

    def qa():
        return create_task(
            dataset=dataset, created_by=manager, name="", task_type="qa", parent=task, assignees=[reviewer]
        )

    everywhere(qa, EventKind.REVIEW_READY, reviewer)
    qa_item = TaskItem.objects.select_related("task", "item", "assignment").get(task__parent=task)
    notice = everywhere(
        lambda: flow.item_reject(qa_task_item=qa_item, comment="Box too loose", by=reviewer),
        EventKind.REWORK,
        annotator,
    )
    assert notice.body == "Box too loose"
    everywhere(
        lambda: flow.item_status_set(task=task, item=first.item, status="completed", by=annotator),
        EventKind.REVIEW_READY,
        reviewer,
    )


def test_due_soon_and_overdue(everywhere, dataset, recipe, manager, annotator):
    make_items(dataset, {"/a": 2})
    task = make_task(dataset, manager, [annotator])
    AnnotationTask.objects.filter(pk=task.pk).update(due_at=timezone.now() + datetime.timedelta(hours=3))
    everywhere(telling.deadlines_remind, EventKind.DUE_SOON, annotator)
    later = timezone.now() + datetime.timedelta(hours=4)
    everywhere(lambda: telling.deadlines_remind(now=later), EventKind.OVERDUE, annotator)


def test_paused(everywhere, project, manager, annotator):
    everywhere(
        lambda: pause_person(project=project, user=annotator, by=manager, reason="Quality"),
        EventKind.PAUSED,
        annotator,
    )


def test_job_finished_and_failed(everywhere, project, manager):
    def run(kind):
        job = jobs.job_create(kind=kind, params={}, project=project, created_by=manager)
        return lambda: jobs.job_run(job_id=job.pk)

    everywhere(run("test_notify_ok"), EventKind.JOB_FINISHED, manager)
    everywhere(run("test_notify_broken"), EventKind.JOB_FAILED, manager)


def test_mention(everywhere, dataset, recipe, manager, annotator):
    make_items(dataset, {"/a": 2})
    task = make_task(dataset, manager, [annotator])
    item = rows(task, annotator)[0].item
    notice = everywhere(
        lambda: comment_post(task=task, item=item, body="@bob look again", by=manager, link="/work/tasks/1/items/2/"),
        EventKind.MENTION,
        annotator,
    )
    assert notice.url.startswith("/work/tasks/1/items/2/#comment-")
