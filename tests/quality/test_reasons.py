"""Structured reject reasons: required once a project has them, a comment when the reason asks,
and errors by reason per task and per person, each bar opening its items."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from taskboard.annotation.models import TaskItem, TaskType
from taskboard.quality import queries, reasons
from taskboard.quality.models import Rejection
from taskboard.work import flow
from tests.quality.conftest import held


@pytest.fixture
def reviewed(make_task, annotator, annotator2, reviewer):
    """An annotation task whose items bob and carol completed, and its QA task held by rita."""
    task = make_task(assignees=[annotator, annotator2], folder="/city/day")
    for user in (annotator, annotator2):
        for row in held(task, user):
            flow.item_status_set(task=task, item=row.item, status="completed", by=user)
    qa = make_task("Cars QA", assignees=[reviewer], task_type=TaskType.QA, parent=task, folder="/city/day")
    return task, qa


def _qa_row(qa, user_rows, n):
    return TaskItem.objects.select_related("assignment", "task", "item").get(task=qa, item=user_rows[n].item)


def test_a_reject_needs_a_reason_once_the_project_has_them(reviewed, manager, reviewer, annotator):
    task, qa = reviewed
    bob = held(task, annotator)
    box = reasons.reason_add(project=task.project, by=manager, name="Loose box")
    other = reasons.reason_add(project=task.project, by=manager, name="Other", needs_comment=True)
    with pytest.raises(ValidationError, match="Choose a reason"):
        flow.item_reject(qa_task_item=_qa_row(qa, bob, 0), comment="tighter", by=reviewer)
    with pytest.raises(ValidationError, match="needs a comment"):
        flow.item_reject(qa_task_item=_qa_row(qa, bob, 0), comment="", reason_id=other.pk, by=reviewer)
    flow.item_reject(qa_task_item=_qa_row(qa, bob, 0), comment="", reason_id=box.pk, by=reviewer)
    parent = TaskItem.objects.get(task=task, item=bob[0].item)
    assert parent.rework and parent.comment == "Loose box"
    flow.item_reject(qa_task_item=_qa_row(qa, bob, 1), comment="a bike", reason_id=other.pk, by=reviewer)
    assert TaskItem.objects.get(task=task, item=bob[1].item).comment == "Other: a bike"
    rejection = Rejection.objects.get(item=bob[1].item)
    assert (rejection.annotator_id, rejection.reviewer_id, rejection.task_id) == (annotator.pk, reviewer.pk, task.pk)
    reasons.reason_set_active(reason=box, by=manager, active=False)
    with pytest.raises(ValidationError, match="one of this project's reasons"):
        flow.item_reject(qa_task_item=_qa_row(qa, bob, 2), comment="", reason_id=box.pk, by=reviewer)
    with pytest.raises(ValidationError, match="already has"):
        reasons.reason_add(project=task.project, by=manager, name="Other")
    with pytest.raises(ValidationError):
        reasons.reason_add(project=task.project, by=reviewer, name="Mine")


def test_without_reasons_a_comment_is_still_needed(reviewed, reviewer, annotator):
    task, qa = reviewed
    with pytest.raises(ValidationError, match="Say what needs fixing"):
        flow.item_reject(qa_task_item=_qa_row(qa, held(task, annotator), 0), comment=" ", by=reviewer)


def test_errors_by_reason_per_task_and_person(client, reviewed, manager, reviewer, annotator, annotator2):
    task, qa = reviewed
    box = reasons.reason_add(project=task.project, by=manager, name="Loose box")
    miss = reasons.reason_add(project=task.project, by=manager, name="Missed object")
    bob, carol = held(task, annotator), held(task, annotator2)
    for rows, n, reason in ((bob, 0, box), (bob, 1, box), (bob, 2, miss), (carol, 0, miss)):
        flow.item_reject(qa_task_item=_qa_row(qa, rows, n), comment="", reason_id=reason.pk, by=reviewer)
    bars = queries.errors_by_reason(task)
    assert [(b.name, b.count) for b in bars] == [("Loose box", 2), ("Missed object", 2)]
    assert [(b.name, b.count) for b in queries.errors_by_reason(task, annotator_id=annotator2.pk)] == [
        ("Missed object", 1)
    ]
    (first, second) = queries.errors_by_person(task)
    assert (first.email, first.rejected, first.top_reason) == ("bob@example.com", 3, "Loose box")
    assert (second.email, second.rejected) == ("carol@example.com", 1)
    client.force_login(manager)
    # The QA task's page shows its parent's errors.
    page = client.get(reverse("quality:task", args=[qa.pk])).content.decode()
    assert "Errors by reason in Cars" in page and f"?reason={box.pk}" in page
    listing = client.get(reverse("quality:rejections", args=[task.pk]), {"reason": box.pk}).content.decode()
    assert bob[0].item.filename in listing and bob[1].item.filename in listing
    assert bob[2].item.filename not in listing
    per_person = client.get(
        reverse("quality:rejections", args=[task.pk]), {"reason": miss.pk, "annotator": annotator2.pk}
    ).content.decode()
    assert carol[0].item.filename in per_person and bob[2].item.filename not in per_person


def test_the_reviewer_chooses_a_reason_in_the_work_view(client, reviewed, manager, reviewer, annotator):
    task, qa = reviewed
    box = reasons.reason_add(project=task.project, by=manager, name="Loose box")
    row = _qa_row(qa, held(task, annotator), 0)
    client.force_login(reviewer)
    page = client.get(reverse("work:item", args=[row.assignment_id, row.pk])).content.decode()
    assert 'name="reason"' in page and "Loose box" in page
    url = reverse("work:item-reject", args=[row.assignment_id, row.pk])
    response = client.post(url, {"comment": "tight"}, follow=True)
    assert "Choose a reason" in response.content.decode()
    client.post(url, {"reason": box.pk, "comment": ""})
    assert Rejection.objects.filter(reason=box).count() == 1


def test_managers_edit_reasons_on_the_quality_page(client, project, manager, annotator):
    client.force_login(manager)
    client.post(reverse("quality:reason-add", args=[project.pk]), {"name": "Wrong label", "needs_comment": "on"})
    (reason,) = queries.project_reasons(project)
    assert reason.needs_comment
    client.post(reverse("quality:reason-toggle", args=[project.pk, reason.pk]))
    reason.refresh_from_db()
    assert not reason.active
    assert "Wrong label" in client.get(reverse("quality:project", args=[project.pk])).content.decode()
    client.force_login(annotator)
    assert client.post(reverse("quality:reason-add", args=[project.pk]), {"name": "x"}).status_code == 404
