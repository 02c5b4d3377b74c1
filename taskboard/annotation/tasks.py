"""The annotation app's job runners, registered on import (by AppConfig.ready and Celery's autodiscovery)."""

from taskboard.annotation.creation import task_create_job_run

__all__ = ["task_create_job_run"]
