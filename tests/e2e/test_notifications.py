"""People are told, in Chromium: the inbox bell and list, a comment thread in the work view, and an
item's timeline. Screenshots go to test-artifacts/notifications-*.png."""

import pytest
from playwright.sync_api import expect

from taskboard.annotation.models import Assignment, TaskItem
from taskboard.annotation.selection import Selection
from taskboard.discussion.models import Comment
from taskboard.notifications.models import EventKind, Notification
from taskboard.work import flow
from tests.factories import create_task, in_days, make_items

pytestmark = pytest.mark.e2e


@pytest.fixture
def browser_page(browser_page):
    # The work view's heartbeat beacon would race page loads on the live server's one SQLite connection.
    browser_page.route("**/beat/", lambda route: route.fulfill(status=204))
    return browser_page


@pytest.fixture
def task(transactional_db, dataset, recipe, manager, annotator):
    make_items(dataset, {"/city/day": 3})
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="Day shift",
        selection=Selection(mode="all"),
        assignees=[annotator],
        due_at=in_days(2),
    )


def rows(task, user):
    assignment = Assignment.objects.get(task=task, assignee=user)
    return list(TaskItem.objects.filter(assignment=assignment).select_related("task", "item").order_by("rank"))


def watch_errors(page):
    errors = []  # a CSP violation or a script error shows up here
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_the_inbox_bell_list_deep_link_and_mark_read(
    browser_page, login_as, screenshot, task, dataset, manager, annotator, reviewer
):
    first = rows(task, annotator)[0]
    flow.item_status_set(task=task, item=first.item, status="completed", by=annotator)
    qa = create_task(dataset=dataset, created_by=manager, name="", task_type="qa", parent=task, assignees=[reviewer])
    qa_item = TaskItem.objects.select_related("task", "item", "assignment").get(task=qa)
    flow.item_reject(qa_task_item=qa_item, comment="The bike on the left has no box", by=reviewer)
    assert Notification.objects.filter(recipient=annotator).count() == 2  # assigned work, rework

    page = login_as(browser_page, annotator)
    errors = watch_errors(page)
    page.goto("/work/")
    bell = page.locator("#bell")
    expect(bell.locator(".bell-count")).to_have_text("2")  # htmx fetched the count after the load
    bell.click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    expect(page.locator(".notice.unread")).to_have_count(2)
    expect(page.locator("#unread-count")).to_have_text("2 unread")
    screenshot(page, "notifications-inbox")

    # Mark one read in place (htmx): the list and the bell follow without a reload.
    page.locator(".notice", has_text="3 items assigned").get_by_role("button", name="Mark read").click()
    expect(page.locator("#unread-count")).to_have_text("1 unread")
    expect(page.locator("#bell .bell-count")).to_have_text("1")

    # The rework notice's deep link opens the exact item in the work view.
    page.get_by_role("button", name=f"{first.item.name} is back for rework in Day shift").click()
    expect(page.locator(".item-name")).to_have_text(first.item.filename)
    expect(page.locator(".rework-note")).to_contain_text("The bike on the left has no box")
    expect(page.locator("#bell .bell-count")).to_have_text("")
    assert not Notification.objects.filter(recipient=annotator, read_at__isnull=True).exists()
    assert errors == []


def test_a_thread_in_the_work_view_with_a_mention_reply_and_resolve(
    browser_page, login_as, screenshot, task, manager, annotator
):
    first = rows(task, annotator)[0]
    page = login_as(browser_page, annotator)
    errors = watch_errors(page)
    page.goto(f"/work/assignments/{first.assignment_id}/items/{first.pk}/")
    threads = page.locator("#threads")
    threads.get_by_label("Start a thread").fill("@alice is the rider part of the bike box?")
    threads.get_by_role("button", name="Comment").click()
    thread = page.locator(".thread")
    expect(thread).to_have_count(1)
    expect(thread).to_contain_text("@alice is the rider part of the bike box?")
    expect(thread.locator(".badge")).to_have_text("open")
    thread.get_by_label("Reply").fill("Answering myself: yes, box them together.")
    thread.get_by_role("button", name="Reply").click()
    expect(page.locator(".thread .reply")).to_contain_text("box them together")
    screenshot(page, "notifications-thread")
    page.locator(".thread").get_by_role("button", name="Resolve").click()
    expect(page.locator(".thread .badge")).to_contain_text("resolved by bob@example.com")

    comment = Comment.objects.get(thread__isnull=True)
    assert comment.is_resolved and comment.replies.count() == 1
    told = Notification.objects.get(recipient=manager, kind=EventKind.MENTION)
    assert told.url == f"/work/tasks/{task.pk}/items/{first.item_id}/#comment-{comment.pk}"
    # The manager follows the mention to the item's page and reopens the thread.
    page = login_as(page, manager)
    page.goto("/inbox/")
    page.get_by_role("button", name=told.title).click()
    expect(page.locator(".thread")).to_contain_text("@alice is the rider")
    page.locator(".thread").get_by_role("button", name="Reopen").click()
    expect(page.locator(".thread .badge")).to_have_text("open")
    assert errors == []


def test_the_item_timeline(browser_page, login_as, screenshot, task, dataset, manager, annotator, reviewer):
    first = rows(task, annotator)[0]
    flow.item_status_set(task=task, item=first.item, status="completed", by=annotator)
    qa = create_task(dataset=dataset, created_by=manager, name="", task_type="qa", parent=task, assignees=[reviewer])
    qa_item = TaskItem.objects.select_related("task", "item", "assignment").get(task=qa)
    flow.item_reject(qa_task_item=qa_item, comment="Box the bike too", by=reviewer)
    flow.item_status_set(task=task, item=first.item, status="completed", by=annotator)
    flow.item_status_set(task=qa, item=first.item, status="approved", by=reviewer)

    page = login_as(browser_page, manager)
    errors = watch_errors(page)
    page.goto(f"/work/tasks/{task.pk}/items/{first.item_id}/")
    page.get_by_label("Start a thread").fill("Approved after one rework, good.")
    page.get_by_role("button", name="Comment").click()
    expect(page.locator(".thread")).to_have_count(1)
    page.reload()
    entries = page.locator(".timeline-entry")
    expect(entries.first).to_contain_text("In the task from its creation to bob@example.com")
    expect(page.locator(".timeline-entry.kind-review", has_text="Sent back for rework")).to_contain_text(
        "Box the bike too"
    )
    expect(page.locator(".timeline-entry.kind-review", has_text="Status set to Approved")).to_contain_text(
        "rita@example.com"
    )
    expect(entries.last).to_contain_text("Started a thread")
    screenshot(page, "notifications-timeline")
    assert errors == []
