"""Reads for the quality pages."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from taskboard.accounts.models import User
from taskboard.annotation.models import AnnotationTask
from taskboard.projects.models import Project
from taskboard.quality.activity import active_seconds_by_person_task
from taskboard.quality.models import ProjectQuality


def settings_for(project: Project) -> ProjectQuality:
    """The project's settings, or the defaults (unsaved) when it has none."""
    return ProjectQuality.objects.filter(project=project).first() or ProjectQuality(project=project)


@dataclass
class PersonTime:
    user_id: int
    email: str
    seconds: float

    @property
    def hours(self) -> float:
        return self.seconds / 3600


def active_time_by_person(project: Project) -> list[PersonTime]:
    """Each person's active time in the project's tasks, counted from the marks in one query."""
    task_ids = list(AnnotationTask.objects.filter(project=project).values_list("pk", flat=True))
    per_person: dict[int, float] = defaultdict(float)
    for row in active_seconds_by_person_task(task_ids=task_ids):
        per_person[row.user_id] += row.seconds
    emails = dict(User.objects.filter(pk__in=per_person).values_list("pk", "email"))
    rows = [PersonTime(user_id=u, email=emails.get(u, str(u)), seconds=s) for u, s in per_person.items()]
    return sorted(rows, key=lambda r: r.email)
