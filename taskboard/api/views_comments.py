"""Comments on an item within a task (our own routes beside Dataloop's): list the threads, post a
comment or a reply, resolve and reopen a thread."""

from typing import Any

from django.urls import reverse

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.annotation.models import AnnotationTask
from taskboard.api import queries
from taskboard.api.http import api_view, bad_request, json_body, not_found
from taskboard.api.ids import api_id, parse_id
from taskboard.datasets.models import Item
from taskboard.discussion import queries as discussion_queries
from taskboard.discussion import services as discussion
from taskboard.discussion.models import Comment


def _comment_json(comment: Comment) -> dict[str, Any]:
    return {
        "id": comment.pk,
        "threadId": comment.thread_id,
        "author": getattr(comment.author, "email", None),
        "body": comment.body,
        "mentioned": comment.mentioned,
        "createdAt": comment.created_at.isoformat(),
    }


def _thread_json(thread: Comment) -> dict[str, Any]:
    return {
        **_comment_json(thread),
        "resolved": thread.is_resolved,
        "resolvedAt": thread.resolved_at.isoformat() if thread.resolved_at else None,
        "resolvedBy": getattr(thread.resolved_by, "email", None),
        "replies": [_comment_json(r) for r in thread.replies.all()],
    }


def _task_and_item(request: AuthedHttpRequest, task_id: str, item_id: str) -> tuple[AnnotationTask, Item]:
    task = queries.task_get(request.user, task_id)
    pk = parse_id(item_id, "item")
    item = Item.objects.filter(pk=pk, task_items__task_id=task.pk).first() if pk is not None else None
    if item is None:
        raise not_found("The item is not in this task.")
    return task, item


def _threads(task: AnnotationTask, item: Item) -> dict[str, Any]:
    rows = discussion_queries.threads(task_id=task.discussion_task_id, item_id=item.pk)
    return {
        "taskId": api_id("task", task.discussion_task_id),
        "itemId": api_id("item", item.pk),
        "items": [_thread_json(t) for t in rows],
    }


@api_view(["GET", "POST"])
def item_comments(request: AuthedHttpRequest, task_id: str, item_id: str):
    task, item = _task_and_item(request, task_id, item_id)
    if request.method == "GET":
        return _threads(task, item)
    body = json_body(request)
    thread = None
    if body.get("threadId") is not None:
        thread = Comment.objects.filter(
            pk=body["threadId"] if isinstance(body["threadId"], int) else -1,
            task_id=task.discussion_task_id,
            item=item,
        ).first()
        if thread is None:
            raise bad_request("threadId: no such thread on this item.")
    home = task.parent if task.discussion_task_id != task.pk else task
    assert home is not None
    comment = discussion.comment_post(
        task=home,
        item=item,
        body=str(body.get("body") or ""),
        by=request.user,
        thread=thread,
        link=reverse("work:item-page", args=[home.pk, item.pk]),
    )
    return _comment_json(comment)


@api_view(["POST"])
def comment_resolve(request: AuthedHttpRequest, task_id: str, item_id: str, comment_id: int):
    task, item = _task_and_item(request, task_id, item_id)
    thread = Comment.objects.filter(pk=comment_id, task_id=task.discussion_task_id, item=item).first()
    if thread is None:
        raise not_found("No such thread on this item.")
    reopen = bool(json_body(request, required=False).get("reopen"))
    if reopen:
        thread = discussion.thread_reopen(thread=thread, by=request.user)
    else:
        thread = discussion.thread_resolve(thread=thread, by=request.user)
    return _thread_json(thread)
