"""Quality gates in the browser: the annotator's qualification, the reviewer's reject reasons, and the
manager's quality pages and scorecards (screenshots in test-artifacts/)."""

import datetime
import io
import re
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

from taskboard.annotation.models import Assignment, TaskItem, TaskType
from taskboard.annotation.selection import Selection
from taskboard.quality import qualification, reasons, sampling
from taskboard.quality import services as quality
from taskboard.quality.models import GroundTruth, ReviewHoneypot
from taskboard.work import flow
from taskboard.work import services as work
from tests.factories import create_task, in_days, make_items


def _png(n: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (160, 100), (40 * n % 255, 90, 140)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def street(transactional_db, project, dataset, recipe, manager, annotator, annotator2, reviewer):
    items = make_items(dataset, {"/city/day": 4, "/highway": 6})
    for n, item in enumerate(items):
        item.mimetype = "image/png"
        item.file.save(f"q-{n}.png", ContentFile(_png(n)))
    return dataset


@pytest.fixture
def page(browser_page):
    return browser_page


def _task(dataset, manager, people, name="Cars", folder="/city/day", **kwargs):
    return create_task(
        dataset=dataset,
        created_by=manager,
        name=name,
        selection=Selection(mode="folder", folder=folder),
        assignees=people,
        due_at=in_days(3),
        **kwargs,
    )


def _truth(dataset, project, n=3):
    highway = list(dataset.items.filter(dir="/highway").order_by("name")[:n])
    GroundTruth.objects.bulk_create(
        GroundTruth(project=project, item=i, status="completed", labels=["car"]) for i in highway
    )


def test_annotator_passes_the_qualification_before_working(page, login_as, screenshot, street, manager, annotator):
    task = _task(street, manager, [annotator])
    _truth(street, task.project)
    qualification.qualification_update(task=task, by=manager, items=2, pass_mark=100, attempts=2)
    assignment = Assignment.objects.get(task=task, assignee=annotator)
    login_as(page, annotator)
    page.goto(f"/work/assignments/{assignment.pk}/")
    expect(page.locator("#qualification-state")).to_contain_text("needs a qualification first: 2 items, 100% right")
    page.get_by_role("button", name="Start the qualification").click()
    fieldsets = page.locator("fieldset.qualify-item")
    expect(fieldsets).to_have_count(2)
    screenshot(page, "quality-qualification-attempt")
    for n in range(2):
        fieldsets.nth(n).get_by_label("Completed", exact=True).check()
        fieldsets.nth(n).get_by_label("car", exact=True).check()
    page.get_by_role("button", name="Submit answers").click()
    expect(page.locator(".messages")).to_contain_text("Passed: 2 of 2 right")
    page.goto(f"/work/assignments/{assignment.pk}/")
    expect(page.locator(".item-name")).to_be_visible()


def test_reviewer_rejects_with_a_reason_and_the_manager_opens_the_bar(
    page, login_as, screenshot, street, manager, annotator, reviewer
):
    task = _task(street, manager, [annotator])
    for row in TaskItem.objects.filter(task=task).select_related("item"):
        flow.item_status_set(task=task, item=row.item, status="completed", by=annotator)
    qa = _task(street, manager, [reviewer], name="Cars QA", task_type=TaskType.QA, parent=task)
    reasons.reason_add(project=task.project, by=manager, name="Loose box")
    reasons.reason_add(project=task.project, by=manager, name="Other", needs_comment=True)
    row = TaskItem.objects.filter(task=qa).select_related("item").order_by("rank").first()
    login_as(page, reviewer)
    page.goto(f"/work/assignments/{row.assignment_id}/items/{row.pk}/")
    page.locator("#reject-reason").select_option(label="Other (comment needed)")
    page.get_by_role("button", name="Reject").click()
    expect(page.locator(".messages")).to_contain_text("needs a comment")
    page.locator("#reject-reason").select_option(label="Loose box")
    page.get_by_role("button", name="Reject").click()
    expect(page.locator(".messages")).to_contain_text("Sent back to the annotator")

    login_as(page, manager)
    page.goto(f"/quality/tasks/{qa.pk}/")
    bar = page.locator(".bar-chart li").filter(has_text="Loose box")
    expect(bar).to_contain_text("1")
    screenshot(page, "quality-errors-by-reason")
    bar.locator("a").click()
    expect(page.locator("#rejections")).to_contain_text(row.item.filename)
    expect(page.locator("#rejections")).to_contain_text("bob@example.com")


def test_manager_sets_the_gates_and_reads_the_scorecards(
    page, login_as, screenshot, street, manager, annotator, annotator2, reviewer
):
    task = _task(street, manager, [annotator, annotator2])
    project = task.project
    _truth(street, project, n=6)
    # Some work to show: active time, finished items, a QA task reviewing them with sampling on.
    start = timezone.now() - datetime.timedelta(hours=1)
    for user, minutes in ((annotator, 20), (annotator2, 12)):
        rows = list(TaskItem.objects.filter(task=task, assignment__assignee=user).select_related("assignment", "task"))
        for m in range(minutes + 1):
            work.item_time_beat(
                task_item=rows[m % len(rows)], by=user, marks_ago_ms=[0], now=start + datetime.timedelta(minutes=m)
            )
    qa = _task(street, manager, [reviewer], name="Cars QA", task_type=TaskType.QA, parent=task, empty=True)
    sampling.sampling_update(qa_task=qa, by=manager, on=True, floor=5, new=2, step=2, min_score=80)
    for row in TaskItem.objects.filter(task=task).select_related("item", "assignment"):
        flow.item_status_set(task=task, item=row.item, status="completed", by=row.assignment.assignee)
    for n, qa_row in enumerate(TaskItem.objects.filter(task=qa).select_related("assignment", "task", "item")):
        if n == 0:
            flow.item_reject(qa_task_item=qa_row, comment="too loose", by=reviewer)
        else:
            flow.item_status_set(task=qa, item=qa_row.item, status="approved", by=reviewer)
    quality.pay_rate_set(project=project, user=annotator, by=manager, hourly_rate=Decimal("24"))
    # The reviewer's time on the QA items (the reviewers' median review time).
    for n, qa_row in enumerate(TaskItem.objects.filter(task=qa).select_related("assignment", "task")):
        at = start + datetime.timedelta(minutes=40 + 3 * n)
        work.item_time_beat(task_item=qa_row, by=reviewer, marks_ago_ms=[0], now=at)
        work.item_time_beat(
            task_item=qa_row, by=reviewer, marks_ago_ms=[0], now=at + datetime.timedelta(seconds=20 + 15 * n)
        )

    login_as(page, manager)
    page.goto(f"/projects/{project.pk}/")
    page.get_by_role("link", name="Quality").click()
    page.get_by_label("Idle cut-off (seconds)").fill("240")
    page.locator("#time-settings").get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Quality settings saved")
    page.get_by_label("New reason").fill("Missed object")
    page.get_by_role("button", name="Add reason").click()
    expect(page.locator("#reasons")).to_contain_text("Missed object")
    page.get_by_label("Default hourly rate").fill("18")
    page.locator("#pay").get_by_role("button", name="Save").click()
    expect(page.locator("#active-time")).to_contain_text("bob@example.com")
    screenshot(page, "quality-project-page")

    page.goto(f"/tasks/{task.pk}/")
    page.get_by_role("link", name="Quality gates").click()
    page.get_by_label("Honeypots (% of items)").fill("25")
    page.get_by_label("Pause below (% right)").fill("60")
    page.get_by_label("after at least (answers)").fill("2")
    page.locator("#honeypots form").first.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Quality gates saved")
    page.get_by_role("button", name="Mix in honeypots up to the rate").click()
    expect(page.locator(".messages")).to_contain_text("honeypots mixed in")
    screenshot(page, "quality-task-gates")

    page.goto(f"/tasks/{qa.pk}/")
    expect(page.locator("#sampling-rates")).to_contain_text("bob@example.com")
    screenshot(page, "quality-qa-task-sampling", docs=True)

    # Review honeypots at a rate of the reviewer's queue, from the QA task's quality page.
    page.goto(f"/quality/tasks/{qa.pk}/")
    page.get_by_label("Review honeypots (% of each queue)").fill("25")
    page.get_by_role("button", name="Save and top the queues up").click()
    expect(page.locator(".messages")).to_contain_text("known-wrong answers seeded into the reviewers' queues")
    expect(page.locator("#review-honeypots")).to_contain_text("rita@example.com")
    screenshot(page, "quality-qa-task-gates", docs=True)
    # The reviewer catches one known-wrong answer and lets one through: a catch rate of 1 of 2.
    caught, missed = (
        TaskItem.objects.filter(task=qa, item_id=d.item_id).select_related("assignment", "task", "item").get()
        for d in ReviewHoneypot.objects.filter(qa_task=qa).order_by("pk")[:2]
    )
    (missed_object,) = reasons.reasons_offered(project.pk)
    flow.item_reject(qa_task_item=caught, comment="wrong label", by=reviewer, reason_id=missed_object.pk)
    flow.item_status_set(task=qa, item=missed.item, status="approved", by=reviewer)

    page.goto(f"/dashboards/projects/{project.pk}/people/")
    page.get_by_role("link", name="Reviewers").click()
    expect(page.locator("#reviewer-cards")).to_contain_text("rita@example.com")
    expect(page.locator("#reviewer-cards")).to_contain_text("1 of 2 (50%)")
    screenshot(page, "scorecard-reviewers", docs=True)
    page.goto(f"/dashboards/projects/{project.pk}/people/")
    screenshot(page, "scorecard-annotators", docs=True)
    page.get_by_role("link", name="Cost").click()
    expect(page.locator("#cost-people")).to_contain_text("24.00")
    screenshot(page, "quality-cost", docs=True)


def test_annotator_answers_a_honeypot_wrong_and_is_told_of_the_pause(page, login_as, street, manager, annotator):
    """The annotator's side of honeypots: a ground-truth item looks like any other; a wrong answer
    below the task's threshold pauses them, and their inbox says why."""
    task = _task(street, manager, [annotator])
    row = TaskItem.objects.filter(task=task).select_related("item").order_by("rank").first()
    GroundTruth.objects.create(project=task.project, item=row.item, status="completed", labels=[])
    quality.task_quality_update(task=task, by=manager, honeypot_rate=0, pause_below=80, pause_after=1)
    login_as(page, annotator)
    page.goto(f"/work/assignments/{row.assignment_id}/items/{row.pk}/")
    expect(page.locator("[data-status='discard']")).to_be_visible()
    with page.expect_navigation():
        page.locator("[data-status='discard']").click()
    page.goto("/inbox/")
    expect(page.locator("main")).to_contain_text("Honeypot score 0% (0 of 1) is below 80%")


def test_manager_asks_for_a_qualification_and_the_annotator_passes_it_to_work(
    page, login_as, screenshot, street, manager, annotator, annotator2
):
    """The manager's side makes ground truth and sets the gate from the quality pages; the annotator's
    side is sent to the qualification and told why, fails once (told so, one attempt left), passes and
    then works."""
    task = _task(street, manager, [annotator])
    # The accepted answers come from a task someone trusted did: three highway items completed.
    truth = _task(street, manager, [annotator2], name="Highway truth", folder="/highway")
    for row in TaskItem.objects.filter(task=truth).select_related("item").order_by("rank")[:3]:
        flow.item_status_set(task=truth, item=row.item, status="completed", by=annotator2)
    login_as(page, manager)
    page.goto(f"/quality/projects/{task.project_id}/")
    page.get_by_label("From task").select_option(label="Highway truth")
    page.get_by_label("items with status").fill("completed")
    page.get_by_role("button", name="Make ground truth").click()
    expect(page.locator(".messages")).to_contain_text("3 items are ground truth now")
    page.goto(f"/tasks/{task.pk}/")
    page.get_by_role("link", name="Quality gates").click()
    page.get_by_label("Qualification items (0: none)").fill("2")
    page.get_by_label("pass mark (%)").fill("100")
    page.get_by_label("attempts").fill("2")
    page.locator("#honeypots form").first.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Quality gates saved")
    expect(page.get_by_label("Qualification items (0: none)")).to_have_value("2")
    # Asking for more items than the dataset's ground truth is refused on the page, with the count.
    page.get_by_label("Qualification items (0: none)").fill("9")
    page.locator("#honeypots form").first.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("The dataset has 3 ground-truth items")

    login_as(page, annotator)
    page.goto("/work/")
    # My work marks the gated task before it is clicked.
    expect(page.locator("table.my-work [data-gate=qualify]")).to_have_text("qualification first")
    screenshot(page, "quality-my-work-qualification-first")
    page.locator("table.my-work").get_by_role("link", name="Cars").click()
    expect(page).to_have_url(re.compile(rf"/quality/tasks/{task.pk}/qualify/$"))
    expect(page.locator("#qualification-state")).to_contain_text(
        "needs a qualification first: 2 items, 100% right to pass, 2 attempts left"
    )
    screenshot(page, "quality-qualification-needed")
    # A wrong attempt: told it did not pass, with one attempt left and the best so far.
    page.get_by_role("button", name="Start the qualification").click()
    fieldsets = page.locator("fieldset.qualify-item")
    expect(fieldsets).to_have_count(2)
    for n in range(2):
        fieldsets.nth(n).get_by_label("Discard", exact=True).check()
    page.get_by_role("button", name="Submit answers").click()
    expect(page.locator(".messages")).to_contain_text("Not passed: 0 of 2 right")
    expect(page.locator("#qualification-state")).to_contain_text("1 attempt left")
    expect(page.locator("#qualification-state")).to_contain_text("Your best so far: 0% right")
    page.get_by_role("button", name="Start the qualification").click()
    for n in range(2):
        fieldsets.nth(n).get_by_label("Completed", exact=True).check()
    page.get_by_role("button", name="Submit answers").click()
    expect(page.locator(".messages")).to_contain_text("Passed: 2 of 2 right")
    page.get_by_role("link", name="Go to my work").click()
    expect(page.locator("table.my-work [data-gate]")).to_have_count(0)
    page.locator("table.my-work").get_by_role("link", name="Cars").click()
    expect(page.locator(".item-name")).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Completed").first.click()
    row = TaskItem.objects.filter(task=task, assignment__assignee=annotator).order_by("rank").first()
    assert row.status == "completed"

    login_as(page, manager)
    page.goto(f"/quality/tasks/{task.pk}/")
    person = page.locator("#qualification tr").filter(has_text="bob@example.com")
    expect(person).to_contain_text("passed")
    expect(person).to_contain_text("2 / 2")
    expect(person).to_contain_text("100%")


def test_reviewer_catches_a_known_wrong_answer_and_it_shows_in_their_catch_rate(
    page, login_as, screenshot, street, manager, annotator, reviewer
):
    """A decoy looks like any reviewed answer in the review work view; rejecting it is a catch: it
    leaves the queue, sends nothing back to an annotator and shows in the reviewers' scorecard."""
    task = _task(street, manager, [annotator])
    for row in TaskItem.objects.filter(task=task).select_related("item"):
        flow.item_status_set(task=task, item=row.item, status="completed", by=annotator)
    qa = _task(street, manager, [reviewer], name="Cars QA", task_type=TaskType.QA, parent=task)
    _truth(street, task.project, n=4)
    reasons.reason_add(project=task.project, by=manager, name="Wrong label")

    login_as(page, manager)
    page.goto(f"/quality/tasks/{qa.pk}/")
    page.get_by_label("Review honeypots (% of each queue)").fill("20")
    page.get_by_role("button", name="Save and top the queues up").click()
    expect(page.locator(".messages")).to_contain_text("1 known-wrong answers seeded")
    decoy = ReviewHoneypot.objects.get(qa_task=qa)
    row = TaskItem.objects.get(task=qa, item_id=decoy.item_id)

    login_as(page, reviewer)
    page.goto(f"/work/assignments/{row.assignment_id}/items/{row.pk}/")
    # Shown as the reviewed task's answer, by one of its annotators, like any other item.
    expect(page.locator("main")).to_contain_text(f"By bob@example.com in {task.name}")
    screenshot(page, "quality-review-honeypot-shown")
    page.locator("#reject-reason").select_option(label="Wrong label")
    page.get_by_role("button", name="Reject").click()
    expect(page.locator(".messages")).to_contain_text("Sent back")
    expect(page.locator(".item-name")).to_be_visible()
    decoy.refresh_from_db()
    assert (decoy.outcome, decoy.reviewer_id) == (ReviewHoneypot.Outcome.CAUGHT, reviewer.pk)
    assert not TaskItem.objects.filter(task=qa, item_id=decoy.item_id).exists()
    assert not TaskItem.objects.filter(task=task, rework=True).exists()

    login_as(page, manager)
    page.goto(f"/dashboards/projects/{task.project_id}/people/")
    page.get_by_role("link", name="Reviewers").click()
    card = page.locator("#reviewer-cards tr").filter(has_text="rita@example.com")
    expect(card).to_contain_text("1 of 1 (100%)")
    screenshot(page, "quality-review-honeypot-caught")
