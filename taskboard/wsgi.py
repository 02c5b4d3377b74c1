import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from taskboard.chunked import chunked_bodies

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskboard.settings")
application = chunked_bodies(
    get_wsgi_application(),
    # An item upload and the form around it.
    limit=lambda: settings.ITEM_UPLOAD_MAX_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
)
