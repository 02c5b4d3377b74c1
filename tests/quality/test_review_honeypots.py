"""Review honeypots: known-wrong answers in a reviewer's queue, and each reviewer's catch rate."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from taskboard.annotation.models import TaskItem, TaskType
from taskboard.dashboards.reviewers import reviewer_scorecards
from taskboard.projects.models import Role
from taskboard.quality import review_honeypots, services
from taskboard.quality.models import GroundTruth, ReviewHoneypot
from taskboard.work import flow
from tests.factories import MembershipFactory, UserFactory
from tests.quality.conftest import held


@pytest.fixture
def qa_with_decoys(make_task, manager, annotator, reviewer, items):
    """Three finished items in the reviewer's queue and a review honeypot rate of 50%: three decoys."""
    task = make_task(assignees=[annotator], folder="/city/day")
    for row in held(task, annotator)[:3]:
        flow.item_status_set(task=task, item=row.item, status="completed", by=annotator)
    qa = make_task("Cars QA", assignees=[reviewer], task_type=TaskType.QA, parent=task, folder="/city/day")
    highway = [i for i in items if i.dir == "/highway"][:3]
    GroundTruth.objects.bulk_create(
        GroundTruth(project=task.project, item=i, status="completed", labels=["car"]) for i in highway
    )
    _rate(qa, manager, 50)
    assert review_honeypots.review_honeypots_seed(qa_task=qa, by=manager, seed=4) == 3
    return task, qa


def _rate(qa, manager, rate):
    services.task_quality_update(task=qa, by=manager, honeypot_rate=rate, pause_below=None, pause_after=10)


def _qa_row(qa, item_id):
    return TaskItem.objects.select_related("assignment", "task", "item").get(task=qa, item_id=item_id)


def test_seeded_answers_are_wrong_and_look_like_others(client, qa_with_decoys, reviewer, annotator):
    task, qa = qa_with_decoys
    decoys = list(ReviewHoneypot.objects.filter(qa_task=qa))
    for decoy in decoys:
        assert (decoy.shown_status, decoy.shown_labels) != ("completed", ["car"])
        assert decoy.shown_as_id == annotator.pk
    assert TaskItem.objects.filter(task=qa).count() == 3 + 3
    client.force_login(reviewer)
    row = _qa_row(qa, decoys[0].item_id)
    page = client.get(reverse("work:item", args=[row.assignment_id, row.pk])).content.decode()
    assert f"By {annotator.email} in Cars" in page and decoys[0].shown_status in page


def test_catch_rate_per_reviewer(client, qa_with_decoys, manager, reviewer):
    task, qa = qa_with_decoys
    first, second, third = ReviewHoneypot.objects.filter(qa_task=qa).order_by("pk")
    flow.item_reject(qa_task_item=_qa_row(qa, first.item_id), comment="wrong label", by=reviewer)
    assert not TaskItem.objects.filter(task=qa, item_id=first.item_id).exists()  # caught: out of the queue
    flow.item_reject(qa_task_item=_qa_row(qa, second.item_id), comment="wrong too", by=reviewer)
    flow.item_status_set(task=qa, item=_qa_row(qa, third.item_id).item, status="approved", by=reviewer)
    outcomes = dict(ReviewHoneypot.objects.filter(qa_task=qa).values_list("item_id", "outcome"))
    assert outcomes == {first.item_id: "caught", second.item_id: "caught", third.item_id: "missed"}
    (rita,) = [c for c in reviewer_scorecards(task.project) if c.email == reviewer.email]
    assert (rita.honeypots_caught, rita.honeypots_seen) == (2, 3)
    assert rita.rejected == 0 and rita.accepted == 1  # decoys make no annotator's rejects
    client.force_login(manager)
    page = client.get(reverse("dashboards:reviewers", args=[task.project_id])).content.decode()
    assert "2 of 3 (67%)" in page
    assert "3 judged" in client.get(reverse("quality:task", args=[qa.pk])).content.decode()


def test_judging_a_known_wrong_answer_is_activity_on_the_scorecard(qa_with_decoys, reviewer):
    task, qa = qa_with_decoys
    first = ReviewHoneypot.objects.filter(qa_task=qa).order_by("pk").first()
    flow.item_reject(qa_task_item=_qa_row(qa, first.item_id), comment="wrong label", by=reviewer)
    (rita,) = [c for c in reviewer_scorecards(task.project) if c.email == reviewer.email]
    # Their only review so far was a catch: it showed as never active.
    decided_at = ReviewHoneypot.objects.get(pk=first.pk).decided_at
    assert decided_at is not None and rita.last_active == decided_at


def test_seeding_needs_truth_outside_the_reviewed_task(qa_with_decoys, manager, annotator, reviewer):
    task, qa = qa_with_decoys
    # The queue has its share: nothing to do.
    assert review_honeypots.review_honeypots_seed(qa_task=qa, by=manager) == 0
    # One more finished item joins the queue and wants a decoy, but every truth is used.
    fourth = held(task, annotator)[3]
    flow.item_status_set(task=task, item=fourth.item, status="completed", by=annotator)
    with pytest.raises(ValidationError, match="No ground-truth item is left"):
        review_honeypots.review_honeypots_seed(qa_task=qa, by=manager)
    with pytest.raises(ValidationError, match="QA tasks"):
        review_honeypots.review_honeypots_seed(qa_task=task, by=manager)
    with pytest.raises(ValidationError):
        review_honeypots.review_honeypots_seed(qa_task=qa, by=reviewer)


def test_each_reviewers_queue_gets_its_share(client, make_task, manager, annotator, reviewer, items):
    """The rate is per reviewer's queue, like the honeypot rate of an annotation task; raising it tops
    every queue up, and the QA task's quality page shows each queue's share."""
    second = UserFactory(email="sam@example.com")
    MembershipFactory(project=reviewer.memberships.first().project, user=second, role=Role.REVIEWER)
    task = make_task(assignees=[annotator], folder="/city/day")
    for row in held(task, annotator)[:6]:
        flow.item_status_set(task=task, item=row.item, status="completed", by=annotator)
    qa = make_task("Cars QA", assignees=[reviewer, second], task_type=TaskType.QA, parent=task, folder="/city/day")
    GroundTruth.objects.bulk_create(
        GroundTruth(project=task.project, item=i, status="completed", labels=["car"])
        for i in items
        if i.dir == "/highway"
    )
    with pytest.raises(ValidationError, match="rate first"):
        review_honeypots.review_honeypots_seed(qa_task=qa, by=manager)
    before = {q.name: q.items for q in review_honeypots.queue_shares(qa)}
    assert sorted(before.values()) == [3, 3]
    _rate(qa, manager, 25)
    assert review_honeypots.review_honeypots_seed(qa_task=qa, by=manager, seed=1) == 2
    assert [(q.items, q.decoys) for q in review_honeypots.queue_shares(qa)] == [(4, 1), (4, 1)]
    client.force_login(manager)
    response = client.post(reverse("quality:review-honeypots", args=[qa.pk]), {"honeypot_rate": "50"}, follow=True)
    page = response.content.decode()
    assert "4 known-wrong answers seeded" in page
    assert [(q.items, q.decoys) for q in review_honeypots.queue_shares(qa)] == [(6, 3), (6, 3)]
    assert "rita@example.com" in page and "sam@example.com" in page and "50%" in page
    # Each reviewer's decoys are in their own queue.
    for assignment in qa.assignments.all():
        mine = TaskItem.objects.filter(task=qa, assignment=assignment).values("item_id")
        assert ReviewHoneypot.objects.filter(qa_task=qa, item_id__in=mine).count() == 3
    bad = client.post(reverse("quality:review-honeypots", args=[qa.pk]), {"honeypot_rate": "80"}, follow=True)
    assert "0 to 50 percent" in bad.content.decode()


def test_catching_the_last_known_wrong_answer_of_the_queue_lands_on_a_page(client, qa_with_decoys, reviewer):
    """A caught decoy leaves the queue: with nothing else to do, the reviewer goes to their assignment,
    not back to the page of an item that is no longer there (a 404)."""
    task, qa = qa_with_decoys
    decoys = {d.item_id for d in ReviewHoneypot.objects.filter(qa_task=qa)}
    client.force_login(reviewer)
    rows = list(TaskItem.objects.filter(task=qa).order_by("rank"))
    for row in [r for r in rows if r.item_id not in decoys] + [r for r in rows if r.item_id in decoys]:
        if row.item_id in decoys:
            url = reverse("work:item-reject", args=[row.assignment_id, row.pk])
            response = client.post(url, {"comment": "the labels are wrong"}, follow=True)
        else:
            url = reverse("work:item-status", args=[row.assignment_id, row.pk])
            response = client.post(url, {"status": "approved"}, follow=True)
        assert response.status_code == 200, response.redirect_chain
    assert "Sent back to the annotator for rework." in response.content.decode()
    assert response.redirect_chain[0][0] == reverse("work:assignment", args=[rows[0].assignment_id])
    assert ReviewHoneypot.objects.filter(qa_task=qa, outcome=ReviewHoneypot.Outcome.CAUGHT).count() == 3


def test_the_last_reject_lands_where_a_caught_known_wrong_answer_would(client, qa_with_decoys, reviewer):
    """The reviewer is not told which items were seeded, by the words or by the next page: a real
    reject of the queue's last open item goes to the assignment too, as a caught decoy must."""
    task, qa = qa_with_decoys
    decoys = {d.item_id for d in ReviewHoneypot.objects.filter(qa_task=qa)}
    client.force_login(reviewer)
    rows = list(TaskItem.objects.filter(task=qa).order_by("rank"))
    last = [r for r in rows if r.item_id not in decoys][-1]
    for row in rows:
        if row.pk != last.pk:
            client.post(reverse("work:item-status", args=[row.assignment_id, row.pk]), {"status": "approved"})
    response = client.post(reverse("work:item-reject", args=[last.assignment_id, last.pk]), {"comment": "redo"})
    assert response.status_code == 302 and response.url == reverse("work:assignment", args=[last.assignment_id])
    assert TaskItem.objects.get(task=task, item_id=last.item_id).status is None  # a real reject: rework
