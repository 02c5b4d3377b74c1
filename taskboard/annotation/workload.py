"""Who gets how many items: loads, their validation, and the split of a count by loads.

Pure arithmetic plus one membership query, so the wizard can preview exactly the split
the service will make.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from taskboard.accounts.models import User
from taskboard.projects.models import Project
from taskboard.projects.queries import assignable_users

UNKNOWN_PERSON = "Unknown person."


@dataclass(frozen=True)
class WorkloadUnit:
    user: User
    load: int


def equal_loads(n: int) -> list[int]:
    """dtlpy's equal split: 100 // n each, the first 100 % n one more (3 people: 34/33/33)."""
    if n < 1:
        return []
    base, extra = divmod(100, n)
    return [base + 1 if i < extra else base for i in range(n)]


def split_counts(total: int, loads: list[int]) -> list[int]:
    """Split `total` items by percentage loads with the largest-remainder method.

    Ties in the remainder go to the earlier assignee; the counts always add up to `total`. Equal
    loads (100 // n each, the first 100 % n one more: what an equal split records) split the items
    evenly: the counts differ by at most one (300 items to 3 people: 100/100/100, not 102/99/99).
    """
    if not loads:
        return []
    if list(loads) == equal_loads(len(loads)):
        base, extra = divmod(total, len(loads))
        return [base + 1 if i < extra else base for i in range(len(loads))]
    weight = sum(loads)
    counts = [total * load // weight for load in loads]
    remainders = [total * load % weight for load in loads]
    short = total - sum(counts)
    # sorted() is stable, so equal remainders keep assignee order.
    for i in sorted(range(len(loads)), key=lambda i: -remainders[i])[:short]:
        counts[i] += 1
    return counts


def boundaries(counts: list[int], start: int = 0) -> list[int]:
    """Last rank (1-based, after `start`) of each contiguous run."""
    result: list[int] = []
    upto = start
    for count in counts:
        upto += count
        result.append(upto)
    return result


def may_work(project: Project | int, user_ids: Iterable[int | None]) -> set[int]:
    """Of these people, who may be given work in the project now: active members whose role lets them
    work. Everything that hands out items asks this (creation, reassign, redistribute, items added later,
    QA intake, pipeline routing, pulling); a deactivated person keeps what they hold until a manager
    moves it (`annotation.queries.stranded_work` shows it to them)."""
    return set(assignable_users(project).filter(pk__in=list(user_ids)).values_list("pk", flat=True))


def workload_build(
    *,
    project: Project,
    workload: Sequence[WorkloadUnit] | None,
    assignees: Sequence[User] | None,
    field: str = "assignees",
) -> list[WorkloadUnit]:
    """Validate a workload (or make an equal one from assignees) for `project`.

    Raises ValidationError naming `field` (or "workload" for load problems).
    """
    if workload is None:
        assignees = list(assignees or [])
        workload = [
            WorkloadUnit(user, load) for user, load in zip(assignees, equal_loads(len(assignees)), strict=True)
        ]
        load_field = field
    else:
        workload = list(workload)
        load_field = "workload"
    if not workload:
        raise ValidationError({field: "Choose at least one person."})
    seen: set[int] = set()
    for unit in workload:
        if unit.user is None or getattr(unit.user, "pk", None) is None:
            raise ValidationError({field: UNKNOWN_PERSON})
        if unit.user.pk in seen:
            raise ValidationError({field: f"{unit.user.email} is listed twice."})
        seen.add(unit.user.pk)
        if not isinstance(unit.load, int) or isinstance(unit.load, bool) or not 1 <= unit.load <= 100:
            raise ValidationError({load_field: "Each load is a whole number from 1 to 100."})
    total = sum(unit.load for unit in workload)
    if total != 100:
        raise ValidationError({load_field: f"Loads must add up to exactly 100 (they add up to {total})."})
    workers = may_work(project, seen)
    outsiders = [unit.user.email for unit in workload if unit.user.pk not in workers]
    if outsiders:
        # Deactivated accounts are refused here too: they would hold work nobody does.
        raise ValidationError({field: f"Not an active member of this project who can work: {', '.join(outsiders)}."})
    return workload
