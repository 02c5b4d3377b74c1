"""Permission-scoped reads for the dashboards, all from counters: never a count of task items.

Every read here costs O(assignments + statuses + days), whatever the number of items:
`Assignment.item_count`/`rework_count`/`issue_count` and `StatusCount` (kept by the core services),
and `DailyThroughput`, `ReviewTally` and `ConsensusTally` (kept by this app's receivers) are all it
reads for progress.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import F, FloatField, OuterRef, Q, Subquery, Sum, Value
from django.utils import timezone

from taskboard.annotation.models import (
    HELD_ITEMS,
    AnnotationTask,
    Assignment,
    AssignmentKind,
    StatusCount,
    TaskState,
    TaskStatus,
    TaskType,
    settle_queue,
)
from taskboard.dashboards import forecast as fc
from taskboard.dashboards.models import ConsensusTally, DailyThroughput, ReviewTally
from taskboard.projects.models import Project

User = get_user_model()
# The assignments whose items make up a task's total: consensus originals are bookkeeping.
COUNTED_KINDS = (AssignmentKind.WORK, AssignmentKind.QUEUE)
APPROVED = "approved"
DISCARD = "discard"
WORST_SHOWN = 5


# --- the work app's numbers (active time, agreement); nothing shown while it keeps none ---------


def _work_model(name):
    try:
        return apps.get_model("work", name)
    except LookupError:
        return None


def active_seconds_by_user_in_tasks(task_ids) -> dict[int, float]:
    """{user_id: active seconds} over these tasks, from the work view's per-assignment totals
    (one row per assignment, kept by its heartbeat)."""
    totals = _work_model("AssignmentTime")
    if totals is None:
        return {}
    return {
        user_id: float(seconds or 0)
        for user_id, seconds in totals.objects.filter(task_id__in=list(task_ids))
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
    worst: list = field(default_factory=list)  # the least agreed items, for a closer look


def consensus_summary(task: AnnotationTask) -> Consensus | None:
    """The task's agreement from its tally (one row), and the five least agreed items through the
    (task, agreement, item) index: no aggregate over the per-item results."""
    if not task.is_consensus:
        return None
    results = _work_model("ConsensusResult")
    tally = ConsensusTally.objects.filter(task=task).first()
    if results is None or tally is None or not tally.items:
        return Consensus(0, None, 0)
    worst = list(
        results.objects.filter(task=task).select_related("item").order_by("agreement", "item_id")[:WORST_SHOWN]
    )
    return Consensus(items=tally.items, agreement=tally.agreement, low=tally.low, worst=worst)


# --- per-item agreement, page by page -------------------------------------------------------

AGREEMENT_PAGE = 50


@dataclass
class AgreementPage:
    results: list  # ConsensusResult rows, the least agreed first, with their item
    after: str | None  # the cursor this page starts after (None: the first page)
    next_after: str | None  # the cursor of the next page (None: this is the last)


def agreement_cursor(result) -> str:
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


def agreement_page(task: AnnotationTask, *, after: tuple[float, int] | None = None, size: int | None = None):
    """One page of the task's per-item agreement, the least agreed first, keyset-paged along the
    (task, agreement, item) index: a page costs the same on the first page and the thousandth."""
    size = size or AGREEMENT_PAGE
    results = _work_model("ConsensusResult")
    if results is None or not task.is_consensus:
        return AgreementPage([], None, None)
    rows = results.objects.filter(task=task)
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


def agreement_of_item():
    """A subquery for TaskItem rows: their item's agreement in their task once every copy has a
    status (None before), one lookup on the (task, item) unique index per row; None without the work app."""
    results = _work_model("ConsensusResult")
    if results is None:
        return None
    return Subquery(
        results.objects.filter(task_id=OuterRef("task_id"), item_id=OuterRef("item_id")).values("agreement")[:1],
        output_field=FloatField(),
    )


# --- issues and rework, on both tasks --------------------------------------------------------


def qa_open_issues(task: AnnotationTask) -> int:
    """Open issues its QA tasks raised on an annotation task's items: their reviewers' counters
    (one row per QA assignment), never a count of the flagged rows."""
    return (
        Assignment.objects.filter(task__parent_id=task.pk, task__type=TaskType.QA).aggregate(n=Sum("issue_count"))["n"]
        or 0
    )


def issues_and_rework(task: AnnotationTask, assignments) -> tuple[int, int, dict[int, tuple[int, int]]]:
    """(open issues, items out for rework, {assignment id: (issues, rework)}) for either side of the
    QA loop, from the counters. A rejection is an issue in the QA task (the reviewer's
    `issue_count`) and a copy out for rework in the annotation task (the annotator's `rework_count`)
    until the annotator completes it again. So on an annotation task a person's open issues are
    their items out for rework, and the task's are what its QA tasks hold open; on a QA task a
    reviewer's items out for rework are the issues they raised and still wait for."""
    if task.type == TaskType.QA:
        rows = {a.pk: (a.issue_count, a.issue_count) for a in assignments}
        issues = sum(a.issue_count for a in assignments)
        return issues, issues, rows
    rows = {a.pk: (a.rework_count, a.rework_count) for a in assignments}
    return qa_open_issues(task), sum(a.rework_count for a in assignments), rows


# --- task numbers ---------------------------------------------------------------------------


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass
class AssigneeRow:
    assignment: Assignment
    assigned: int = 0
    done: int = 0
    discarded: int = 0
    issues: int = 0
    rework: int = 0
    approval_rate: float | None = None
    active_seconds: float | None = None
    forecast: fc.Forecast | None = None

    @property
    def remaining(self) -> int:
        return max(self.assigned - self.done, 0)

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.assigned) if self.assigned else 0

    @property
    def label(self) -> str:
        a = self.assignment
        return a.assignee.email if a.assignee_id else a.get_kind_display()

    @property
    def seconds_per_item(self) -> float | None:
        return self.active_seconds / self.done if self.active_seconds and self.done else None


@dataclass
class TaskNumbers:
    task: AnnotationTask
    total: int
    done: int
    with_status: int
    statuses: list[tuple[TaskStatus, int]]
    rows: list[AssigneeRow]
    issues: int
    rework: int
    throughput: list[tuple[datetime.date, int]]  # every day from creation to today
    forecast: fc.Forecast
    consensus: Consensus | None = None
    burndown: list[tuple[datetime.date, int]] = field(default_factory=list)

    @property
    def todo(self) -> int:
        return max(self.total - self.with_status, 0)

    @property
    def percent(self) -> int:
        return self.forecast.percent

    @property
    def is_live(self) -> bool:
        """Worth polling: open and not everything done."""
        return self.task.state == TaskState.OPEN and self.task.closed_at is None and self.done < self.total


def _days(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    return [start + datetime.timedelta(days=n) for n in range((end - start).days + 1)]


def _assignments_with_counts(task: AnnotationTask):
    """The task's counted assignments with their assignee, status counts and QA tally, in one
    round trip: under load every query costs a wait for the database, not just its plan."""

    def tally(column):
        return Subquery(
            ReviewTally.objects.filter(task_id=OuterRef("task_id"), annotator_id=OuterRef("assignee_id")).values(
                column
            )[:1]
        )

    # The work view's running total per assignment, joined in when the work app keeps one.
    active = F("active_time__active_seconds") if _work_model("AssignmentTime") else Value(None, FloatField())
    rows = (
        Assignment.objects.filter(task=task, kind__in=COUNTED_KINDS)
        .annotate(
            approved=tally("approved"),
            first_pass=tally("first_pass"),
            discarded=tally("discarded"),
            sent_back=tally("sent_back"),
            active_seconds=active,
        )
        .order_by("-kind", "id")
        .values_list(
            "id",
            "kind",
            "removed",
            "item_count",
            "claimed_count",
            "rework_count",
            "issue_count",
            "created_at",
            "assignee_id",
            "assignee__email",
            "status_counts__status",
            "status_counts__count",
            "approved",
            "first_pass",
            "discarded",
            "sent_back",
            "active_seconds",
        )
    )
    assignments: dict[int, Assignment] = {}
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    tallies: dict[int, ReviewTally] = {}
    for (
        pk,
        kind,
        removed,
        items,
        claimed,
        rework,
        issues,
        created,
        user_id,
        email,
        status,
        count,
        *verdicts,
        seconds,
    ) in rows:
        if pk not in assignments:
            assignments[pk] = Assignment(
                pk=pk,
                task=task,
                kind=kind,
                removed=removed,
                item_count=items,
                claimed_count=claimed,
                rework_count=rework,
                issue_count=issues,
                created_at=created,
                assignee=User(pk=user_id, email=email) if user_id else None,
            )
            assignments[pk].active_seconds = seconds
            if verdicts[0] is not None:
                tallies[user_id] = ReviewTally(
                    task=task,
                    annotator_id=user_id,
                    approved=verdicts[0],
                    first_pass=verdicts[1],
                    discarded=verdicts[2],
                    sent_back=verdicts[3],
                )
        if status is not None:
            counts[pk][status] = count
    return settle_queue(list(assignments.values())), counts, tallies


def task_numbers(task: AnnotationTask, *, now=None, window_days: int = fc.DEFAULT_WINDOW_DAYS) -> TaskNumbers:
    now = timezone.localtime(now or timezone.now())
    today = now.date()
    # Ordered on its own columns: the model's ordering starts with the task and would join it.
    statuses = list(TaskStatus.objects.filter(task=task).order_by("position", "key"))
    done_keys = {s.key for s in statuses if s.is_done}
    assignments, by_assignment, tallies = _assignments_with_counts(task)

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

    issues, rework, issues_by_assignment = issues_and_rework(task, assignments)
    rows, per_status = [], defaultdict(int)
    for a in assignments:
        counts = by_assignment.get(a.pk, {})
        for key, n in counts.items():
            per_status[key] += n
        if a.removed and not a.item_count:
            continue
        done = sum(n for key, n in counts.items() if key in done_keys)
        if task.type == TaskType.QA:
            # Rejections wait in the QA assignment as rework: they were reviewed and not approved.
            approval = _rate(counts.get(APPROVED, 0), sum(counts.values()) + a.rework_count)
        else:
            # A tally exists once QA has judged something; before that there is no rate to show.
            tally = tallies.get(a.assignee_id)
            approval = _rate(tally.approved, tally.approved + tally.discarded + tally.sent_back) if tally else None
        rows.append(
            AssigneeRow(
                assignment=a,
                assigned=a.item_count,
                done=done,
                discarded=counts.get(DISCARD, 0),
                issues=issues_by_assignment[a.pk][0],
                rework=issues_by_assignment[a.pk][1],
                approval_rate=approval,
                active_seconds=a.active_seconds,
                forecast=fc.forecast(
                    total=a.item_count,
                    done=done,
                    due_at=task.due_at,
                    now=now,
                    done_in_window=recent_by_assignment.get(a.pk, 0),
                    window_from=window_from,
                    created_at=a.created_at,
                    active_seconds_in_window=active_by_assignment.get(a.pk, 0.0),
                ),
            )
        )

    total = sum(a.item_count for a in assignments)
    done = sum(n for key, n in per_status.items() if key in done_keys)
    start = min(timezone.localtime(task.created_at).date(), min(per_day, default=today))
    days = _days(start, today)
    throughput = [(d, per_day.get(d, 0)) for d in days]
    # Remaining at the end of each day, anchored on today's counters (items added or removed
    # later shift the whole line rather than bend it).
    burndown, remaining = [], total - done
    for d, n in reversed(throughput):
        burndown.append((d, remaining))
        remaining += n
    burndown.reverse()
    return TaskNumbers(
        task=task,
        total=total,
        done=done,
        with_status=sum(per_status.values()),
        statuses=[(s, per_status.get(s.key, 0)) for s in statuses],
        rows=rows,
        issues=issues,
        rework=rework,
        throughput=throughput,
        burndown=burndown,
        forecast=fc.forecast(
            total=total,
            done=done,
            due_at=task.due_at,
            now=now,
            done_in_window=sum(recent_by_assignment.values()),
            window_from=window_from,
            created_at=task.created_at,
            active_seconds_in_window=sum(active_by_assignment.values()),
        ),
        consensus=consensus_summary(task),
    )


# --- project ----------------------------------------------------------------------------------


@dataclass
class TaskSummary:
    task: AnnotationTask
    forecast: fc.Forecast


def project_tasks(project: Project, *, now=None, window_days: int = fc.DEFAULT_WINDOW_DAYS) -> list[TaskSummary]:
    """Every task of the project with its forecast, trouble first, then by due date."""
    now = timezone.localtime(now or timezone.now())
    tasks = list(AnnotationTask.objects.filter(project=project).select_related("owner"))
    ids = [t.pk for t in tasks]
    totals = dict(
        Assignment.objects.filter(task_id__in=ids, kind__in=COUNTED_KINDS)
        .values("task_id")
        .annotate(n=Sum(HELD_ITEMS))
        .values_list("task_id", "n")
    )
    done_keys = defaultdict(set)
    for task_id, key in (
        TaskStatus.objects.filter(task_id__in=ids, is_done=True).order_by().values_list("task_id", "key")
    ):
        done_keys[task_id].add(key)
    done = defaultdict(int)
    for task_id, status, n in (
        StatusCount.objects.filter(assignment__task_id__in=ids, assignment__kind__in=COUNTED_KINDS)
        .values("assignment__task_id", "status")
        .annotate(n=Sum("count"))
        .values_list("assignment__task_id", "status", "n")
    ):
        if status in done_keys[task_id]:
            done[task_id] += n
    earliest = (now - datetime.timedelta(days=window_days)).date()
    recent = defaultdict(list)
    for task_id, day, n, seconds in (
        DailyThroughput.objects.filter(task_id__in=ids, day__gte=earliest)
        .values("task_id", "day")
        .annotate(n=Sum("done"), seconds=Sum("active_seconds"))
        .values_list("task_id", "day", "n", "seconds")
    ):
        recent[task_id].append((day, n, seconds or 0.0))
    summaries = []
    for task in tasks:
        window_from = fc.window_start(now=now, created_at=timezone.localtime(task.created_at), days=window_days)
        summaries.append(
            TaskSummary(
                task=task,
                forecast=fc.forecast(
                    total=totals.get(task.pk) or 0,
                    done=done[task.pk],
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
    done_keys = defaultdict(set)
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
    return sorted(cards.values(), key=lambda c: c.email)
