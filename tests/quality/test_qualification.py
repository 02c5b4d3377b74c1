"""Qualification: N ground-truth items, a pass mark, limited attempts; no work before passing."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from taskboard.annotation.models import Assignment
from taskboard.datasets.models import Label
from taskboard.quality import qualification
from taskboard.quality.models import GroundTruth
from taskboard.work import flow
from taskboard.work import queries as work_queries
from taskboard.work import services as work
from tests.quality.conftest import held


@pytest.fixture
def gated(make_task, manager, annotator, items, recipe):
    """A task over /city asking for a 3-item qualification (2 of 3 to pass, 2 attempts); the truth is
    4 highway items: completed with the car label."""
    task = make_task(assignees=[annotator], folder="/city")
    highway = [i for i in items if i.dir == "/highway"][:4]
    GroundTruth.objects.bulk_create(
        GroundTruth(project=task.project, item=i, status="completed", labels=["car"]) for i in highway
    )
    qualification.qualification_update(task=task, by=manager, items=3, pass_mark=66, attempts=2)
    return task


def _answer(attempt, right):
    """Answers for an attempt: the first `right` correct, the rest wrong."""
    return {
        item_id: ("completed", ["car"]) if n < right else ("discard", []) for n, item_id in enumerate(attempt.item_ids)
    }


def test_pass_after_a_failed_attempt(gated, annotator):
    state = qualification.qualification_of(task=gated, user=annotator)
    assert state.blocked and "3 items, 66% right to pass, 2 attempts left" in state.why
    attempt = qualification.attempt_start(task=gated, user=annotator, seed=1)
    assert len(attempt.item_ids) == 3
    assert qualification.attempt_start(task=gated, user=annotator) == attempt  # the open one
    with pytest.raises(ValidationError, match="Answer every item"):
        qualification.attempt_submit(attempt=attempt, by=annotator, answers={})
    failed = qualification.attempt_submit(attempt=attempt, by=annotator, answers=_answer(attempt, 1))
    assert (failed.passed, failed.right) == (False, 1)
    second = qualification.attempt_start(task=gated, user=annotator, seed=2)
    passed = qualification.attempt_submit(attempt=second, by=annotator, answers=_answer(second, 2))
    assert passed.passed
    assert not qualification.qualification_of(task=gated, user=annotator).blocked


def test_out_of_attempts_until_a_manager_gives_them_back(gated, manager, annotator):
    for seed in (1, 2):
        attempt = qualification.attempt_start(task=gated, user=annotator, seed=seed)
        qualification.attempt_submit(attempt=attempt, by=annotator, answers=_answer(attempt, 0))
    state = qualification.qualification_of(task=gated, user=annotator)
    assert state.attempts_left == 0 and "used all 2 attempts" in state.why
    with pytest.raises(ValidationError, match="used all"):
        qualification.attempt_start(task=gated, user=annotator)
    assert qualification.attempts_reset(task=gated, user=annotator, by=manager) == 2
    assert qualification.qualification_of(task=gated, user=annotator).attempts_left == 2


def test_settings_need_enough_ground_truth(gated, manager):
    with pytest.raises(ValidationError, match="has 4 ground-truth items"):
        qualification.qualification_update(task=gated, by=manager, items=5, pass_mark=80, attempts=1)
    with pytest.raises(ValidationError) as error:
        qualification.qualification_update(task=gated, by=manager, items=2, pass_mark=0, attempts=30)
    assert set(error.value.message_dict) == {"qualification_pass", "qualification_attempts"}


def test_no_opening_or_pulling_before_passing(client, gated, make_task, manager, annotator):
    assignment = Assignment.objects.get(task=gated, assignee=annotator)
    row = held(gated, annotator)[0]
    client.force_login(annotator)
    response = client.get(reverse("work:item", args=[assignment.pk, row.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("quality:qualify", args=[gated.pk])
    page = response.content.decode()
    assert "Start the qualification" in page
    assert page.count("needs a qualification first") == 1  # said once, by the page, not a flash too
    pulled = make_task("Pulled", assignees=[annotator], folder="/city", batch_size=3, max_batch_workload=5)
    qualification.qualification_update(task=pulled, by=manager, items=3, pass_mark=66, attempts=2)
    mine = Assignment.objects.get(task=pulled, assignee=annotator)
    with pytest.raises(ValidationError, match="needs a qualification first"):
        work.pulling_get_more(assignment=mine, by=annotator)
    # Nor a status, from a page (the same flow as the API): what is held stays to do.
    first = held(pulled, annotator)[0]
    with pytest.raises(qualification.NotQualified, match="needs a qualification first"):
        flow.item_status_set(task=pulled, item=first.item, status="completed", by=annotator)
    url = reverse("work:item-status", args=[mine.pk, first.pk])
    response = client.post(url, {"status": "completed"}, follow=True)
    assert "needs a qualification first" in response.content.decode()
    first.refresh_from_db()
    assert first.status is None
    # Nor a label: the same gate.
    with pytest.raises(qualification.NotQualified, match="needs a qualification first"):
        work.item_label_toggle(task_item=first, label=Label.objects.filter(recipe=pulled.recipe).first(), by=annotator)


def test_taking_the_qualification_through_the_pages(client, gated, manager, annotator):
    client.force_login(annotator)
    client.post(reverse("quality:qualify-start", args=[gated.pk]))
    page = client.get(reverse("quality:qualify", args=[gated.pk])).content.decode()
    assert page.count('type="radio"') == 3 * 2  # three items, two statuses
    attempt = qualification.qualification_of(task=gated, user=annotator).open_attempt
    data = {}
    for item_id in attempt.item_ids:
        data[f"status-{item_id}"] = "completed"
        data[f"labels-{item_id}"] = ["car"]
    response = client.post(reverse("quality:qualify-submit", args=[gated.pk]), data, follow=True)
    assert "Passed: 3 of 3 right" in response.content.decode()
    assignment = Assignment.objects.get(task=gated, assignee=annotator)
    assert client.get(reverse("work:assignment", args=[assignment.pk])).status_code == 302
    assert (
        client.get(reverse("work:assignment", args=[assignment.pk]), follow=True)
        .redirect_chain[-1][0]
        .startswith(f"/work/assignments/{assignment.pk}/items/")
    )
    client.force_login(manager)
    task_page = client.get(reverse("quality:task", args=[gated.pk])).content.decode()
    assert "bob@example.com" in task_page and "passed" in task_page


def test_someone_else_is_refused_as_not_the_holder_before_the_qualification(client, gated, manager, annotator):
    """The status flow asks who holds the item before asking for a qualification: a manager holding
    no item of the task is not sent to qualify for someone else's item."""
    row = held(gated, annotator)[0]
    with pytest.raises(PermissionDenied, match="Only the assignee holding") as refused:
        flow.item_status_set(task=gated, item=row.item, status="completed", by=manager)
    assert not isinstance(refused.value, qualification.NotQualified)
    with pytest.raises(PermissionDenied, match="Only the assignee holding") as refused:
        flow.item_status_clear(task=gated, item=row.item, by=manager)
    assert not isinstance(refused.value, qualification.NotQualified)
    client.force_login(manager)
    response = client.post(reverse("work:item-status", args=[row.assignment_id, row.pk]), {"status": "completed"})
    page = client.get(response["Location"]).content.decode()
    assert "Only the person this item is assigned to" in page and "qualification first" not in page
    row.refresh_from_db()
    assert row.status is None


def test_my_work_marks_the_task_to_qualify_for_until_passed(client, gated, make_task, manager, annotator):
    free = make_task("Free", assignees=[annotator], folder="/highway")
    client.force_login(annotator)
    page = client.get(reverse("work:my-work")).content.decode()
    qualify_link = f'data-gate="qualify" href="{reverse("quality:qualify", args=[gated.pk])}"'
    assert qualify_link in page and page.count('data-gate="qualify"') == 1  # not on the free task
    assert free.name in page
    home = client.get(reverse("dashboards:home")).content.decode()
    assert qualify_link in home and home.count('data-gate="qualify"') == 1  # the home page's open work too
    attempt = qualification.attempt_start(task=gated, user=annotator, seed=1)
    qualification.attempt_submit(attempt=attempt, by=annotator, answers=_answer(attempt, 3))
    assert 'data-gate="qualify"' not in client.get(reverse("work:my-work")).content.decode()
    assert 'data-gate="qualify"' not in client.get(reverse("dashboards:home")).content.decode()


def test_my_work_reads_its_gates_in_two_queries(gated, make_task, annotator, django_assert_num_queries):
    for n in range(3):
        make_task(f"Free {n}", assignees=[annotator], folder="/highway")
    rows = work_queries.my_work(user=annotator)
    with django_assert_num_queries(2):
        gates = work_queries.my_work_gates(user=annotator, rows=rows)
    assert gates == {gated.pk: work_queries.QUALIFY}
