"""The reviewers' scorecard, beside the annotators': what each reviewer judged in a project's QA
tasks, how long a review takes them (the median of their active time per QA item, computed by the
database: `taskboard.sql.medians`), how often their acceptances were later overturned, and how many
review honeypots (known-wrong answers) they caught."""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, F, Max, Q

from taskboard.annotation.models import AnnotationTask, Assignment, AssignmentKind, TaskItem, TaskStatus, TaskType
from taskboard.projects.models import Project
from taskboard.quality.models import Overturn, Rejection
from taskboard.quality.review_honeypots import catch_rates
from taskboard.sql import medians
from taskboard.work.models import ItemTime

# A QA verdict with this status is not an acceptance of the annotator's work.
NOT_ACCEPTED = {"discard"}


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class ReviewerCard:
    user_id: int
    email: str
    accepted: int = 0
    rejected: int = 0
    overturned: int = 0
    median_seconds: float | None = None
    last_active: datetime.datetime | None = None
    honeypots_caught: int = 0
    honeypots_seen: int = 0

    @property
    def catch_rate(self) -> float | None:
        """Seeded known-wrong answers rejected, over those they judged."""
        return _rate(self.honeypots_caught, self.honeypots_seen)

    @property
    def reviewed(self) -> int:
        return self.accepted + self.rejected

    @property
    def overturn_rate(self) -> float | None:
        """Acceptances later undone by a reject, over every acceptance given."""
        return _rate(self.overturned, self.accepted)


def reviewer_scorecards(project: Project) -> list[ReviewerCard]:
    qa_ids = list(AnnotationTask.objects.filter(project=project, type=TaskType.QA).values_list("pk", flat=True))
    cards: dict[int, ReviewerCard] = {}
    for user_id, email in (
        Assignment.objects.filter(task_id__in=qa_ids, kind=AssignmentKind.WORK, assignee__isnull=False)
        .values_list("assignee_id", "assignee__email")
        .distinct()
    ):
        cards[user_id] = ReviewerCard(user_id=user_id, email=email)

    def card(user_id: int) -> ReviewerCard | None:
        return cards.get(user_id)

    done: defaultdict[int, set[str]] = defaultdict(set)
    for task_id, key in TaskStatus.objects.filter(task_id__in=qa_ids, is_done=True).values_list("task_id", "key"):
        if key not in NOT_ACCEPTED:
            done[task_id].add(key)
    verdicts = (
        TaskItem.objects.filter(task_id__in=qa_ids, status__isnull=False, status_by__isnull=False)
        .values("status_by_id", "task_id", "status")
        .annotate(n=Count("pk"), last=Max("status_at"))
    )
    last: defaultdict[int, list[datetime.datetime]] = defaultdict(list)
    for row in verdicts:
        c = card(row["status_by_id"])
        if c is None:
            continue
        if row["status"] in done[row["task_id"]]:
            c.accepted += row["n"]
        if row["last"]:
            last[c.user_id].append(row["last"])
    rejects = (
        Rejection.objects.filter(qa_task_id__in=qa_ids)
        .values("reviewer_id")
        .annotate(n=Count("pk"), last=Max("at"))
        .values_list("reviewer_id", "n", "last")
    )
    for reviewer_id, n, at in rejects:
        c = card(reviewer_id)
        if c is not None:
            c.rejected += n
            last[c.user_id].append(at)
    overturns = (
        Overturn.objects.filter(qa_task_id__in=qa_ids)
        .exclude(status__in=NOT_ACCEPTED)
        .values("reviewer_id")
        .annotate(n=Count("pk"), cleared=Count("pk", filter=Q(qa_task_id=F("rejection__qa_task_id"))))
        .values_list("reviewer_id", "n", "cleared")
    )
    for reviewer_id, n, cleared in overturns:
        c = card(reviewer_id)
        if c is not None:
            c.overturned += n
            # A reject in the same QA task cleared the verdict: it was given all the same.
            c.accepted += cleared
    reviewing = ItemTime.objects.filter(task_id__in=qa_ids, active_seconds__gt=0)
    for user_id, ended in reviewing.values("user_id").annotate(last=Max("ended_at")).values_list("user_id", "last"):
        last[user_id].append(ended)
    review_medians = medians(reviewing, key="user_id", value="active_seconds")
    for reviewer_id, rate in catch_rates(qa_ids).items():
        c = card(reviewer_id)
        if c is not None:
            c.honeypots_caught, c.honeypots_seen = rate.caught, rate.decided
            if rate.last_decided_at is not None:  # judging a known-wrong answer is reviewing too
                last[c.user_id].append(rate.last_decided_at)
    for c in cards.values():
        c.median_seconds = review_medians.get(c.user_id)
        c.last_active = max(last[c.user_id], default=None)
    return sorted(cards.values(), key=lambda c: c.email)
