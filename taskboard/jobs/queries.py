from django.db.models import Q
from django.http import Http404

from taskboard.jobs.models import Job


def jobs_for_user(*, user):
    """Jobs the user started, and jobs of projects they are a member of."""
    if user.is_superuser:
        return Job.objects.all()
    return Job.objects.filter(Q(created_by=user) | Q(project__memberships__user=user)).distinct()


def job_get_for_user(*, user, pk: int) -> Job:
    job = jobs_for_user(user=user).filter(pk=pk).first()
    if job is None:
        raise Http404("No such job.")
    return job
