"""Talk about an item within a task (threads of comments, resolved or open) and the record of its
status changes that the item's timeline reads."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

COMMENT_MAX = 5000


class Comment(models.Model):
    """A comment on an item in a task. A comment with no `thread` starts a thread; its replies point
    to it. A thread (never a reply) is resolved or open."""

    task = models.ForeignKey("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="comments")
    item = models.ForeignKey("datasets.Item", on_delete=models.CASCADE, related_name="comments")
    thread = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    body = models.TextField(max_length=COMMENT_MAX)
    # The people the comment @mentions (user ids), as found when it was written.
    mentioned = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(thread__isnull=True) | Q(resolved_at__isnull=True), name="comment_only_threads_resolve"
            ),
        ]
        indexes = [
            models.Index(fields=["task", "item", "created_at"], name="comment_task_item"),
            models.Index(
                fields=["task", "item"],
                condition=Q(thread__isnull=True, resolved_at__isnull=True),
                name="comment_open_thread",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.author_id} on {self.item_id}: {self.body[:40]}"

    @property
    def is_thread(self) -> bool:
        return self.thread_id is None

    @property
    def is_resolved(self) -> bool:
        return self.resolved_at is not None
