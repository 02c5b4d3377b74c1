from taskboard.jobs.models import Job
from taskboard.projects.access import AnyUser, get_or_404


def job_for_viewer(user: AnyUser, pk: object) -> Job:
    """A job its starter or the managers of its project may watch (a job names tasks and selections that
    annotators and reviewers may not see); anyone else gets 404."""
    return get_or_404(Job.objects.visible_to(user), pk, "job")
