import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from taskboard.datasets.models import Annotation, Item
from taskboard.work import flow, services
from taskboard.work.models import AssignmentTime, ItemTime
from tests.factories import create_task, make_items
from tests.work.helpers import build_task


@pytest.fixture
def task_and_assignments(dataset, recipe, manager, annotator, annotator2):
    items = make_items(dataset, {"/city": 6})
    return build_task(dataset=dataset, recipe=recipe, by=manager, people=[annotator, annotator2], items=items)


def item_url(assignment, task_item):
    return reverse("work:item", args=[assignment.pk, task_item.pk])


def test_my_work_lists_own_assignments_most_urgent_first(client, dataset, recipe, manager, annotator, annotator2):
    items = make_items(dataset, {"/a": 4, "/b": 4, "/c": 4})
    later, _ = build_task(
        dataset=dataset, recipe=recipe, by=manager, people=[annotator], items=items[:4], name="Later", due_days=9
    )
    soon, _ = build_task(
        dataset=dataset, recipe=recipe, by=manager, people=[annotator], items=items[4:8], name="Soon", due_days=1
    )
    late, _ = build_task(
        dataset=dataset, recipe=recipe, by=manager, people=[annotator], items=items[8:], name="Late", due_days=-1
    )
    build_task(dataset=dataset, recipe=recipe, by=manager, people=[annotator2], items=items[:2], name="Carols")
    client.force_login(annotator)
    response = client.get(reverse("work:my-work"))
    assert response.status_code == 200
    names = [row.task.name for row, _ in response.context["entries"]]
    assert names == ["Late", "Soon", "Later"]
    html = response.content.decode()
    assert "overdue" in html and "Carols" not in html
    row, _ = response.context["entries"][0]
    assert (row.done, row.remaining) == (0, 4)


def test_my_work_needs_sign_in(client):
    response = client.get(reverse("work:my-work"))
    assert response.status_code == 302


def test_work_view_redirects_to_first_open_item_and_shows_it(client, task_and_assignments, annotator):
    task, (mine, _) = task_and_assignments
    client.force_login(annotator)
    response = client.get(reverse("work:assignment", args=[mine.pk]))
    first = mine.task_items.order_by("rank").first()
    assert response.status_code == 302 and response.url == item_url(mine, first)
    response = client.get(response.url)
    html = response.content.decode()
    assert response.status_code == 200
    assert first.item.filename in html
    assert "car" in html and "person" in html and "Completed" in html and "Discard" in html
    assert 'rel="prefetch"' not in html or "prefetch" in html
    assert response.context["next_item"].rank == first.rank + 1
    assert response.context["previous_item_id"] is None
    assert response.context["position"] == 1
    following = client.get(item_url(mine, response.context["next_item"]))
    assert following.context["previous_item_id"] == first.pk and following.context["position"] == 2


def test_work_view_prefetches_the_next_image(client, task_and_assignments, annotator):
    task, (mine, _) = task_and_assignments
    items = list(mine.task_items.order_by("rank"))
    Item.objects.filter(pk=items[1].item_id).update(url="https://images.example/next.jpg")
    client.force_login(annotator)
    html = client.get(item_url(mine, items[0])).content.decode()
    assert '<link rel="prefetch" href="https://images.example/next.jpg" as="image">' in html


@pytest.mark.parametrize("who", ["annotator2", "other_manager", "reviewer"])
def test_work_urls_answer_404_to_others(client, task_and_assignments, who, request):
    task, (mine, _) = task_and_assignments
    user = request.getfixturevalue(who)
    first = mine.task_items.first()
    client.force_login(user)
    assert client.get(reverse("work:assignment", args=[mine.pk])).status_code == 404
    assert client.get(item_url(mine, first)).status_code == 404
    for name in ["work:item-status", "work:item-label", "work:item-reject", "work:item-beat"]:
        assert client.post(reverse(name, args=[mine.pk, first.pk]), {"status": "completed"}).status_code == 404
    assert client.post(reverse("work:get-more", args=[mine.pk])).status_code == 404


def test_item_of_another_assignment_answers_404(client, task_and_assignments, annotator):
    task, (mine, theirs) = task_and_assignments
    client.force_login(annotator)
    assert client.get(item_url(mine, theirs.task_items.first())).status_code == 404


@pytest.mark.parametrize("who", ["manager", "owner"])
def test_managers_and_owner_see_an_assignment_but_cannot_label(client, task_and_assignments, who, request):
    task, (mine, _) = task_and_assignments
    user = request.getfixturevalue(who)
    first = mine.task_items.order_by("rank").first()
    client.force_login(user)
    response = client.get(item_url(mine, first))
    assert response.status_code == 200
    assert "Viewing bob@example.com" in response.content.decode()
    label = task.recipe.labels.first()
    client.post(reverse("work:item-label", args=[mine.pk, first.pk]), {"label": label.pk})
    assert not Annotation.objects.exists()


@pytest.mark.parametrize("who", ["manager", "owner"])
def test_managers_and_owner_cannot_set_or_clear_a_status_on_the_work_page(
    client, task_and_assignments, annotator, who, request
):
    from django.contrib.messages import get_messages

    from taskboard.annotation.models import StatusCount

    task, (mine, _) = task_and_assignments
    first, second = mine.task_items.select_related("item").order_by("rank")[:2]
    flow.item_status_set(task=task, item=second.item, status="completed", by=annotator)

    def snapshot():
        rows = list(task.task_items.order_by("pk").values_list("pk", "status", "status_by", "status_at"))
        return rows, list(StatusCount.objects.filter(assignment__task=task).order_by("pk").values_list("count"))

    before = snapshot()
    client.force_login(request.getfixturevalue(who))
    for row, status in ((first, "completed"), (second, "__clear__")):
        response = client.post(reverse("work:item-status", args=[mine.pk, row.pk]), {"status": status})
        assert response.status_code == 302
        texts = [str(m) for m in get_messages(response.wsgi_request)]
        assert "Only the person this item is assigned to can set its status." in texts
    assert snapshot() == before


def test_choosing_a_label_creates_an_annotation_and_marks_the_item(client, task_and_assignments, annotator):
    task, (mine, _) = task_and_assignments
    first = mine.task_items.order_by("rank").first()
    car = task.recipe.labels.get(name="car")
    client.force_login(annotator)
    response = client.post(reverse("work:item-label", args=[mine.pk, first.pk]), {"label": car.pk})
    assert response.status_code == 302
    annotation = Annotation.objects.get()
    assert (annotation.task, annotation.item_id, annotation.created_by, annotation.label_name) == (
        task,
        first.item_id,
        annotator,
        "car",
    )
    assert Item.objects.get(pk=first.item_id).annotated
    page = client.get(item_url(mine, first))
    assert [on for label, on in page.context["labels"]] == [True, False]
    # Choosing it again takes it off.
    client.post(reverse("work:item-label", args=[mine.pk, first.pk]), {"label": car.pk})
    assert not Annotation.objects.exists()
    assert not Item.objects.get(pk=first.item_id).annotated


def test_label_from_another_recipe_is_404(client, task_and_assignments, annotator, dataset):
    from tests.factories import LabelFactory, RecipeFactory

    other = LabelFactory(recipe=RecipeFactory(dataset=dataset, name="other", is_default=False), name="tree")
    task, (mine, _) = task_and_assignments
    client.force_login(annotator)
    first = mine.task_items.first()
    assert client.post(reverse("work:item-label", args=[mine.pk, first.pk]), {"label": other.pk}).status_code == 404


def test_labels_refused_when_task_closed_or_locked(task_and_assignments, annotator):
    task, (mine, _) = task_and_assignments
    first = mine.task_items.select_related("task", "assignment").first()
    label = task.recipe.labels.first()
    task.lock_after_due = True
    task.due_at = timezone.now() - datetime.timedelta(hours=1)
    task.save()
    first.task = task
    with pytest.raises(services.ValidationError) as error:
        services.item_label_toggle(task_item=first, label=label, by=annotator)
    assert "locked" in str(error.value.message_dict["label"])


def test_heartbeats_count_gaps_up_to_the_idle_cutoff(client, task_and_assignments, annotator):
    task, (mine, _) = task_and_assignments
    first = mine.task_items.select_related("assignment", "task").first()
    start = timezone.now()
    # Marks 10 s and 5 s before the beat, and at it: 10 s of work.
    services.item_time_beat(task_item=first, by=annotator, marks_ago_ms=[10_000, 5_000, 0], now=start)
    # Four minutes reading with no input, then a click: under the 5-minute cut-off, so it counts.
    services.item_time_beat(task_item=first, by=annotator, marks_ago_ms=[0], now=start + datetime.timedelta(minutes=4))
    # An hour away, then a click: the gap is idle and adds nothing; the next 20 s do.
    later = start + datetime.timedelta(minutes=64)
    services.item_time_beat(task_item=first, by=annotator, marks_ago_ms=[20_000, 0], now=later)
    # A second tab reporting moments already covered adds nothing.
    services.item_time_beat(task_item=first, by=annotator, marks_ago_ms=[15_000, 1_000], now=later)
    row = ItemTime.objects.get()
    assert row.active_seconds == pytest.approx(10 + 240 + 20)
    total = AssignmentTime.objects.get(assignment=mine)
    assert (total.active_seconds, total.items) == (pytest.approx(row.active_seconds), 1)
    client.force_login(annotator)
    url = reverse("work:item-beat", args=[mine.pk, first.pk])
    assert client.post(url, {"marks": "2000,0"}).status_code == 204
    assert client.post(url, {"marks": "-1"}).status_code == 400
    assert client.post(url, {"marks": "a,b"}).status_code == 400
    assert client.post(url, {"marks": str(3_600_000)}).status_code == 400


def test_a_project_sets_its_own_idle_cutoff(task_and_assignments, annotator):
    from taskboard.quality.models import ProjectQuality

    task, (mine, _) = task_and_assignments
    ProjectQuality.objects.create(project=task.project, idle_cutoff_seconds=60)
    first = mine.task_items.select_related("assignment", "task").first()
    start = timezone.now()
    services.item_time_beat(task_item=first, by=annotator, marks_ago_ms=[0], now=start)
    services.item_time_beat(
        task_item=first, by=annotator, marks_ago_ms=[0], now=start + datetime.timedelta(seconds=50)
    )
    services.item_time_beat(
        task_item=first, by=annotator, marks_ago_ms=[0], now=start + datetime.timedelta(seconds=200)
    )
    assert ItemTime.objects.get().active_seconds == pytest.approx(50)


def test_a_manager_viewing_records_no_time(client, task_and_assignments, manager):
    task, (mine, _) = task_and_assignments
    first = mine.task_items.first()
    client.force_login(manager)
    assert client.post(reverse("work:item-beat", args=[mine.pk, first.pk]), {"marks": "2000,0"}).status_code == 204
    assert not ItemTime.objects.exists()


# --- through the core services -------------------------------------------------------------------------


@pytest.fixture
def live_task(dataset, recipe, manager, annotator, annotator2):
    from taskboard.annotation.selection import Selection
    from tests.factories import in_days

    make_items(dataset, {"/city": 6})
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="Live",
        selection=Selection(mode="all"),
        assignees=[annotator, annotator2],
        due_at=in_days(3),
    )


def _mine(task, user):
    from taskboard.annotation.models import Assignment

    assignment = Assignment.objects.get(task=task, assignee=user)
    return assignment, list(assignment.task_items.order_by("rank"))


def test_setting_a_status_moves_to_the_next_item(client, live_task, annotator):
    assignment, items = _mine(live_task, annotator)
    client.force_login(annotator)
    response = client.post(reverse("work:item-status", args=[assignment.pk, items[0].pk]), {"status": "completed"})
    assert response.status_code == 302 and response.url == item_url(assignment, items[1])
    items[0].refresh_from_db()
    assert items[0].status == "completed" and items[0].status_by == annotator
    page = client.get(reverse("work:my-work"))
    row, _ = page.context["entries"][0]
    assert (row.done, row.remaining) == (1, 2)
    client.post(reverse("work:item-status", args=[assignment.pk, items[0].pk]), {"status": "__clear__"})
    items[0].refresh_from_db()
    assert items[0].status is None


def test_unknown_status_and_manager_status_are_refused(client, live_task, annotator, manager):
    assignment, items = _mine(live_task, annotator)
    client.force_login(annotator)
    response = client.post(reverse("work:item-status", args=[assignment.pk, items[0].pk]), {"status": "approved"})
    assert response.status_code == 302
    items[0].refresh_from_db()
    assert items[0].status is None
    client.force_login(manager)
    client.post(reverse("work:item-status", args=[assignment.pk, items[0].pk]), {"status": "completed"})
    items[0].refresh_from_db()
    assert items[0].status is None


def test_reviewer_rejects_with_a_comment_through_the_page(client, live_task, dataset, manager, annotator, reviewer):
    from tests.factories import in_days

    assignment, items = _mine(live_task, annotator)
    client.force_login(annotator)
    client.post(reverse("work:item-status", args=[assignment.pk, items[0].pk]), {"status": "completed"})
    qa = create_task(
        dataset=dataset,
        created_by=manager,
        name="",
        task_type="qa",
        parent=live_task,
        assignees=[reviewer],
        due_at=in_days(2),
    )
    qa_assignment, qa_items = _mine(qa, reviewer)
    client.force_login(reviewer)
    page = client.get(item_url(qa_assignment, qa_items[0])).content.decode()
    assert "Reject with a comment" in page and "Approved" in page
    url = reverse("work:item-reject", args=[qa_assignment.pk, qa_items[0].pk])
    client.post(url, {"comment": ""})
    qa_items[0].refresh_from_db()
    assert not qa_items[0].rework
    client.post(url, {"comment": "Label the bus too"})
    qa_items[0].refresh_from_db()
    assert qa_items[0].rework
    # While it waits for the annotator, the reviewer cannot approve it.
    client.post(reverse("work:item-status", args=[qa_assignment.pk, qa_items[0].pk]), {"status": "approved"})
    qa_items[0].refresh_from_db()
    assert qa_items[0].status is None
    client.force_login(annotator)
    page = client.get(item_url(assignment, items[0])).content.decode()
    assert "For rework" in page and "Label the bus too" in page
    rows = client.get(reverse("work:my-work")).content.decode()
    assert "1 rework" in rows


def test_other_kinds_show_a_file_preview_and_their_metadata(client, task_and_assignments, annotator):
    task, (mine, _) = task_and_assignments
    first = mine.task_items.order_by("rank").first()
    Item.objects.filter(pk=first.item_id).update(
        mimetype="application/pdf", url="https://files.example/report.pdf", metadata={"pages": 12}
    )
    client.force_login(annotator)
    html = client.get(item_url(mine, first)).content.decode()
    assert "application/pdf" in html and 'href="https://files.example/report.pdf"' in html
    assert "&#x27;pages&#x27;: 12" in html
    assert '<img class="item-image"' not in html


def test_consensus_copy_page_shows_only_the_holders_labels(client, dataset, recipe, manager, annotator, annotator2):
    from taskboard.annotation.models import Assignment, TaskItem
    from taskboard.annotation.selection import Selection
    from tests.factories import in_days

    make_items(dataset, {"/c": 2})
    task = create_task(
        dataset=dataset,
        created_by=manager,
        name="Both",
        selection=Selection(mode="all"),
        assignees=[annotator, annotator2],
        due_at=in_days(2),
        consensus_percentage=100,
        consensus_assignees=2,
    )
    bobs = Assignment.objects.get(task=task, assignee=annotator)
    carols = Assignment.objects.get(task=task, assignee=annotator2)
    bob_copy = TaskItem.objects.filter(assignment=bobs).order_by("rank").first()
    carol_copy = TaskItem.objects.get(assignment=carols, item_id=bob_copy.item_id)
    car, person = recipe.labels.order_by("position")
    client.force_login(annotator2)
    client.post(reverse("work:item-label", args=[carols.pk, carol_copy.pk]), {"label": person.pk})
    client.force_login(annotator)
    client.post(reverse("work:item-label", args=[bobs.pk, bob_copy.pk]), {"label": car.pk})
    page = client.get(item_url(bobs, bob_copy))
    assert [(label.name, on) for label, on in page.context["labels"]] == [("car", True), ("person", False)]
    assert "consensus copy" in page.content.decode()


def test_get_more_button_follows_the_rule(client, dataset, recipe, manager, annotator, annotator2):
    from taskboard.annotation.models import Assignment
    from taskboard.annotation.selection import Selection
    from tests.factories import in_days

    make_items(dataset, {"/q": 30})
    task = create_task(
        dataset=dataset,
        created_by=manager,
        name="Pull",
        selection=Selection(mode="all"),
        assignees=[annotator, annotator2],
        due_at=in_days(2),
        allocation="pulling",
        batch_size=5,
        max_batch_workload=8,
    )
    mine = Assignment.objects.get(task=task, assignee=annotator)
    client.force_login(annotator)
    first = mine.task_items.order_by("rank").first()
    page = client.get(item_url(mine, first))
    assert page.context["may_pull"] is False and page.context["queue_size"] == 20
    response = client.post(reverse("work:get-more", args=[mine.pk]), follow=True)
    assert "Finish more of your items first" in response.content.decode()
    assert Assignment.objects.get(pk=mine.pk).item_count == 5
    # Two items given a status by hand (no receiver): the rule now allows a batch.
    rows = list(mine.task_items.order_by("rank")[:2])
    for row in rows:
        row.status = "completed"
        row.save(update_fields=["status"])
    mine.status_counts.filter(status="completed").update(count=2)
    assert client.get(item_url(mine, first)).context["may_pull"] is True
    response = client.post(reverse("work:get-more", args=[mine.pk]), follow=True)
    assert "5 more items arrived" in response.content.decode()
    assert Assignment.objects.get(pk=mine.pk).item_count == 10
