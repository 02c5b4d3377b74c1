"""`manage.py devserver`: Django's runserver (static files included) that also reads request bodies sent
with `Transfer-Encoding: chunked`, as dtlpy sends item uploads. runserver hands Django such a body as
empty (it reads only Content-Length bytes), so `dataset.items.upload` would find no file; `make run`
serves with this instead. gunicorn reads chunked bodies itself (taskboard/chunked.py does the rest)."""

import io

from django.conf import settings
from django.contrib.staticfiles.management.commands.runserver import Command as RunserverCommand
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer

from taskboard.chunked import dechunk


class ChunkedRequestHandler(WSGIRequestHandler):
    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if chunked and not self.headers.get("Content-Length"):
            body = io.BytesIO()
            try:
                length = dechunk(
                    self.rfile, settings.ITEM_UPLOAD_MAX_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE, body
                )
            except OverflowError:
                self.send_error(413)
                return False
            except ValueError:
                self.send_error(400, "The chunked request body could not be read.")
                return False
            body.seek(0)
            # The connection closes after this request: what is left of the socket's stream is not read.
            self.rfile = body
            self.close_connection = True
            del self.headers["Transfer-Encoding"]
            self.headers["Content-Length"] = str(length)
        return True


class ChunkedWSGIServer(WSGIServer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.RequestHandlerClass = ChunkedRequestHandler


class Command(RunserverCommand):
    help = "Serve for development, as runserver does, reading chunked request bodies too (dtlpy uploads)."
    server_cls = ChunkedWSGIServer
