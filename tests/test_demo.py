"""`manage.py demo`: what it makes, and that a second run changes nothing."""

import io

import pytest
from django.core.management import call_command
from django.db.models import Sum

from taskboard.accounts.models import User
from taskboard.annotation.models import (
    AnnotationTask,
    Assignment,
    HoldingChange,
    StatusCount,
    TaskItem,
    TaskStatus,
    WorkloadEntry,
)
from taskboard.datasets.models import Annotation, Dataset, Item, Label, Recipe
from taskboard.projects.models import Membership, Project

EMAILS = [
    "owner@example.com",
    "manager@example.com",
    "annotator1@example.com",
    "annotator2@example.com",
    "annotator3@example.com",
    "reviewer@example.com",
]


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def run_demo() -> str:
    out = io.StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    """Everything the demo writes, as comparable values."""
    return {
        "users": list(User.objects.order_by("email").values_list("email", "password", "is_superuser", "is_staff")),
        "memberships": list(Membership.objects.order_by("pk").values_list("project__name", "user__email", "role")),
        "projects": list(Project.objects.values_list("pk", "name")),
        "datasets": list(Dataset.objects.order_by("pk").values_list("pk", "name")),
        "recipes": list(Recipe.objects.order_by("pk").values_list("pk", "dataset_id", "is_default")),
        "labels": list(Label.objects.order_by("pk").values_list("pk", "recipe_id", "name")),
        "items": Item.objects.count(),
        "item_ids": Item.objects.aggregate(Sum("id"))["id__sum"],
        "annotations": list(Annotation.objects.order_by("pk").values_list("pk", "item_id", "label_name")),
        "tasks": list(AnnotationTask.objects.order_by("pk").values_list("pk", "name", "state", "due_at")),
        "assignments": list(Assignment.objects.order_by("pk").values_list("pk", "assignee_id", "kind", "item_count")),
        "status_counts": list(StatusCount.objects.order_by("pk").values_list("assignment_id", "status", "count")),
        "task_items": list(TaskItem.objects.order_by("pk").values_list("pk", "assignment_id", "status", "in_queue")),
        "statuses": TaskStatus.objects.count(),
        "workload": WorkloadEntry.objects.count(),
        "changes": HoldingChange.objects.count(),
    }


@pytest.mark.django_db
def test_demo_makes_the_project_and_a_second_run_changes_nothing(media, client):
    output = run_demo()
    first = snapshot()
    run_demo()
    assert snapshot() == first

    project = Project.objects.get(name="Demo")
    roles = dict(Membership.objects.filter(project=project).values_list("user__email", "role"))
    assert roles == {
        "owner@example.com": "owner",
        "manager@example.com": "manager",
        "annotator1@example.com": "annotator",
        "annotator2@example.com": "annotator",
        "annotator3@example.com": "annotator",
        "reviewer@example.com": "reviewer",
    }
    owner = User.objects.get(email="owner@example.com")
    assert owner.is_superuser and owner.is_staff
    assert not User.objects.filter(is_superuser=True).exclude(pk=owner.pk).exists()

    street = Dataset.objects.get(project=project, name="street-scenes")
    items = Item.objects.filter(dataset=street)
    assert items.count() == 2000
    assert set(items.values_list("dir", flat=True)) >= {"/city/day", "/city/night", "/highway", "/suburb/rain"}
    annotated = items.filter(annotated=True)
    assert annotated.count() == 666
    assert Annotation.objects.filter(item__dataset=street).count() == 666
    assert not annotated.filter(annotations__isnull=True).exists()
    assert set(items.values_list("mimetype", flat=True)) == {"image/png"}
    assert len(set(items.values_list("file", flat=True))) >= 6
    for name in set(items.values_list("file", flat=True)):
        assert (media / name).read_bytes().startswith(b"\x89PNG")

    documents = Dataset.objects.get(project=project, name="documents")
    assert set(documents.items.values_list("mimetype", flat=True)) == {"application/pdf", "text/plain"}
    assert (media / "demo" / "invoice.pdf").read_bytes().startswith(b"%PDF")
    assert set(street.default_recipe.labels.values_list("name", flat=True)) >= {"car", "person", "bicycle"}
    assert set(documents.default_recipe.labels.values_list("name", flat=True)) == {"invoice", "receipt", "letter"}

    tasks = {task.name: task for task in AnnotationTask.objects.filter(project=project)}
    assert len(tasks) == 2
    day = tasks["City by day: road users"]
    by_person = {a.assignee.email: a for a in day.assignments.select_related("assignee")}
    assert set(by_person) == {"annotator1@example.com", "annotator2@example.com"}
    assert sum(a.item_count for a in by_person.values()) == items.filter(dir__startswith="/city/day").count()
    counts = dict(
        StatusCount.objects.filter(assignment=by_person["annotator1@example.com"]).values_list("status", "count")
    )
    assert counts["completed"] == 60 and counts["discard"] == 6
    # The counters agree with the rows they count.
    assert (
        TaskItem.objects.filter(task=day, status="completed").count()
        == (StatusCount.objects.filter(assignment__task=day, status="completed").aggregate(Sum("count"))["count__sum"])
    )
    highway = tasks["Highway: pull and label"]
    assert highway.allocation == "pulling"
    assert highway.task_items.count() == items.filter(dir="/highway").count()
    assert highway.task_items.filter(in_queue=True).exists()
    assert highway.task_items.filter(status__isnull=False).count() == 7

    # What it prints is true: every person signs in with the printed password.
    assert "password: demo" in output
    assert "http://127.0.0.1:8000/" in output and "http://127.0.0.1:8000/admin/" in output
    for email in EMAILS:
        assert email in output
        assert client.login(username=email, password="demo"), email
    client.force_login(owner)
    page = client.get("/admin/annotation/annotationtask/").content.decode()
    assert "City by day: road users" in page and "Highway: pull and label" in page


@pytest.mark.django_db
def test_demo_restores_a_changed_password(media):
    run_demo()
    user = User.objects.get(email="annotator1@example.com")
    user.set_password("something-else")
    user.save()
    run_demo()
    user.refresh_from_db()
    assert user.check_password("demo")


@pytest.mark.django_db
def test_arrivals_are_new_frames_in_no_task_each_run_more(media):
    from django.core.management.base import CommandError

    run_demo()
    before = snapshot()
    out = io.StringIO()
    call_command("demo", "--arrivals", "3", "--arrivals-folder", "/new/batch/", stdout=out)
    assert "Added 3 new frames, in no task, to /new/batch." in out.getvalue()
    arrived = Item.objects.filter(dir="/new/batch").order_by("name")
    assert list(arrived.values_list("name", flat=True)) == [f"frame_0000{n}.png" for n in (1, 2, 3)]
    assert all(item.metadata["area"] == "new" and item.metadata["conditions"] == "batch" for item in arrived)
    assert not TaskItem.objects.filter(item__in=arrived).exists()
    assert arrived.first().dataset.name == "street-scenes"
    # Nothing else changed; a second run adds three more after them.
    after = snapshot()
    assert after["items"] == before["items"] + 3
    assert {k: v for k, v in after.items() if k not in ("items", "item_ids")} == {
        k: v for k, v in before.items() if k not in ("items", "item_ids")
    }
    call_command("demo", "--arrivals", "3", "--arrivals-folder", "/new/batch", stdout=io.StringIO())
    again = Item.objects.filter(dir="/new/batch").order_by("name")
    assert again.count() == 6 and again.last().name == "frame_00006.png"
    for args in (
        ["--arrivals", "10001"],
        ["--arrivals", "-1"],
        ["--arrivals", "2", "--arrivals-folder", "/highway"],
        ["--arrivals", "2", "--arrivals-folder", "/"],
        ["--arrivals", "2", "--arrivals-folder", "relative"],
    ):
        with pytest.raises(CommandError):
            call_command("demo", *args, stdout=io.StringIO())
    assert Item.objects.count() == after["items"] + 3
