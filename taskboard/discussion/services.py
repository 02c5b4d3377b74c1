"""Writing comments: post one (a thread or a reply), resolve and reopen a thread, tell the people a
comment @mentions. And recording a status change for the item's timeline."""

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.datasets.models import Item
from taskboard.discussion.models import COMMENT_MAX, Comment
from taskboard.notifications.models import EventKind
from taskboard.notifications.services import notify
from taskboard.projects.models import Membership

# @bob or @bob@example.com: a member's email, or the part of it before the @ when that names one member.
MENTION = re.compile(r"(?<![\w.@])@([A-Za-z0-9._%+-]+(?:@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)?)")


def mentioned_members(*, project_id: int, body: str) -> list[int]:
    """The ids of the project's members that `body` @mentions; a short name shared by two members
    names neither."""
    names = {m.lower().rstrip(".") for m in MENTION.findall(body)}
    if not names:
        return []
    members = Membership.objects.filter(project_id=project_id, user__is_active=True).values_list(
        "user_id", "user__email"
    )
    by_email = {email: user_id for user_id, email in members}
    by_short: dict[str, list[int]] = {}
    for email, user_id in by_email.items():
        by_short.setdefault(email.split("@")[0], []).append(user_id)
    found: set[int] = set()
    for name in names:
        if name in by_email:
            found.add(by_email[name])
        elif len(by_short.get(name, [])) == 1:
            found.add(by_short[name][0])
    return sorted(found)


@transaction.atomic
def comment_post(
    *, task: Any, item: Item, body: str, by: User, thread: Comment | None = None, link: str = ""
) -> Comment:
    """`by` comments on `item` in `task` (the task whose items they talk about: a QA task's items are
    talked about in its annotation task); a reply when `thread` is given. The members it @mentions
    are told, with `link` to the comment."""
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": "Write something first."})
    if len(body) > COMMENT_MAX:
        raise ValidationError({"body": f"Keep a comment under {COMMENT_MAX} characters."})
    if not Item.objects.filter(pk=item.pk, task_items__task_id=task.pk).exists():
        raise ValidationError({"item": "This item is not in the task."})
    if thread is not None:
        if thread.thread_id is not None:
            thread = thread.thread
            assert thread is not None
        if (thread.task_id, thread.item_id) != (task.pk, item.pk):
            raise ValidationError({"thread": "That thread is about another item."})
    mentioned = mentioned_members(project_id=task.project_id, body=body)
    comment = Comment.objects.create(
        task_id=task.pk, item=item, thread=thread, author=by, body=body, mentioned=mentioned
    )
    if thread is not None and thread.is_resolved:
        # A reply to a resolved thread means it is not settled after all.
        Comment.objects.filter(pk=thread.pk).update(resolved_at=None, resolved_by=None)
    notify(
        kind=EventKind.MENTION,
        recipients=[user_id for user_id in mentioned if user_id != by.pk],
        event_key=f"mention:{comment.pk}",
        title=f"{by.email} mentioned you on {item.name} in {task.name}",
        body=body,
        project=task.project_id,
        url=f"{link}#comment-{comment.pk}" if link else "",
        data={"task_id": task.pk, "item_id": item.pk, "comment_id": comment.pk},
    )
    return comment


def _thread(comment: Comment) -> Comment:
    if comment.thread_id is not None:
        raise ValidationError({"thread": "Only a thread is resolved or reopened, not a reply."})
    return comment


@transaction.atomic
def thread_resolve(*, thread: Comment, by: User) -> Comment:
    thread = _thread(thread)
    Comment.objects.filter(pk=thread.pk, resolved_at__isnull=True).update(resolved_at=timezone.now(), resolved_by=by)
    thread.refresh_from_db()
    return thread


@transaction.atomic
def thread_reopen(*, thread: Comment, by: User) -> Comment:
    thread = _thread(thread)
    Comment.objects.filter(pk=thread.pk).update(resolved_at=None, resolved_by=None)
    thread.refresh_from_db()
    return thread
