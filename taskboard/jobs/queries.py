from django.db.models import Q
from django.http import Http404

from taskboard.jobs.models import Job


def jobs_for_user(*, user):
    """Jobs the user started, and jobs of projects they own or manage (a job names tasks and selections
    that annotators and reviewers of the project may not see)."""
    if user.is_superuser:
        return Job.objects.all()
    from taskboard.projects.models import MANAGING_ROLES

    return Job.objects.filter(
        Q(created_by=user) | Q(project__memberships__user=user, project__memberships__role__in=MANAGING_ROLES)
    ).distinct()


def job_get_for_user(*, user, pk: int) -> Job:
    job = jobs_for_user(user=user).filter(pk=pk).first()
    if job is None:
        raise Http404("No such job.")
    return job
