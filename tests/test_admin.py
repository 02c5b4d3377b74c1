"""The admin site: every registered model's list, change and add pages answer for a superuser."""

import pytest
from django.contrib import admin
from django.urls import reverse

from taskboard.accounts.models import User
from taskboard.annotation.models import (
    AnnotationTask,
    Assignment,
    AssignmentKind,
    BulkOperation,
    Cap,
    ChangeKind,
    HoldingChange,
    Lease,
    OperationRow,
    Pause,
    Skip,
    StatusCount,
    StatusLog,
    TaskItem,
    TaskStatus,
    WorkloadEntry,
)
from taskboard.annotation.picks import items_pick
from taskboard.dashboards.models import ConsensusTally, DailyThroughput, ReviewTally
from taskboard.datasets.models import Annotation
from taskboard.jobs.models import Job, JobState
from taskboard.notifications.models import Notification
from tests.factories import UserFactory, in_days, make_items

# Models whose admin this suite must see with a row in place (the foundation's apps).
FOUNDATION_APPS = {"accounts", "projects", "datasets", "annotation", "jobs", "dashboards"}


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser(email="root@example.com", password="pw")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def task_data(project, owner, manager, annotator, annotator2, dataset, recipe):
    """A small task written directly: the admin only reads what the services keep."""
    items = make_items(dataset, {"/city/day": 6, "/highway": 2}, annotated_every=2)
    task = AnnotationTask.objects.create(
        project=project,
        dataset=dataset,
        recipe=recipe,
        name="Label the day shots",
        owner=manager,
        created_by=manager,
        due_at=in_days(7),
    )
    TaskStatus.objects.create(task=task, key="completed", label="Completed", is_done=True, position=0)
    TaskStatus.objects.create(task=task, key="blurry", label="Blurry", is_done=False, position=1)
    bob = Assignment.objects.create(task=task, assignee=annotator, item_count=4, rework_count=1, issue_count=2)
    carol = Assignment.objects.create(task=task, assignee=annotator2, item_count=4)
    Assignment.objects.create(task=task, kind=AssignmentKind.QUEUE)
    for rank, item in enumerate(items[:8]):
        TaskItem.objects.create(
            task=task,
            item=item,
            assignment=bob if rank < 4 else carol,
            rank=rank,
            status="completed" if rank < 3 else ("blurry" if rank == 3 else None),
            status_by=annotator if rank < 4 else None,
        )
    StatusCount.objects.create(assignment=bob, status="completed", count=3)
    StatusCount.objects.create(assignment=bob, status="blurry", count=1)
    StatusLog.objects.create(
        task=task, item=items[0], assignment_pk=bob.pk, status="completed", action="create", creator=annotator.email
    )
    WorkloadEntry.objects.create(task=task, assignee=annotator, load=50)
    WorkloadEntry.objects.create(task=task, assignee=annotator2, load=50)
    HoldingChange.objects.create(task=task, kind=ChangeKind.CREATE, to_assignment=bob, count=4, by=manager)
    HoldingChange.objects.create(
        task=task, kind=ChangeKind.REASSIGN, item=items[0], from_assignment=carol, to_assignment=bob, by=manager
    )
    Annotation.objects.create(
        item=items[0], task=task, label=recipe.labels.first(), label_name="car", created_by=bob.assignee
    )
    Pause.objects.create(project=project, user=annotator2, task=task, reason="on leave", by=manager)
    Lease.objects.create(task=task, assignment=carol, holder=annotator2, items=4, expires_at=in_days(1))
    Cap.objects.create(task=task, user=annotator, max_items=10, by=manager)
    Skip.objects.create(task=task, item=items[4], by=annotator2, reason="blurry", went_to="bob@example.com")
    operation = BulkOperation.objects.create(project=project, task=task, kind="priority", by=manager, count=1)
    OperationRow.objects.create(operation=operation, task_item_id=TaskItem.objects.first().pk, before_priority=50)
    items_pick(task=task, rows=TaskItem.objects.filter(task=task), by=manager)
    Job.objects.create(
        kind="task_create", project=project, created_by=manager, state=JobState.RUNNING, done=5, total=10
    )
    # The dashboards' counters, as the services would have kept them.
    DailyThroughput.objects.create(task=task, assignment=bob, day=task.created_at.date(), done=3, active_seconds=95)
    ReviewTally.objects.create(task=task, annotator=annotator, approved=2, first_pass=1, discarded=1, sent_back=1)
    ConsensusTally.objects.create(task=task, items=2, agreement_sum=1.5, low=0)
    return task


def registered_models():
    return sorted(admin.site._registry, key=lambda model: model._meta.label)


def admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_changelist_change_and_add_page_answers(admin_client, task_data):
    failures, seen_with_rows = [], set()
    for model in registered_models():
        pages = [("changelist", admin_url(model, "changelist"))]
        try:
            obj = model._default_manager.order_by("pk").first()
        except Exception as error:
            failures.append(f"{model._meta.label}: {error!r}"[:300])
            continue
        if obj is not None:
            pages.append(("change", admin_url(model, "change", obj.pk)))
            seen_with_rows.add(model)
        pages.append(("add", admin_url(model, "add")))
        for view, url in pages:
            try:
                status = admin_client.get(url).status_code
            except Exception as error:  # one broken page must not hide the others
                status = repr(error)[:200]
            # An admin that forbids adding answers 403 on its add page.
            if status != 200 and not (view == "add" and status == 403):
                failures.append(f"{model._meta.label} {view}: {status}")
    assert failures == []
    foundation = {m for m in registered_models() if m._meta.app_label in FOUNDATION_APPS}
    missing = {m._meta.label for m in foundation - seen_with_rows}
    assert not missing, f"no row to open the change page of: {missing}"


def test_every_foundation_model_is_registered():
    from django.apps import apps

    unregistered = [
        model._meta.label
        for label in FOUNDATION_APPS
        for model in apps.get_app_config(label).get_models()
        if model not in admin.site._registry
    ]
    assert unregistered == []


def test_task_page_shows_assignments_with_their_counts(admin_client, task_data):
    response = admin_client.get(admin_url(AnnotationTask, "change", task_data.pk))
    assert response.status_code == 200
    rows = {a.assignee_id: a for a in response.context["inline_admin_formsets"][0].formset.queryset}
    bob = task_data.assignments.get(assignee__email="bob@example.com")
    carol = task_data.assignments.get(assignee__email="carol@example.com")
    # "blurry" is a status that does not count as done.
    assert (rows[bob.assignee_id].item_count, rows[bob.assignee_id].done) == (4, 3)
    assert (rows[carol.assignee_id].item_count, rows[carol.assignee_id].done) == (4, 0)
    page = response.content.decode()
    assert "bob@example.com" in page and "carol@example.com" in page
    assert "Pulling queue" in page
    assert "Blurry" in page  # the TaskStatus inline


def test_assignment_list_shows_done_counts(admin_client, task_data):
    response = admin_client.get(admin_url(Assignment, "changelist"))
    done = {a.assignee.email if a.assignee else a.kind: a.done for a in response.context["cl"].result_list}
    assert done == {"bob@example.com": 3, "carol@example.com": 0, "queue": 0}


@pytest.mark.parametrize(
    ("model", "query", "expected", "absent"),
    [
        (User, "carol", "carol@example.com", "bob@example.com"),
        ("datasets.Item", "highway", "/highway/img00000.jpg", "/city/day/img00000.jpg"),
        (AnnotationTask, "day shots", "Label the day shots", None),
        (Assignment, "bob@", "bob@example.com", "carol@example.com"),
        (TaskItem, "/highway/img00001.jpg", "/highway/img00001.jpg", "/city/day/img00002.jpg"),
        ("projects.Membership", "rita", None, "bob@example.com"),
        (Job, "task_create", "task_create", None),
    ],
)
def test_admin_search_finds_and_narrows(admin_client, task_data, reviewer, model, query, expected, absent):
    from django.apps import apps

    model = apps.get_model(model) if isinstance(model, str) else model
    response = admin_client.get(admin_url(model, "changelist"), {"q": query})
    assert response.status_code == 200
    results = list(response.context["cl"].result_list)
    assert results, f"{model._meta.label}: nothing found for {query!r}"
    text = " ".join(str(row) for row in results) + response.content.decode()
    if expected:
        assert expected in text
    if absent:
        assert absent not in " ".join(str(row) for row in results)


def test_item_filters_answer(admin_client, task_data, dataset):
    from taskboard.datasets.models import Item

    url = admin_url(Item, "changelist")
    response = admin_client.get(url, {"annotated__exact": "1", "dataset__id__exact": dataset.pk})
    assert response.status_code == 200
    assert {row.annotated for row in response.context["cl"].result_list} == {True}


def test_item_kind_filter_uses_the_mimetype_prefix(admin_client, task_data, dataset):
    from taskboard.datasets.models import Item

    Item.objects.filter(dir="/highway").update(mimetype="application/pdf")
    response = admin_client.get(admin_url(Item, "changelist"), {"kind": "pdf"})
    assert {row.dir for row in response.context["cl"].result_list} == {"/highway"}


def test_task_item_status_filter_lists_the_tasks_statuses(admin_client, task_data):
    url = admin_url(TaskItem, "changelist")
    response = admin_client.get(url)
    page = response.content.decode()
    assert "No status (to do)" in page and "blurry" in page
    done = admin_client.get(url, {"status": "completed"}).context["cl"].result_list
    assert {row.status for row in done} == {"completed"} and len(done) == 3
    todo = admin_client.get(url, {"status": "none"}).context["cl"].result_list
    assert {row.status for row in todo} == {None} and len(todo) == 4


def test_large_lists_count_only_up_to_a_cap(admin_client, task_data, monkeypatch):
    from taskboard.datasets.admin import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "cap", 5)
    response = admin_client.get(admin_url(TaskItem, "changelist"))
    assert response.context["cl"].result_count == 6  # the cap and one more: "there are more"


def test_add_user_with_email_only(admin_client):
    response = admin_client.post(
        admin_url(User, "add"),
        {
            "email": "New.Person@Example.com",
            "usable_password": "true",
            "password1": "s3cret-pass",
            "password2": "s3cret-pass",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(email="new.person@example.com")
    assert user.check_password("s3cret-pass")
    assert not user.is_staff


def test_add_user_refuses_an_email_differing_only_in_case(admin_client):
    UserFactory(email="taken@example.com")
    response = admin_client.post(
        admin_url(User, "add"),
        {
            "email": "Taken@Example.com",
            "usable_password": "true",
            "password1": "s3cret-pass",
            "password2": "s3cret-pass",
        },
    )
    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1


def test_change_user_keeps_email_lowercase(admin_client, annotator):
    url = admin_url(User, "change", annotator.pk)
    form = admin_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data.update(
        {
            "email": "Bob.Builder@Example.com",
            "name": "Bob",
            "groups": [],
            "user_permissions": [],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        }
    )
    data.pop("last_login", None)
    data.pop("date_joined", None)
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    annotator.refresh_from_db()
    assert annotator.email == "bob.builder@example.com"


def test_dashboard_counters_are_read_only(admin_client, task_data):
    for model in (DailyThroughput, ReviewTally, ConsensusTally):
        row = model.objects.get()
        assert admin_client.get(admin_url(model, "add")).status_code == 403
        page = admin_client.get(admin_url(model, "change", row.pk))
        assert page.status_code == 200 and b'type="submit"' not in page.content.split(b'id="content-main"')[1]
        assert admin_client.post(admin_url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
        assert model.objects.filter(pk=row.pk).exists()
    listing = admin_client.get(admin_url(DailyThroughput, "changelist"), {"q": "bob@"}).content.decode()
    assert "bob@example.com" in listing
    assert "75%" in admin_client.get(admin_url(ConsensusTally, "changelist")).content.decode()


def test_pausing_in_the_admin_tells_the_person_and_the_managers(admin_client, project, manager, annotator):
    response = admin_client.post(
        admin_url(Pause, "add"), {"project": project.pk, "user": annotator.pk, "reason": "away this week"}
    )
    assert response.status_code == 302, response.content[:2000]
    pause = Pause.objects.get(user=annotator, project=project, task=None)
    assert set(Notification.objects.filter(event_key=f"paused:{pause.pk}").values_list("recipient", flat=True)) >= {
        annotator.pk,
        manager.pk,
    }
    admin_client.post(admin_url(Pause, "delete", pause.pk), {"post": "yes"})
    assert not Pause.objects.filter(pk=pause.pk).exists()
