from django.core.management.base import BaseCommand

from taskboard.jobs import services


class Command(BaseCommand):
    help = "Retry jobs whose worker died (no heartbeat for JOB_STALE_AFTER_SECONDS); fail them after JOB_MAX_ATTEMPTS."

    def handle(self, *args, **options):
        retried, failed = services.job_recover_stale()
        self.stdout.write(f"{retried} job(s) retried, {failed} job(s) failed.")
