from celery import shared_task

from taskboard.jobs import services


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_job(job_id: int) -> None:
    services.job_run(job_id=job_id)


@shared_task(ignore_result=True)
def recover_jobs() -> None:
    services.job_recover_stale()
