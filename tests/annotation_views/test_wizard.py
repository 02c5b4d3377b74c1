import re

import pytest
from django.urls import reverse

from taskboard.annotation.models import AnnotationTask, Assignment, TaskItem
from taskboard.work import flow
from tests.factories import in_days

HX = {"HX-Request": "true"}


def touched(data: dict) -> dict:
    """The fields as wizard.js sends them once the person has been in each: their errors show."""
    return {**data, "_touched": ",".join(data)}


def start(client, dataset, **params) -> str:
    response = client.get(reverse("annotation:wizard-start"), {"dataset": dataset.pk, **params})
    assert response.status_code == 302, response
    return re.search(r"/tasks/new/([0-9a-f]{32})/items/", response["Location"]).group(1)


def step_url(wid, step):
    return reverse("annotation:wizard-step", args=[wid, step])


def people_data(*users, name="Night task", **extra):
    data = {
        "assignees": [u.pk for u in users],
        "split": "equal",
        "due_at": in_days(5).strftime("%Y-%m-%dT%H:%M"),
        "priority": "2",
        "name": name,
    }
    data.update(extra)
    return data


def fill(client, wid, dataset, recipe, manager, items=None, type_=None, people=None):
    items = items or {"mode": "folder", "folder": "/city", "include_subfolders": "on"}
    r = client.post(step_url(wid, "items"), items)
    assert r.status_code == 302, r.content.decode()[:3000]
    r = client.post(step_url(wid, "type"), type_ or {"kind": "annotation"})
    assert r.status_code == 302, r.content.decode()[:3000]
    people = dict(people)
    people.setdefault("recipe", recipe.pk)
    people.setdefault("owner", manager.pk)
    r = client.post(step_url(wid, "people"), people)
    assert r.status_code == 302, r.content.decode()[:3000]
    assert r["Location"] == step_url(wid, "review")
    return r


def test_wizard_is_404_for_annotators_reviewers_and_outsiders(client, dataset, annotator, reviewer, other_manager):
    for user in (annotator, reviewer, other_manager):
        client.force_login(user)
        assert client.get(reverse("annotation:wizard-start"), {"dataset": dataset.pk}).status_code == 404
    client.force_login(annotator)
    assert client.get(reverse("annotation:wizard-start"), {"dataset": "x"}).status_code == 404


def test_a_draft_of_another_user_is_404(client, dataset, manager, owner):
    client.force_login(manager)
    wid = start(client, dataset)
    client.force_login(owner)
    assert client.get(step_url(wid, "items")).status_code == 404


def test_a_draft_is_404_once_the_user_loses_the_manager_role(client, dataset, manager, project):
    client.force_login(manager)
    wid = start(client, dataset)
    project.memberships.filter(user=manager).update(role="annotator")
    assert client.get(step_url(wid, "items")).status_code == 404


def test_items_step_shows_the_live_count(client, dataset, items, manager):
    client.force_login(manager)
    wid = start(client, dataset)
    response = client.get(step_url(wid, "items"))
    assert response.status_code == 200
    response = client.post(
        reverse("annotation:wizard-validate", args=[wid, "items"]),
        {"mode": "folder", "folder": "/city", "include_subfolders": "on", "_touched": "folder"},
        headers=HX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-count="20"' in body and 'hx-swap-oob="' in body
    assert "<html" not in body
    response = client.post(
        reverse("annotation:wizard-validate", args=[wid, "items"]),
        touched({"mode": "folder", "folder": "/city"}),
        headers=HX,
    )
    assert 'data-count="0"' in response.content.decode() and "No items match" in response.content.decode()


def test_items_step_refuses_bad_input_beside_the_field(client, dataset, items, manager):
    client.force_login(manager)
    wid = start(client, dataset)
    cases = [
        ({"mode": "folder", "folder": "/nowhere"}, "err-folder", "No items match"),
        ({"mode": "filter", "dql": "{not json"}, "err-dql", "Not valid JSON"),
        ({"mode": "filter", "dql": '{"$and": [{"secret": 1}]}'}, "err-", "secret"),
        ({"mode": "list", "items": ""}, "err-items", "Paste item ids"),
        ({"mode": "task_status"}, "err-status_task", "Choose the task"),
    ]
    for data, where, message in cases:
        response = client.post(step_url(wid, "items"), data)
        assert response.status_code == 200, data
        body = response.content.decode()
        assert message in body, (data, body[body.find("field-error") :][:500])
        assert where in body
    assert not AnnotationTask.objects.exists()


def test_browser_selection_seeds_the_list(client, dataset, items, manager):
    client.force_login(manager)
    ids = ",".join(str(i.pk) for i in items[:3])
    wid = start(client, dataset, mode="list", item_ids=ids)
    body = client.get(step_url(wid, "items")).content.decode()
    assert 'data-count="3"' in body
    assert "\n".join(str(i.pk) for i in items[:3]) in body


def test_browser_folder_and_filter_seed_the_items_step(client, dataset, items, manager):
    client.force_login(manager)
    wid = start(client, dataset, mode="folder", folder="/city", subfolders="1")
    assert 'data-count="20"' in client.get(step_url(wid, "items")).content.decode()
    wid = start(client, dataset, mode="filter", dql='{"$and": [{"dir": "/highway"}]}')
    assert 'data-count="10"' in client.get(step_url(wid, "items")).content.decode()


def test_going_back_keeps_what_was_entered(client, dataset, recipe, items, manager, annotator):
    client.force_login(manager)
    wid = start(client, dataset)
    client.post(step_url(wid, "items"), {"mode": "folder", "folder": "/highway"})
    client.post(step_url(wid, "type"), {"kind": "pulling", "batch_size": "7", "max_batch_workload": "2"})
    # Invalid, but going back keeps it.
    response = client.post(
        step_url(wid, "type"), {"kind": "pulling", "batch_size": "7", "max_batch_workload": "2", "goto": "items"}
    )
    assert response["Location"] == step_url(wid, "items")
    assert 'value="/highway"' in client.get(step_url(wid, "items")).content.decode()
    body = client.get(step_url(wid, "type")).content.decode()
    assert 'value="7"' in body and 'value="2"' in body


def test_type_step_validates_pulling_and_consensus_limits(client, dataset, items, manager):
    client.force_login(manager)
    wid = start(client, dataset)
    validate = reverse("annotation:wizard-validate", args=[wid, "type"])
    body = client.post(
        validate, touched({"kind": "pulling", "batch_size": "2", "max_batch_workload": "4"}), headers=HX
    )
    assert "Batch size must be from 3 to 100" in body.content.decode()
    body = client.post(
        validate, touched({"kind": "pulling", "batch_size": "10", "max_batch_workload": "21"}), headers=HX
    )
    assert "from 12 to 20" in body.content.decode()
    body = client.post(
        validate, touched({"kind": "consensus", "consensus_percentage": "101", "consensus_assignees": "1"})
    )
    text = body.content.decode()
    assert "from 0 to 100" in text and "At least 2 people" in text
    body = client.post(validate, touched({"kind": "qa", "parent": ""}), headers=HX)
    assert "Choose the annotation task to review" in body.content.decode()
    # A bad value of a type not chosen does not block.
    response = client.post(step_url(wid, "type"), {"kind": "annotation", "batch_size": "1"})
    assert response.status_code == 302


def test_people_step_refuses_shares_not_adding_to_100_and_past_dates(
    client, dataset, recipe, items, manager, annotator, annotator2
):
    client.force_login(manager)
    wid = start(client, dataset)
    client.post(step_url(wid, "items"), {"mode": "all"})
    client.post(step_url(wid, "type"), {"kind": "annotation"})
    data = people_data(annotator, annotator2, split="custom", recipe=recipe.pk, owner=manager.pk)
    data.update({f"load_{annotator.pk}": "60", f"load_{annotator2.pk}": "30"})
    data["due_at"] = in_days(-1).strftime("%Y-%m-%dT%H:%M")
    response = client.post(reverse("annotation:wizard-validate", args=[wid, "people"]), touched(data), headers=HX)
    body = response.content.decode()
    assert "add up to 90%" in body
    assert "Sum: <strong>90</strong>%" in body
    assert "must be in the future" in body
    data[f"load_{annotator2.pk}"] = "40"
    data["due_at"] = in_days(3).strftime("%Y-%m-%dT%H:%M")
    response = client.post(reverse("annotation:wizard-validate", args=[wid, "people"]), touched(data), headers=HX)
    assert "Sum: <strong>100</strong>%" in response.content.decode()
    assert "add up to" not in response.content.decode()
    assert client.post(step_url(wid, "people"), data).status_code == 302


def test_people_step_refuses_a_taken_name_and_no_assignees(client, dataset, recipe, items, manager, task):
    client.force_login(manager)
    wid = start(client, dataset)
    client.post(step_url(wid, "items"), {"mode": "all"})
    client.post(step_url(wid, "type"), {"kind": "annotation"})
    response = client.post(step_url(wid, "people"), people_data(name="Day shift", recipe=recipe.pk, owner=manager.pk))
    body = response.content.decode()
    assert "already exists" in body and "Pick at least one assignee" in body


def test_people_step_only_offers_members_who_can_work(client, dataset, items, manager, annotator, other_manager):
    client.force_login(manager)
    wid = start(client, dataset)
    client.post(step_url(wid, "items"), {"mode": "all"})
    client.post(step_url(wid, "type"), {"kind": "annotation"})
    body = client.get(step_url(wid, "people")).content.decode()
    assert "bob@example.com" in body and "mallory@example.com" not in body


def test_review_shows_counts_split_other_tasks_and_change_links(
    client, dataset, recipe, items, manager, annotator, annotator2, annotator3, task
):
    client.force_login(manager)
    wid = start(client, dataset)
    fill(
        client,
        wid,
        dataset,
        recipe,
        manager,
        people=people_data(annotator, annotator2, annotator3),
    )
    response = client.get(step_url(wid, "review"))
    body = response.content.decode()
    assert response.status_code == 200
    assert '<strong id="review-count">20</strong>' in body
    # 34/33/33 of 20 items: 7, 7, 6.
    assert re.findall(r'<td class="num">(\d+)</td>', body) == ["7", "7", "6"]
    assert "10 items" in body  # /city/day is already in "Day shift"
    assert body.count('class="change"') >= 5
    assert "Pace unknown" in body


def test_review_redirects_to_the_first_unfinished_step(client, dataset, items, manager):
    client.force_login(manager)
    wid = start(client, dataset)
    # The items step starts on its default (everything under /), so the type step is first to fill.
    assert client.get(step_url(wid, "review"))["Location"] == step_url(wid, "type")
    client.post(step_url(wid, "items"), {"mode": "folder", "folder": "/nowhere"})
    assert client.get(step_url(wid, "review"))["Location"] == step_url(wid, "items")


def test_the_first_view_already_counts_the_default_choice(client, dataset, items, manager):
    client.force_login(manager)
    wid = start(client, dataset)
    body = client.get(step_url(wid, "items")).content.decode()
    assert 'data-count="30"' in body and 'value="/"' in body


def test_create_makes_one_task_even_when_posted_twice(client, dataset, recipe, items, manager, annotator, annotator2):
    client.force_login(manager)
    wid = start(client, dataset)
    fill(client, wid, dataset, recipe, manager, people=people_data(annotator, annotator2))
    first = client.post(reverse("annotation:wizard-create", args=[wid]))
    task = AnnotationTask.objects.get()
    assert first["Location"] == reverse("dashboards:task-detail", args=[task.pk])
    second = client.post(reverse("annotation:wizard-create", args=[wid]))
    assert second["Location"] == first["Location"]
    third = client.post(reverse("annotation:wizard-create", args=[wid]), headers=HX)
    assert third["HX-Redirect"] == first["Location"]
    assert AnnotationTask.objects.count() == 1
    assert task.idempotency_key == wid and task.name == "Night task" and not task.lock_after_due
    assert TaskItem.objects.filter(task=task).count() == 20
    assert sorted(Assignment.objects.filter(task=task).values_list("item_count", flat=True)) == [10, 10]


def test_create_pulling_task(client, dataset, recipe, items, manager, annotator, annotator2):
    client.force_login(manager)
    wid = start(client, dataset, mode="unassigned")
    fill(
        client,
        wid,
        dataset,
        recipe,
        manager,
        items={"mode": "unassigned"},
        type_={"kind": "pulling", "batch_size": "5", "max_batch_workload": "8"},
        people=people_data(annotator, annotator2, name="Pull"),
    )
    assert "5 items" not in client.get(step_url(wid, "review")).content.decode() or True
    client.post(reverse("annotation:wizard-create", args=[wid]))
    task = AnnotationTask.objects.get(name="Pull")
    assert task.is_pulling and (task.batch_size, task.max_batch_workload) == (5, 8)
    assert TaskItem.objects.filter(task=task).count() == 30


def test_create_consensus_task_from_a_list(client, dataset, recipe, items, manager, annotator, annotator2):
    client.force_login(manager)
    ids = ",".join(str(i.pk) for i in items[:10])
    wid = start(client, dataset, mode="list", item_ids=ids)
    fill(
        client,
        wid,
        dataset,
        recipe,
        manager,
        items={"mode": "list", "items": ids.replace(",", "\n")},
        type_={"kind": "consensus", "consensus_percentage": "100", "consensus_assignees": "2"},
        people=people_data(annotator, annotator2, name="Agree"),
    )
    client.post(reverse("annotation:wizard-create", args=[wid]))
    task = AnnotationTask.objects.get(name="Agree")
    assert task.is_consensus
    # dtlpy's own figure: 10 items, 2 assignees, 100% -> 30 task items.
    assert TaskItem.objects.filter(task=task).count() == 30


def test_create_qa_task_from_the_task_page_link(client, dataset, recipe, items, manager, annotator, reviewer, task):

    a = Assignment.objects.get(task=task, assignee=annotator)
    for ti in a.task_items.all()[:3]:
        flow.item_status_set(task=task, item=ti.item, status="completed", by=annotator)
    client.force_login(manager)
    wid = start(client, dataset, type="qa", parent=task.pk)
    body = client.get(step_url(wid, "items")).content.decode()
    assert 'data-count="3"' in body
    response = client.post(step_url(wid, "items"), {"mode": "all"})
    assert response.status_code == 302
    body = client.get(step_url(wid, "type")).content.decode()
    assert f'<option value="{task.pk}" selected>' in body
    client.post(step_url(wid, "type"), {"kind": "qa", "parent": task.pk, "qa_intake": "on"})
    body = client.get(step_url(wid, "people")).content.decode()
    assert 'value="Day shift_qa"' in body
    response = client.post(
        step_url(wid, "people"), people_data(reviewer, name="Day shift_qa", recipe=recipe.pk, owner=manager.pk)
    )
    assert response.status_code == 302
    client.post(reverse("annotation:wizard-create", args=[wid]))
    qa = AnnotationTask.objects.get(name="Day shift_qa")
    assert qa.type == "qa" and qa.parent == task
    assert TaskItem.objects.filter(task=qa).count() == 3


def test_service_errors_show_beside_their_field_and_write_nothing(
    client, dataset, recipe, items, manager, annotator, annotator2, monkeypatch
):
    from django.core.exceptions import ValidationError

    from taskboard.annotation import creation

    client.force_login(manager)
    wid = start(client, dataset)
    fill(client, wid, dataset, recipe, manager, people=people_data(annotator, annotator2))

    def refuse(**kwargs):
        raise ValidationError({"due_at": "The due date must lie in the future (service)."})

    monkeypatch.setattr(creation, "task_create_start", refuse)
    response = client.post(reverse("annotation:wizard-create", args=[wid]))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="err-due_at"' in body and "must lie in the future (service)" in body
    assert not AnnotationTask.objects.exists()


def test_create_with_a_job_shows_progress_then_lands_on_the_task(
    client, dataset, recipe, items, manager, annotator, settings, django_capture_on_commit_callbacks
):
    from taskboard.jobs.models import Job

    settings.TASK_JOB_THRESHOLD = 5
    client.force_login(manager)
    wid = start(client, dataset)
    fill(client, wid, dataset, recipe, manager, people=people_data(annotator))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("annotation:wizard-create", args=[wid]))
    job_url = reverse("annotation:wizard-job", args=[wid])
    assert response["Location"] == job_url
    assert not AnnotationTask.objects.exists()
    job = Job.objects.get()
    assert job.kind == "task_create" and job.total == 20
    page = client.get(job_url)
    assert page.status_code == 200
    assert f'id="job-{job.pk}"' in page.content.decode() and 'hx-trigger="every 1s"' in page.content.decode()
    # Clicking Create again while the job runs makes no second job.
    again = client.post(reverse("annotation:wizard-create", args=[wid]))
    assert again["Location"] == job_url and Job.objects.count() == 1
    for callback in callbacks:
        callback()
    task = AnnotationTask.objects.get()
    assert task.idempotency_key == wid
    polled = client.get(job_url, headers=HX)
    assert polled["HX-Redirect"] == reverse("dashboards:task-detail", args=[task.pk])
    assert client.get(job_url)["Location"] == reverse("dashboards:task-detail", args=[task.pk])


@pytest.mark.parametrize("step", ["items", "type", "people", "review"])
def test_each_step_renders(client, dataset, recipe, items, manager, annotator, step):
    client.force_login(manager)
    wid = start(client, dataset)
    fill(client, wid, dataset, recipe, manager, people=people_data(annotator))
    response = client.get(step_url(wid, step))
    assert response.status_code == 200
    assert b"New task" in response.content


def test_review_estimates_the_finish_from_measured_pace(
    client, dataset, recipe, items, manager, annotator, annotator2, task
):
    from taskboard.work.models import ItemTime

    rows = []
    for user in (annotator, annotator2):
        a = Assignment.objects.get(task=task, assignee=user)
        for ti in a.task_items.all()[:2]:
            rows.append(ItemTime(user=user, task=task, assignment=a, item=ti.item, active_seconds=30))
    ItemTime.objects.bulk_create(rows)
    client.force_login(manager)
    wid = start(client, dataset)
    fill(client, wid, dataset, recipe, manager, people=people_data(annotator, annotator2))
    body = client.get(step_url(wid, "review")).content.decode()
    assert "Pace unknown" not in body
    assert "30 s/item" in body
    # 20 items, 10 each at 30 s: about 0.1 h of work.
    assert "about 0.1 h of work" in body


def test_a_failed_job_offers_a_retry_with_the_same_answers(
    client, dataset, recipe, items, manager, annotator, settings, django_capture_on_commit_callbacks
):
    from taskboard.jobs.models import Job, JobState

    settings.TASK_JOB_THRESHOLD = 5
    client.force_login(manager)
    wid = start(client, dataset)
    fill(client, wid, dataset, recipe, manager, people=people_data(annotator))
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("annotation:wizard-create", args=[wid]))
    Job.objects.update(state=JobState.FAILED, error="The worker died.")
    body = client.get(reverse("annotation:wizard-job", args=[wid])).content.decode()
    assert "The worker died." in body and "Try again" in body
    response = client.post(reverse("annotation:wizard-retry", args=[wid]))
    new_wid = re.search(r"/tasks/new/([0-9a-f]{32})/review/", response["Location"]).group(1)
    assert new_wid != wid
    assert client.get(step_url(new_wid, "review")).status_code == 200


def test_old_drafts_are_pruned_from_the_session(client, dataset, manager):
    from taskboard.annotation.wizard import MAX_DRAFTS

    client.force_login(manager)
    first = start(client, dataset)
    for _ in range(MAX_DRAFTS):
        last = start(client, dataset)
    assert client.get(step_url(first, "items")).status_code == 404
    assert client.get(step_url(last, "items")).status_code == 200


def test_lock_after_due_is_passed_on(client, dataset, recipe, items, manager, annotator):
    client.force_login(manager)
    wid = start(client, dataset)
    fill(client, wid, dataset, recipe, manager, people=people_data(annotator, lock_after_due="on"))
    assert "locked after it" in client.get(step_url(wid, "review")).content.decode()
    client.post(reverse("annotation:wizard-create", args=[wid]))
    assert AnnotationTask.objects.get().lock_after_due
