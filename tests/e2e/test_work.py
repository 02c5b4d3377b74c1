"""Annotators and reviewers at work, in Chromium: keyboard labelling, the QA loop, a pulling refill.

Screenshots go to test-artifacts/work-*.png.
"""

import io
import re

import pytest
from django.core.files.base import ContentFile
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from taskboard.annotation.models import Assignment, TaskItem
from taskboard.annotation.selection import Selection
from taskboard.datasets.models import Annotation, Item
from taskboard.quality.models import ActivityMark
from taskboard.work import flow
from taskboard.work.models import ItemTime
from taskboard.work.services import pulling_queue_size
from tests.factories import create_task, in_days, make_items

pytestmark = pytest.mark.e2e

COLOURS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2"]


def picture(n: int) -> bytes:
    """A small generated street-ish picture (PNG)."""
    image = Image.new("RGB", (320, 200), COLOURS[n % len(COLOURS)])
    draw = ImageDraw.Draw(image)
    draw.rectangle([40 + 10 * n, 110, 150 + 10 * n, 160], fill="#222222")
    draw.ellipse([60 + 10 * n, 150, 85 + 10 * n, 175], fill="#000000")
    draw.ellipse([115 + 10 * n, 150, 140 + 10 * n, 175], fill="#000000")
    draw.text((10, 10), f"frame {n}", fill="#ffffff")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def street(transactional_db, project, dataset, recipe, manager, annotator, annotator2, reviewer):
    items = make_items(dataset, {"/city/day": 4, "/highway": 8})
    for n, item in enumerate(items):
        item.mimetype = "image/png"
        item.file.save(f"frame-{n}.png", ContentFile(picture(n)))
    return dataset


def mine(task, user):
    assignment = Assignment.objects.get(task=task, assignee=user)
    return assignment, list(TaskItem.objects.filter(assignment=assignment).order_by("rank"))


def shortcuts_ready(page):
    # work.js is deferred: it runs before DOMContentLoaded, and a key pressed before that reaches
    # no listener (seen under a loaded CI machine).
    page.wait_for_load_state("domcontentloaded")


def press(page, key):
    shortcuts_ready(page)
    with page.expect_navigation():
        page.keyboard.press(key)


def test_annotator_labels_and_completes_items_with_the_keyboard(
    browser_page, login_as, screenshot, street, manager, annotator
):
    task = create_task(
        dataset=street,
        created_by=manager,
        name="Day shift",
        selection=Selection(mode="folder", folder="/city/day"),
        assignees=[annotator],
        due_at=in_days(2),
        priority=3,
    )
    assignment, items = mine(task, annotator)
    page = login_as(browser_page, annotator)
    errors = []  # a CSP violation or a script error shows up here
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/work/")
    expect(page.get_by_role("link", name="Day shift").first).to_be_visible()
    screenshot(page, "work-my-work")
    page.get_by_role("link", name="Day shift").first.click()
    expect(page.locator(".item-name")).to_have_text(items[0].item.filename)
    expect(page.locator("img.item-image")).to_be_visible()
    # The picture came through the permission-checked file view and decoded.
    assert page.locator("img.item-image").evaluate("img => img.complete && img.naturalWidth") == 320
    screenshot(page, "work-item-start")

    press(page, "1")  # car
    expect(page.locator(".label-btn", has_text="car")).to_have_attribute("aria-pressed", "true")
    press(page, "2")  # person too
    screenshot(page, "work-item-labelled")
    press(page, "c")  # completed: on to the next item
    expect(page.locator(".item-name")).to_have_text(items[1].item.filename)
    press(page, "2")
    press(page, "c")
    expect(page.locator(".item-name")).to_have_text(items[2].item.filename)
    press(page, "d")  # discard
    expect(page.locator(".item-name")).to_have_text(items[3].item.filename)
    press(page, "p")  # back to the discarded one
    expect(page.locator(".item-name")).to_have_text(items[2].item.filename)
    expect(page.locator(".status-now")).to_have_text("Discard")
    press(page, "ArrowRight")
    expect(page.locator(".item-name")).to_have_text(items[3].item.filename)
    expect(page.locator("#count-done")).to_have_text("3")
    expect(page.locator("#count-remaining")).to_have_text("1")
    screenshot(page, "work-item-progress")

    assert errors == []
    # Label colours come from data attributes, applied by work.js (no inline style under the CSP).
    swatch = page.locator(".label-btn .swatch").first.evaluate("el => getComputedStyle(el).backgroundColor")
    assert swatch == "rgb(31, 119, 180)"
    statuses = dict(TaskItem.objects.filter(assignment=assignment).values_list("item_id", "status"))
    assert [statuses[i.item_id] for i in items] == ["completed", "completed", "discard", None]
    labels = sorted(Annotation.objects.filter(task=task, created_by=annotator).values_list("item_id", "label_name"))
    assert labels == sorted([(items[0].item_id, "car"), (items[0].item_id, "person"), (items[1].item_id, "person")])
    assert Item.objects.get(pk=items[0].item_id).annotated


def test_reviewer_rejects_the_annotator_fixes_the_reviewer_approves(
    browser_page, login_as, screenshot, street, manager, annotator, reviewer
):
    task = create_task(
        dataset=street,
        created_by=manager,
        name="Labels",
        selection=Selection(mode="folder", folder="/city/day"),
        assignees=[annotator],
        due_at=in_days(2),
    )
    assignment, items = mine(task, annotator)
    car = street.recipes.get().labels.get(name="car")
    for task_item in items[:2]:
        Annotation.objects.create(
            item_id=task_item.item_id, task=task, label=car, label_name="car", created_by=annotator
        )
        flow.item_status_set(task=task, item=task_item.item, status="completed", by=annotator)
    qa = create_task(
        dataset=street,
        created_by=manager,
        name="",
        task_type="qa",
        parent=task,
        assignees=[reviewer],
        due_at=in_days(2),
    )
    qa_assignment, qa_items = mine(qa, reviewer)
    assert [q.item_id for q in qa_items] == [i.item_id for i in items[:2]]

    page = login_as(browser_page, reviewer)
    page.goto("/work/")
    page.get_by_role("link", name="Labels_qa").first.click()
    expect(page.locator(".item-name")).to_have_text(items[0].item.filename)
    expect(page.locator(".label-list")).to_contain_text("car")
    shortcuts_ready(page)
    page.keyboard.press("r")
    expect(page.locator("#reject-comment")).to_be_focused()
    page.keyboard.type("The person on the left is not labelled")
    screenshot(page, "work-qa-reject")
    with page.expect_navigation():
        page.get_by_role("button", name="Reject").click()
    expect(page.locator(".messages")).to_contain_text("Sent back")
    # The next item waits; the rejected one shows as waiting.
    press(page, "a")  # approve the second item
    page.goto(f"/work/assignments/{qa_assignment.pk}/items/{qa_items[0].pk}/")
    expect(page.locator(".rework-note")).to_contain_text("Waiting for rework")
    expect(page.get_by_role("button", name="Approved")).to_be_disabled()
    expect(page.locator("#count-issues")).to_have_text("1")
    screenshot(page, "work-qa-waiting")

    page = login_as(browser_page, annotator)
    page.goto("/work/")
    expect(page.locator(".my-work")).to_contain_text("1 rework")
    screenshot(page, "work-my-work-rework")
    page.get_by_role("link", name="Labels").first.click()
    expect(page.locator(".item-name")).to_have_text(items[0].item.filename)
    expect(page.locator(".rework-note")).to_contain_text("The person on the left is not labelled")
    screenshot(page, "work-rework")
    press(page, "2")
    press(page, "c")
    parent = TaskItem.objects.get(pk=items[0].pk)
    assert parent.status == "completed" and not parent.rework

    page = login_as(browser_page, reviewer)
    page.goto(f"/work/assignments/{qa_assignment.pk}/")
    expect(page.locator(".item-name")).to_have_text(items[0].item.filename)
    expect(page.locator(".rework-note")).to_have_count(0)
    expect(page.locator(".label-list")).to_contain_text("person")
    page.locator("details.history summary").click()
    expect(page.locator(".history-list")).to_contain_text("Returned to review")
    expect(page.locator(".history-list")).to_contain_text("Sent back for rework")
    screenshot(page, "work-qa-history")
    press(page, "a")
    screenshot(page, "work-qa-approved")
    assert TaskItem.objects.get(pk=qa_items[0].pk).status == "approved"
    assert Assignment.objects.get(pk=qa_assignment.pk).issue_count == 0
    # The QA item never left the reviewer who rejected it.
    assert TaskItem.objects.get(pk=qa_items[0].pk).assignment_id == qa_assignment.pk


def test_a_pulling_annotators_batch_refills(
    browser_page, login_as, screenshot, street, manager, annotator, annotator2
):
    task = create_task(
        dataset=street,
        created_by=manager,
        name="Pull",
        selection=Selection(mode="all"),
        assignees=[annotator, annotator2],
        due_at=in_days(2),
        allocation="pulling",
        batch_size=3,
        max_batch_workload=5,
    )
    assignment, items = mine(task, annotator)
    assert len(items) == 3
    page = login_as(browser_page, annotator)
    page.goto(f"/work/assignments/{assignment.pk}/")
    expect(page.get_by_role("button", name="Get more items")).to_be_disabled()
    expect(page.locator("#count-remaining")).to_have_text("3")
    screenshot(page, "work-pull-start")
    press(page, "c")  # 2 undone = 5 - 3: the next batch arrives by itself
    expect(page.locator("#count-remaining")).to_have_text("5")
    assert Assignment.objects.get(pk=assignment.pk).item_count == 6
    screenshot(page, "work-pull-refilled")
    for _ in range(3):
        press(page, "c")
    # 2 undone again: the queue's last 3 came in (5 undone), and with the queue dry "get more"
    # has nothing to give.
    expect(page.locator("#count-remaining")).to_have_text("5")
    assert Assignment.objects.get(pk=assignment.pk).item_count == 9
    assert pulling_queue_size(task) == 0
    expect(page.get_by_role("button", name="Get more items")).to_be_disabled()
    expect(page.locator(".get-more")).to_contain_text("0 waiting in the queue")


def test_active_time_is_sent_only_while_the_person_is_active(
    chromium_browser, live_server, login_as, street, manager, annotator
):
    """The page reports signs of activity every 15 s while there are any, none while idle; the server
    counts the gaps up to the 5-minute cut-off (a fake clock)."""
    task = create_task(
        dataset=street,
        created_by=manager,
        name="Timed",
        selection=Selection(mode="folder", folder="/city/day"),
        assignees=[annotator],
        due_at=in_days(2),
    )
    assignment, items = mine(task, annotator)
    context = chromium_browser.new_context(base_url=live_server.url)
    # Closed whatever happens: an open page keeps beating into a server whose test has ended.
    try:
        page = context.new_page()
        login_as(page, annotator)
        beats = []
        page.on("request", lambda request: beats.append(request) if request.url.endswith("/beat/") else None)
        page.clock.install()
        page.goto(f"/work/assignments/{assignment.pk}/items/{items[0].pk}/")
        page.mouse.move(200, 200)
        page.clock.run_for(5_000)
        page.mouse.move(220, 220)
        page.clock.run_for(5_000)
        page.mouse.move(240, 240)
        with page.expect_response(lambda r: r.url.endswith("/beat/")) as response:
            page.clock.run_for(6_000)
        assert response.value.status == 204
        row = ItemTime.objects.get(user=annotator, item_id=items[0].item_id)
        assert 9 <= row.active_seconds <= 11
        # No input for two and a half minutes (reading): no beats, since there is nothing to report…
        page.clock.run_for(150_000)
        page.wait_for_timeout(300)
        assert len(beats) == 1
        # …then a move: reported at the next beat as one mark "so long ago" (the server counts the quiet gap
        # before it, under the cut-off; the fake clock here is not the server's, so that part is
        # tested on the service).
        page.mouse.move(300, 300)
        with page.expect_response(lambda r: r.url.endswith("/beat/")):
            page.clock.run_for(15_000)
        assert len(beats) == 2
        ages = re.search(r'name="marks"\r\n\r\n([0-9,]*)\r\n', beats[1].post_data or "")
        assert ages is not None
        (age,) = [int(a) for a in ages.group(1).split(",")]
        assert 0 < age <= 15_000  # the next 15-second beat after the move
        # Another window takes the focus: a last beat ends the span at the last input, once (the tab
        # being hidden next sends nothing more), and the server ends the span there.
        page.mouse.move(320, 320)
        page.clock.run_for(3_000)
        with page.expect_response(lambda r: r.url.endswith("/beat/")) as ended:
            page.evaluate("window.dispatchEvent(new Event('blur'))")
        assert ended.value.status == 204
        sent = beats[-1].post_data or ""
        end = re.search(r'name="ended"\r\n\r\n([0-9]+)\r\n', sent)
        assert end is not None and 2_500 <= int(end.group(1)) <= 3_500, sent
        page.evaluate("window.dispatchEvent(new Event('blur'))")
        page.wait_for_timeout(300)
        assert len(beats) == 3
        assert ActivityMark.objects.filter(user=annotator, ends_span=True).count() == 1
    finally:
        context.close()
