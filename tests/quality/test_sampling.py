"""Review sampling that adapts per person."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from taskboard.annotation.models import TaskItem, TaskType
from taskboard.quality import sampling
from taskboard.quality.models import SamplingState, TaskQuality
from taskboard.work import flow
from tests.quality.conftest import held


def test_the_share_falls_with_a_good_record_and_jumps_back():
    rule = TaskQuality(sample_floor=5, sample_new=20, sample_step=10, sample_min_score=90)
    assert sampling.rate_for(rule, streak=0, reviewed=0, passed=0) == 100
    assert sampling.rate_for(rule, streak=19, reviewed=19, passed=19) == 100
    assert sampling.rate_for(rule, streak=20, reviewed=20, passed=20) == 50
    assert sampling.rate_for(rule, streak=30, reviewed=30, passed=30) == 25
    assert sampling.rate_for(rule, streak=60, reviewed=60, passed=60) == 5  # 100/32 → the floor
    assert sampling.rate_for(rule, streak=1000, reviewed=1000, passed=1000) == 5
    # A long streak with a poor record overall stays at 100%.
    assert sampling.rate_for(rule, streak=25, reviewed=100, passed=80) == 100


@pytest.fixture
def sampled_qa(make_task, manager, annotator, reviewer):
    task = make_task(assignees=[annotator], folder="/city")  # 18 items
    qa = make_task("Cars QA", assignees=[reviewer], task_type=TaskType.QA, parent=task, folder="/city", empty=True)
    sampling.sampling_update(qa_task=qa, by=manager, on=True, floor=10, new=2, step=1, min_score=50)
    return task, qa


def _finish(task, rows, annotator):
    for row in rows:
        flow.item_status_set(task=task, item=row.item, status="completed", by=annotator)


def _review(qa, reviewer, *, reject=False):
    row = (
        TaskItem.objects.filter(task=qa, status__isnull=True, rework=False)
        .select_related("assignment", "task", "item")
        .order_by("pk")
        .first()
    )
    if reject:
        flow.item_reject(qa_task_item=row, comment="fix", by=reviewer)
    else:
        flow.item_status_set(task=qa, item=row.item, status="approved", by=reviewer)


def test_qa_takes_in_a_share_that_adapts(sampled_qa, annotator, reviewer):
    task, qa = sampled_qa
    rows = held(task, annotator)
    _finish(task, rows[:2], annotator)  # new: both taken in
    assert TaskItem.objects.filter(task=qa).count() == 2
    _review(qa, reviewer)
    _review(qa, reviewer)
    state = SamplingState.objects.get(qa_task=qa, annotator=annotator)
    assert (state.streak, state.rate) == (2, 50)
    _finish(task, rows[2:14], annotator)
    state.refresh_from_db()
    taken = TaskItem.objects.filter(task=qa).count() - 2
    assert state.finished == 14 and state.sampled == taken + 2
    assert 0 < taken < 12  # a share, not all
    # Every taken item is one the stable draw put under 50%.
    for row in TaskItem.objects.filter(task=qa).exclude(item__in=[r.item for r in rows[:2]]):
        assert sampling.draw(qa.pk, row.item_id) * 100 < 50
    # A failed review: back to 100% at once.
    _review(qa, reviewer, reject=True)
    state.refresh_from_db()
    assert (state.streak, state.rate) == (0, 100)
    _finish(task, rows[14:], annotator)
    assert TaskItem.objects.filter(task=qa, item__in=[r.item for r in rows[14:]]).count() == len(rows[14:])


def test_the_qa_task_page_shows_the_rule_and_each_share(client, sampled_qa, manager, annotator, reviewer):
    task, qa = sampled_qa
    _finish(task, held(task, annotator)[:1], annotator)
    client.force_login(manager)
    page = client.get(reverse("dashboards:task-detail", args=[qa.pk])).content.decode()
    assert "Review sampling" in page and "bob@example.com" in page and "100%" in page
    assert "down to 10%" in page
    settings_page = client.get(reverse("quality:task", args=[qa.pk])).content.decode()
    assert 'name="sample_floor"' in settings_page
    with pytest.raises(ValidationError):
        sampling.sampling_update(qa_task=task, by=manager, on=True, floor=5, new=20, step=10, min_score=90)
