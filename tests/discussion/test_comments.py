"""Comments on items within a task: threads, replies, @mentions, resolve and reopen; the pages, the
item browser's filter, the task page's count and the API."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from taskboard.annotation.filters import ItemFilter
from taskboard.annotation.models import Assignment, AssignmentKind, TaskItem
from taskboard.annotation.selection import Selection
from taskboard.datasets.ids import item_api_id, task_api_id
from taskboard.discussion import services
from taskboard.discussion.models import Comment
from taskboard.notifications.models import EventKind, Notification
from taskboard.projects.models import Role
from taskboard.work import flow
from tests.factories import ItemFactory, MembershipFactory, UserFactory, create_task, make_items


@pytest.fixture
def task(dataset, recipe, manager, annotator, annotator2):
    make_items(dataset, {"/city": 4})
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="Boxes",
        selection=Selection(mode="all"),
        assignees=[annotator, annotator2],
    )


def rows(task, user):
    assignment = Assignment.objects.get(task=task, assignee=user, kind=AssignmentKind.WORK)
    return list(TaskItem.objects.filter(assignment=assignment).select_related("task", "item").order_by("rank"))


def mentions(user):
    return list(Notification.objects.filter(recipient=user, kind=EventKind.MENTION))


def test_a_thread_with_replies_and_mentions(task, manager, annotator, annotator2, reviewer, other_manager):
    item = rows(task, annotator)[0].item
    thread = services.comment_post(
        task=task,
        item=item,
        body="@bob is this a bike? cc @carol@example.com @mallory @nobody",
        by=manager,
        link="/x/",
    )
    assert thread.is_thread and thread.mentioned == [annotator.pk, annotator2.pk]
    (told,) = mentions(annotator)
    assert told.url == f"/x/#comment-{thread.pk}" and "alice@example.com mentioned you" in told.title
    assert mentions(other_manager) == []  # not a member of this project
    reply = services.comment_post(task=task, item=item, body="Yes. @alice", by=annotator, thread=thread)
    assert reply.thread_id == thread.pk and len(mentions(manager)) == 1
    # A reply to a reply joins the thread.
    again = services.comment_post(task=task, item=item, body="Thanks @bob", by=manager, thread=reply)
    assert again.thread_id == thread.pk
    assert mentions(manager)[0].recipient_id == manager.pk and len(mentions(annotator)) == 2


def test_nobody_is_told_of_their_own_mention_and_short_names_must_be_unique(task, project, manager, annotator):
    MembershipFactory(project=project, user=UserFactory(email="bob@elsewhere.org"), role=Role.ANNOTATOR)
    item = rows(task, annotator)[0].item
    services.comment_post(task=task, item=item, body="@alice @bob note to self", by=manager)
    assert mentions(manager) == [] and mentions(annotator) == []  # two bobs: @bob names neither


def test_resolve_reopen_and_a_reply_reopens(task, manager, annotator):
    item = rows(task, annotator)[0].item
    thread = services.comment_post(task=task, item=item, body="Box too loose", by=manager)
    assert services.thread_resolve(thread=thread, by=annotator).resolved_by == annotator
    assert not services.thread_reopen(thread=thread, by=manager).is_resolved
    services.thread_resolve(thread=thread, by=annotator)
    services.comment_post(task=task, item=item, body="Still loose", by=manager, thread=thread)
    thread.refresh_from_db()
    assert not thread.is_resolved
    reply = thread.replies.get()
    with pytest.raises(ValidationError, match="Only a thread"):
        services.thread_resolve(thread=reply, by=manager)


def test_bad_comments_are_refused(task, dataset, manager, annotator):
    item = rows(task, annotator)[0].item
    with pytest.raises(ValidationError, match="Write something"):
        services.comment_post(task=task, item=item, body="   ", by=manager)
    with pytest.raises(ValidationError, match="under 5000"):
        services.comment_post(task=task, item=item, body="x" * 5001, by=manager)
    with pytest.raises(ValidationError, match="not in the task"):
        services.comment_post(task=task, item=ItemFactory(dataset=dataset), body="hi", by=manager)
    other = rows(task, annotator)[1].item
    thread = services.comment_post(task=task, item=item, body="hi", by=manager)
    with pytest.raises(ValidationError, match="another item"):
        services.comment_post(task=task, item=other, body="hi", by=manager, thread=thread)
    assert Comment.objects.count() == 1


def test_the_item_page_and_the_work_view_show_threads_and_take_comments(client, task, manager, annotator, annotator2):
    row = rows(task, annotator)[0]
    page_url = reverse("work:item-page", args=[task.pk, row.item_id])
    post_url = reverse("work:comment-post", args=[task.pk, row.item_id])
    client.force_login(annotator2)  # works in the task, so may see it and talk
    response = client.post(post_url, {"body": "Which box? @alice", "back": page_url}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "Which box? @alice" in response.content.decode()
    thread = Comment.objects.get()
    client.force_login(annotator)
    work = client.get(reverse("work:item", args=[row.assignment_id, row.pk])).content.decode()
    assert "Which box? @alice" in work and page_url in work
    response = client.post(
        reverse("work:thread-resolve", args=[task.pk, row.item_id, thread.pk]), {"back": "https://evil.example/"}
    )
    assert response.status_code == 302 and response["Location"] == page_url  # no open redirect
    thread.refresh_from_db()
    assert thread.is_resolved
    page = client.get(page_url).content.decode()
    assert "resolved by bob@example.com" in page and "Timeline" in page


def test_strangers_get_404(client, task, annotator, other_manager):
    row = rows(task, annotator)[0]
    client.force_login(other_manager)
    assert client.get(reverse("work:item-page", args=[task.pk, row.item_id])).status_code == 404
    assert client.post(reverse("work:comment-post", args=[task.pk, row.item_id]), {"body": "hi"}).status_code == 404
    assert Comment.objects.count() == 0


def test_reviewers_and_annotators_share_the_thread(client, task, dataset, manager, annotator, reviewer):
    row = rows(task, annotator)[0]
    flow.item_status_set(task=task, item=row.item, status="completed", by=annotator)
    qa = create_task(dataset=dataset, created_by=manager, name="", task_type="qa", parent=task, assignees=[reviewer])
    qa_row = TaskItem.objects.get(task=qa)
    client.force_login(reviewer)
    client.post(reverse("work:comment-post", args=[qa.pk, row.item_id]), {"body": "Looks off to me"})
    thread = Comment.objects.get()
    assert thread.task_id == task.pk  # the annotation task's thread
    assert (
        "Looks off to me" in client.get(reverse("work:item", args=[qa_row.assignment_id, qa_row.pk])).content.decode()
    )
    client.force_login(annotator)
    assert "Looks off to me" in client.get(reverse("work:item", args=[row.assignment_id, row.pk])).content.decode()


def test_unresolved_filter_in_the_item_browser_and_the_count_on_the_task_page(
    client, task, dataset, manager, annotator
):
    first, second = rows(task, annotator)[:2]
    open_one = services.comment_post(task=task, item=first.item, body="open", by=manager)
    done = services.comment_post(task=task, item=second.item, body="done", by=manager)
    services.thread_resolve(thread=done, by=manager)
    item_filter = ItemFilter({"unresolved": "on", "task": str(task.pk)}, dataset=dataset)
    assert item_filter.is_valid()
    assert list(item_filter.qs.values_list("pk", flat=True)) == [first.item_id]
    # The wizard's selection from this filter names the same items.
    selection = item_filter.selection
    assert selection.mode == "filter"
    client.force_login(manager)
    browse = client.get(
        reverse("annotation:dataset-browse", args=[dataset.pk]), {"unresolved": "on", "submitted": "1"}
    )
    assert browse.status_code == 200 and first.item.name in browse.content.decode()
    assert second.item.name not in browse.content.decode()
    page = client.get(reverse("dashboards:task-detail", args=[task.pk])).content.decode()
    assert "1 unresolved comment thread<" in page
    services.thread_resolve(thread=open_one, by=manager)
    page = client.get(reverse("dashboards:task-detail", args=[task.pk])).content.decode()
    assert "0 unresolved comment threads" in page


def test_comments_through_the_api(client, task, manager, annotator, other_manager):
    row = rows(task, annotator)[0]
    url = f"/api/v1/annotationtasks/{task_api_id(task.pk)}/items/{item_api_id(row.item_id)}/comments"
    client.force_login(annotator)
    posted = client.post(url, json.dumps({"body": "Is this a bike? @alice"}), content_type="application/json")
    assert posted.status_code == 200, posted.content
    thread_id = posted.json()["id"]
    reply = client.post(url, json.dumps({"body": "Yes", "threadId": thread_id}), content_type="application/json")
    assert reply.json()["threadId"] == thread_id
    bad = client.post(url, json.dumps({"body": ""}), content_type="application/json")
    assert bad.status_code == 400 and "Write something" in bad.json()["message"]
    resolved = client.post(f"{url}/{thread_id}/resolve", json.dumps({}), content_type="application/json")
    assert resolved.json()["resolved"] is True
    listed = client.get(url).json()
    assert [t["body"] for t in listed["items"]] == ["Is this a bike? @alice"]
    assert listed["items"][0]["replies"][0]["body"] == "Yes" and listed["items"][0]["resolvedBy"] == "bob@example.com"
    assert len(mentions(manager)) == 1
    client.force_login(other_manager)
    assert client.get(url).status_code == 404
