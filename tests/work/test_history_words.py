"""An item's history says who made each move: batches the system pulls on a person's behalf are not
attributed to the person; the batch they asked for ("Get more items") is."""

from django.urls import reverse
from django.utils.html import strip_tags

from taskboard.annotation.models import Assignment, ChangeKind, HoldingChange
from taskboard.annotation.selection import Selection
from taskboard.work import flow
from tests.factories import create_task, in_days, make_items


def pulling_task(dataset, manager, annotator, annotator2):
    make_items(dataset, {"/q": 30})
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="Pull",
        selection=Selection(mode="all"),
        assignees=[annotator, annotator2],
        due_at=in_days(2),
        allocation="pulling",
        batch_size=3,
        max_batch_workload=5,
    )


def history_text(client, assignment, row):
    page = client.get(reverse("work:item", args=[assignment.pk, row.pk]))
    return " ".join(strip_tags(page.content.decode()).split())


def test_automatic_batches_are_the_systems_and_asked_for_ones_the_persons(
    client, dataset, recipe, manager, annotator, annotator2
):
    task = pulling_task(dataset, manager, annotator, annotator2)
    mine = Assignment.objects.get(task=task, assignee=annotator)
    first_batch = list(mine.task_items.order_by("rank"))
    # The first batch came with the task; completing one leaves 2 undone (≤ 5 − 3): a refill follows.
    flow.item_status_set(task=task, item=first_batch[0].item, status="completed", by=annotator)
    claims = HoldingChange.objects.filter(task=task, kind=ChangeKind.CLAIM, to_assignment=mine)
    assert claims.count() == 6
    assert not claims.filter(by__isnull=False).exists()

    client.force_login(annotator)
    text = history_text(client, mine, first_batch[0])
    assert "Pulled automatically for bob@example.com (by the system, on their behalf)" in text
    assert "by bob@example.com" not in text

    # Asking for more is the person's own act. Three statuses written by hand (not through the flow,
    # so no refill follows) bring the undone items down to the rule's threshold.
    for row in mine.task_items.filter(status__isnull=True).order_by("rank")[:3]:
        row.status = "completed"
        row.save(update_fields=["status"])
    mine.status_counts.filter(status="completed").update(count=4)
    before = set(claims.values_list("pk", flat=True))
    client.post(reverse("work:get-more", args=[mine.pk]))
    asked = claims.exclude(pk__in=before)
    assert asked.count() == 3
    assert set(asked.values_list("by", flat=True)) == {annotator.pk}
    row = mine.task_items.get(item_id=asked.first().item_id)
    assert "Pulled from the queue by bob@example.com" in history_text(client, mine, row)
