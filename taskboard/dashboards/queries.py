"""Permission-scoped reads for the dashboards, all from counters: never a count of task items.

Every read here costs O(assignments + statuses + days), whatever the number of items:
`Assignment.item_count`/`rework_count`/`issue_count` and `StatusCount` (kept by the core services),
and `DailyThroughput`, `ReviewTally` and `ConsensusTally` (kept by this app's receivers) are all it
reads for progress.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import FloatField, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from taskboard.annotation.models import (
    AnnotationTask,
    Assignment,
    AssignmentKind,
    StatusCount,
    TaskState,
    TaskStatus,
    TaskType,
)
from taskboard.annotation.progress import Progress, task_progress, tasks_progress
from taskboard.dashboards import forecast as fc
from taskboard.dashboards.models import ConsensusTally, DailyThroughput, ReviewTally
from taskboard.projects.models import Project
from taskboard.quality.queries import scores as quality_scores
from taskboard.work.models import AssignmentTime, ConsensusResult

APPROVED = "approved"
WORST_SHOWN = 5


# --- the work app's numbers: active time and agreement ------------------------------------------


def active_seconds_by_user_in_tasks(task_ids: Iterable[int]) -> dict[int, float]:
    """{user_id: active seconds} over these tasks, from the work view's per-assignment totals
    (one row per assignment, kept by its heartbeat)."""
    return {
        user_id: float(seconds or 0)
        for user_id, seconds in AssignmentTime.objects.filter(task_id__in=list(task_ids))
        .order_by()
        .values("user_id")
        .annotate(s=Sum("active_seconds"))
        .values_list("user_id", "s")
    }


@dataclass
class Consensus:
    items: int
    agreement: float | None  # 0..1, mean over scored items
    low: int  # items under half agreement
    worst: list[ConsensusResult] = field(default_factory=list)  # the least agreed items, for a closer look


def consensus_summary(task: AnnotationTask) -> Consensus | None:
    """The task's agreement from its tally (one row), and the five least agreed items through the
    (task, agreement, item) index: no aggregate over the per-item results."""
    if not task.is_consensus:
        return None
    tally = ConsensusTally.objects.filter(task=task).first()
    if tally is None or not tally.items:
        return Consensus(0, None, 0)
    worst = list(
        ConsensusResult.objects.filter(task=task).select_related("item").order_by("agreement", "item_id")[:WORST_SHOWN]
    )
    return Consensus(items=tally.items, agreement=tally.agreement, low=tally.low, worst=worst)


# --- per-item agreement, page by page -------------------------------------------------------

AGREEMENT_PAGE = 50


@dataclass
class AgreementPage:
    results: list[ConsensusResult]  # the least agreed first, with their item
    after: str | None  # the cursor this page starts after (None: the first page)
    next_after: str | None  # the cursor of the next page (None: this is the last)


def agreement_cursor(result: ConsensusResult) -> str:
    # repr() of a float reads back as the same float, so the next page starts exactly after it.
    return f"{result.agreement!r}_{result.item_id}"


def parse_agreement_cursor(text: str) -> tuple[float, int]:
    """`<agreement>_<item id>` from a next-page link; ValueError for anything else."""
    agreement, _, item_id = (text or "").partition("_")
    if len(text) > 64 or not item_id.isdigit():
        raise ValueError(text)
    value = float(agreement)
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise ValueError(text)
    return value, int(item_id)


def agreement_page(
    task: AnnotationTask, *, after: tuple[float, int] | None = None, size: int | None = None
) -> AgreementPage:
    """One page of the task's per-item agreement, the least agreed first, keyset-paged along the
    (task, agreement, item) index: a page costs the same on the first page and the thousandth."""
    size = size or AGREEMENT_PAGE
    if not task.is_consensus:
        return AgreementPage([], None, None)
    rows = ConsensusResult.objects.filter(task=task)
    if after is not None:
        agreement, item_id = after
        # The >= bound is redundant but lets the index start the scan there instead of filtering.
        rows = rows.filter(Q(agreement__gte=agreement), Q(agreement__gt=agreement) | Q(item_id__gt=item_id))
    page = list(rows.select_related("item").order_by("agreement", "item_id")[: size + 1])
    more = len(page) > size
    page = page[:size]
    return AgreementPage(
        results=page,
        after=f"{after[0]!r}_{after[1]}" if after is not None else None,
        next_after=agreement_cursor(page[-1]) if more else None,
    )


def agreement_of_item() -> Subquery:
    """A subquery for TaskItem rows: their item's agreement in their task once every copy has a
    status (None before), one lookup on the (task, item) unique index per row."""
    return Subquery(
        ConsensusResult.objects.filter(task_id=OuterRef("task_id"), item_id=OuterRef("item_id")).values("agreement")[
            :1
        ],
        output_field=FloatField(),
    )


def task_agreement(task: AnnotationTask) -> dict[str, Any]:
    """Consensus agreement for the task page: items scored and the mean share, from the tally (one
    row), and the first page of the per-item list (the least agreed first)."""
    tally = ConsensusTally.objects.filter(task=task).first()
    # The tally's agreement is None exactly when it has scored no item.
    agreement = tally.agreement if tally is not None else None
    if tally is None or agreement is None:
        return {"items": 0, "percent": None, "page": None}
    return {"items": tally.items, "percent": round(100 * agreement), "page": agreement_page(task)}


# --- task numbers ---------------------------------------------------------------------------


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass
class PersonNumbers:
    """One assignment's row on the task dashboard: its progress (from the read model) and what the
    dashboards add to it: QA approval, active time and a forecast."""

    progress: Progress
    approval_rate: float | None = None
    active_seconds: float | None = None
    forecast: fc.Forecast | None = None

    @property
    def assignment(self) -> Assignment:
        assert self.progress.assignment is not None  # a row of a task's progress is an assignment's
        return self.progress.assignment

    @property
    def label(self) -> str:
        return self.progress.label

    @property
    def assigned(self) -> int:
        return self.progress.total

    @property
    def done(self) -> int:
        return self.progress.done

    @property
    def discarded(self) -> int:
        return self.progress.discarded

    @property
    def remaining(self) -> int:
        return self.progress.remaining

    @property
    def issues(self) -> int:
        return self.progress.issues

    @property
    def rework(self) -> int:
        return self.progress.rework

    @property
    def percent(self) -> int:
        return self.progress.percent

    @property
    def seconds_per_item(self) -> float | None:
        return self.active_seconds / self.done if self.active_seconds and self.done else None


@dataclass
class TaskNumbers:
    task: AnnotationTask
    progress: Progress
    rows: list[PersonNumbers]
    throughput: list[tuple[datetime.date, int]]  # every day from creation to today
    forecast: fc.Forecast
    consensus: Consensus | None = None
    burndown: list[tuple[datetime.date, int]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.progress.total

    @property
    def done(self) -> int:
        return self.progress.done

    @property
    def with_status(self) -> int:
        return self.progress.with_status

    @property
    def todo(self) -> int:
        return self.progress.todo

    @property
    def statuses(self) -> tuple[tuple[TaskStatus, int], ...]:
        return self.progress.statuses

    @property
    def issues(self) -> int:
        return self.progress.issues

    @property
    def rework(self) -> int:
        return self.progress.rework

    @property
    def percent(self) -> int:
        return self.forecast.percent

    @property
    def is_live(self) -> bool:
        """Worth polling: open and not everything done."""
        return self.task.state == TaskState.OPEN and self.task.closed_at is None and self.done < self.total


def _days(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    return [start + datetime.timedelta(days=n) for n in range((end - start).days + 1)]


def task_numbers(
    task: AnnotationTask, *, now: datetime.datetime | None = None, window_days: int = fc.DEFAULT_WINDOW_DAYS
) -> TaskNumbers:
    now = timezone.localtime(now or timezone.now())
    today = now.date()
    progress = task_progress(task)

    # Net finished per day and per assignment: O(days x assignments) rows.
    per_day: dict[datetime.date, int] = defaultdict(int)
    window_from = fc.window_start(now=now, created_at=timezone.localtime(task.created_at), days=window_days)
    recent_by_assignment: dict[int, int] = defaultdict(int)
    active_by_assignment: dict[int, float] = defaultdict(float)
    for assignment_id, day, done, seconds in (
        DailyThroughput.objects.filter(task=task)
        .order_by()
        .values_list("assignment_id", "day", "done", "active_seconds")
    ):
        per_day[day] += done
        if day >= window_from.date():
            recent_by_assignment[assignment_id] += done
            active_by_assignment[assignment_id] += seconds
    tallies: dict[int | None, ReviewTally] = {t.annotator_id: t for t in ReviewTally.objects.filter(task=task)}
    active_total = dict(AssignmentTime.objects.filter(task=task).values_list("assignment_id", "active_seconds"))

    rows: list[PersonNumbers] = []
    for row in progress.rows:
        a = row.assignment
        assert a is not None  # a row of a task's progress is an assignment's
        if task.type == TaskType.QA:
            # Rejections wait in the QA assignment as rework: they were reviewed and not approved.
            approval = _rate(row.by_status.get(APPROVED, 0), row.with_status + a.rework_count)
        else:
            # A tally exists once QA has judged something; before that there is no rate to show.
            tally = tallies.get(a.assignee_id)
            approval = _rate(tally.approved, tally.approved + tally.discarded + tally.sent_back) if tally else None
        rows.append(
            PersonNumbers(
                progress=row,
                approval_rate=approval,
                active_seconds=active_total.get(a.pk),
                forecast=fc.forecast(
                    total=row.total,
                    done=row.done,
                    due_at=task.due_at,
                    now=now,
                    done_in_window=recent_by_assignment.get(a.pk, 0),
                    window_from=window_from,
                    created_at=a.created_at,
                    active_seconds_in_window=active_by_assignment.get(a.pk, 0.0),
                ),
            )
        )

    start = min(timezone.localtime(task.created_at).date(), min(per_day, default=today))
    throughput = [(d, per_day.get(d, 0)) for d in _days(start, today)]
    # Remaining at the end of each day, anchored on today's counters (items added or removed
    # later shift the whole line rather than bend it).
    burndown: list[tuple[datetime.date, int]] = []
    remaining = progress.remaining
    for d, n in reversed(throughput):
        burndown.append((d, remaining))
        remaining += n
    burndown.reverse()
    return TaskNumbers(
        task=task,
        progress=progress,
        rows=rows,
        throughput=throughput,
        burndown=burndown,
        forecast=_task_forecast(
            task,
            progress,
            now=now,
            window_from=window_from,
            done_in_window=sum(recent_by_assignment.values()),
            active_seconds_in_window=sum(active_by_assignment.values()),
        ),
        consensus=consensus_summary(task),
    )


def _task_forecast(
    task: AnnotationTask,
    progress: Progress,
    *,
    now: datetime.datetime,
    window_from: datetime.datetime,
    done_in_window: int,
    active_seconds_in_window: float,
) -> fc.Forecast:
    return fc.forecast(
        total=progress.total,
        done=progress.done,
        due_at=task.due_at,
        now=now,
        done_in_window=done_in_window,
        window_from=window_from,
        created_at=task.created_at,
        active_seconds_in_window=active_seconds_in_window,
    )


def task_forecast(
    task: AnnotationTask,
    progress: Progress,
    *,
    now: datetime.datetime | None = None,
    window_days: int = fc.DEFAULT_WINDOW_DAYS,
) -> fc.Forecast:
    """The task's forecast alone, from its progress as read and one query of the window's counters:
    what the task page's live progress shows beside the numbers."""
    now = timezone.localtime(now or timezone.now())
    window_from = fc.window_start(now=now, created_at=timezone.localtime(task.created_at), days=window_days)
    window = DailyThroughput.objects.filter(task=task, day__gte=window_from.date()).aggregate(
        done=Sum("done"), active=Sum("active_seconds")
    )
    return _task_forecast(
        task,
        progress,
        now=now,
        window_from=window_from,
        done_in_window=window["done"] or 0,
        active_seconds_in_window=window["active"] or 0.0,
    )


# --- project ----------------------------------------------------------------------------------


@dataclass
class TaskSummary:
    task: AnnotationTask
    forecast: fc.Forecast


def project_tasks(
    project: Project, *, now: datetime.datetime | None = None, window_days: int = fc.DEFAULT_WINDOW_DAYS
) -> list[TaskSummary]:
    """Every task of the project with its forecast, trouble first, then by due date."""
    now = timezone.localtime(now or timezone.now())
    tasks = list(AnnotationTask.objects.filter(project=project).select_related("owner"))
    ids = [t.pk for t in tasks]
    progress = tasks_progress(tasks)
    earliest = (now - datetime.timedelta(days=window_days)).date()
    recent: defaultdict[int, list[tuple[datetime.date, int, float]]] = defaultdict(list)
    for task_id, day, n, seconds in (
        DailyThroughput.objects.filter(task_id__in=ids, day__gte=earliest)
        .values("task_id", "day")
        .annotate(n=Sum("done"), seconds=Sum("active_seconds"))
        .values_list("task_id", "day", "n", "seconds")
    ):
        recent[task_id].append((day, n, seconds or 0.0))
    summaries: list[TaskSummary] = []
    for task in tasks:
        window_from = fc.window_start(now=now, created_at=timezone.localtime(task.created_at), days=window_days)
        summaries.append(
            TaskSummary(
                task=task,
                forecast=fc.forecast(
                    total=progress[task.pk].total,
                    done=progress[task.pk].done,
                    due_at=task.due_at,
                    now=now,
                    done_in_window=sum(n for day, n, _ in recent[task.pk] if day >= window_from.date()),
                    window_from=window_from,
                    created_at=task.created_at,
                    active_seconds_in_window=sum(s for day, _, s in recent[task.pk] if day >= window_from.date()),
                ),
            )
        )
    summaries.sort(key=lambda s: (s.forecast.sort_key, s.task.due_at, s.task.pk))
    return summaries


# --- people -----------------------------------------------------------------------------------


@dataclass
class Scorecard:
    user_id: int
    email: str
    assigned: int = 0
    done: int = 0
    rework: int = 0  # still out for rework
    sent_back: int = 0  # ever sent back by QA
    issues: int = 0
    approved: int = 0
    first_pass: int = 0
    discarded_in_qa: int = 0
    active_seconds: float = 0.0
    honeypots_answered: int = 0
    honeypots_right: int = 0

    @property
    def honeypot_score(self) -> float | None:
        """Ground-truth answers right, over those given (docs/quality.md)."""
        return _rate(self.honeypots_right, self.honeypots_answered)

    @property
    def seconds_per_item(self) -> float | None:
        return self.active_seconds / self.done if self.active_seconds and self.done else None

    @property
    def first_pass_rate(self) -> float | None:
        """Approved at the first review, over the items QA has judged: an item sent back counts
        once through rework, whatever its later verdict."""
        return _rate(self.first_pass, self.first_pass + self.discarded_in_qa + self.sent_back)


def people_scorecards(project: Project) -> list[Scorecard]:
    """Per annotator across the project's annotation tasks, from counters and review tallies."""
    tasks = AnnotationTask.objects.filter(project=project, type=TaskType.ANNOTATION)
    task_ids = list(tasks.values_list("pk", flat=True))
    cards: dict[int, Scorecard] = {}
    assignments = (
        Assignment.objects.filter(task_id__in=task_ids, kind=AssignmentKind.WORK)
        .values("assignee_id", "assignee__email")
        .annotate(assigned=Sum("item_count"), rework=Sum("rework_count"), issues=Sum("issue_count"))
    )
    for row in assignments:
        cards[row["assignee_id"]] = Scorecard(
            user_id=row["assignee_id"],
            email=row["assignee__email"],
            assigned=row["assigned"] or 0,
            rework=row["rework"] or 0,
            issues=row["issues"] or 0,
        )
    done_keys: defaultdict[int, set[str]] = defaultdict(set)
    for task_id, key in (
        TaskStatus.objects.filter(task_id__in=task_ids, is_done=True).order_by().values_list("task_id", "key")
    ):
        done_keys[task_id].add(key)
    for user_id, task_id, status, n in StatusCount.objects.filter(
        assignment__task_id__in=task_ids, assignment__kind=AssignmentKind.WORK
    ).values_list("assignment__assignee_id", "assignment__task_id", "status", "count"):
        if status in done_keys[task_id] and user_id in cards:
            cards[user_id].done += n
    for tally in ReviewTally.objects.filter(task_id__in=task_ids):
        card = cards.get(tally.annotator_id)
        if card is not None:
            card.approved += tally.approved
            card.first_pass += tally.first_pass
            card.discarded_in_qa += tally.discarded
            card.sent_back += tally.sent_back
    for user_id, seconds in active_seconds_by_user_in_tasks(task_ids).items():
        if user_id in cards:
            cards[user_id].active_seconds = seconds
    for score in quality_scores(project=project):
        if score.user_id in cards:
            cards[score.user_id].honeypots_answered = score.answered
            cards[score.user_id].honeypots_right = score.right
    return sorted(cards.values(), key=lambda c: c.email)
