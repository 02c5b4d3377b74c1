"""Skip policy: skipping allowed or not, a reason required or not; a skipped item goes back to the
queue, to someone else or to the owner by the task's rule; skips show on the task page."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from taskboard.annotation import people, skips
from taskboard.annotation.models import AnnotationTask, Assignment, HoldingChange, Skip, TaskItem
from taskboard.annotation.selection import Selection
from taskboard.api.ids import api_id
from tests.annotation.conftest import assert_counters
from tests.factories import create_task, make_items


@pytest.fixture
def given(dataset, recipe, manager, annotator, annotator2, annotator3):
    make_items(dataset, {"/g": 9})
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="given",
        selection=Selection(mode="folder", folder="/g"),
        assignees=[annotator, annotator2, annotator3],
    )


def first_of(task, user):
    return TaskItem.objects.filter(task=task, assignment__assignee=user, status=None).order_by("rank").first()


def test_a_pulled_skip_goes_back_to_the_queue(pulling_task, annotator):
    row = first_of(pulling_task, annotator)
    skip = skips.item_skip(task_item=row, by=annotator, reason="blurry")
    assert skip.went_to == "the queue" and TaskItem.objects.get(pk=row.pk).in_queue
    assert HoldingChange.objects.filter(kind="skip", item_id=row.item_id).count() == 1
    assert_counters(pulling_task)


def test_a_distributed_skip_goes_to_the_least_loaded_unpaused_other(
    given, project, manager, annotator, annotator2, annotator3
):
    people.pause_person(project=project, user=annotator2, task=given, by=manager)
    row = first_of(given, annotator)
    skip = skips.item_skip(task_item=row, by=annotator)
    assert skip.went_to == annotator3.email
    assert TaskItem.objects.get(pk=row.pk).assignment.assignee == annotator3
    assert_counters(given)


def test_skip_to_the_owner(given, manager, annotator):
    skips.skip_policy_set(task=given, by=manager, allowed=True, reason_required=False, skip_to="manager")
    row = first_of(given, annotator)
    skips.item_skip(task_item=row, by=annotator)
    assert TaskItem.objects.get(pk=row.pk).assignment.assignee == given.owner
    assert_counters(given)


def test_policy_refuses_skips_and_missing_reasons(given, manager, annotator, annotator2):
    skips.skip_policy_set(task=given, by=manager, allowed=True, reason_required=True, skip_to="other")
    row = first_of(given, annotator)
    with pytest.raises(ValidationError, match="Say why"):
        skips.item_skip(task_item=row, by=annotator, reason="  ")
    with pytest.raises(ValidationError, match="Only the person"):
        skips.item_skip(task_item=row, by=annotator2, reason="x")
    skips.skip_policy_set(task=given, by=manager, allowed=False, reason_required=False, skip_to="other")
    with pytest.raises(ValidationError, match="not allowed"):
        skips.item_skip(task_item=row, by=annotator, reason="x")
    with pytest.raises(ValidationError, match="Choose one of"):
        skips.skip_policy_set(task=given, by=manager, allowed=True, reason_required=False, skip_to="bin")
    assert not Skip.objects.exists()


def test_skip_from_the_work_page_and_the_task_page_shows_it(client, given, manager, annotator):
    row = first_of(given, annotator)
    mine = Assignment.objects.get(task=given, assignee=annotator)
    client.force_login(annotator)
    page = client.get(reverse("work:item", args=[mine.pk, row.pk])).content.decode()
    assert "Skip this item" in page
    response = client.post(reverse("work:item-skip", args=[mine.pk, row.pk]), {"reason": "cannot see the car"})
    assert response.status_code == 302
    client.force_login(manager)
    body = client.get(reverse("dashboards:task-detail", args=[given.pk])).content.decode()
    assert "cannot see the car" in body and 'Skips <span class="muted">(1)</span>' in body
    client.post(
        reverse("annotation:task-skip-policy", args=[given.pk]),
        {"skip_allowed": "on", "skip_reason_required": "on", "skip_to": "manager"},
    )
    task = AnnotationTask.objects.get(pk=given.pk)
    assert (task.skip_allowed, task.skip_reason_required, task.skip_to) == (True, True, "manager")


def test_skips_api(api, given, manager, annotator):
    path = f"/api/v1/annotationtasks/{api_id('task', given.pk)}/skips"
    policy = api(manager).patch(path, {"reasonRequired": True}).json()
    assert policy["reasonRequired"] and policy["skipTo"] == "back"
    row = first_of(given, annotator)
    mine = Assignment.objects.get(task=given, assignee=annotator)
    skip_path = f"/api/v1/assignments/{api_id('assignment', mine.pk)}/items/{api_id('item', row.item_id)}/skip"
    refused = api(annotator).post(skip_path, {})
    assert refused.status_code == 400 and "why" in refused.json()["message"]
    done = api(annotator).post(skip_path, {"reason": "dup"}).json()
    assert done["skipped"] and done["wentTo"]
    assert api(manager).get(path).json()["skips"][0]["reason"] == "dup"
    assert api(annotator).get(path).status_code == 403


def test_the_policy_form_offers_the_choices_that_differ_for_the_task(given, pulling_task, client, manager):
    def offered(task):
        client.force_login(manager)
        page = client.get(reverse("dashboards:task-detail", args=[task.pk])).content.decode()
        form = page[page.index('id="skip-policy"') :]
        options = form[form.index("<select") : form.index("</select>")].split("</option>")[:-1]
        return [option.rsplit(">", 1)[1] for option in options]

    assert offered(pulling_task) == ["Back to the queue", "To someone else", "To the task&#x27;s owner"]
    # A distributed task has no queue: "back" and "to someone else" are one choice there.
    assert offered(given) == ["To someone else", "To the task&#x27;s owner"]
