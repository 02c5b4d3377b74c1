"""Locust users for tests/load: annotators pulling and setting statuses, managers reading dashboards.

Started by test_load.py and test_pg_restart.py, with LOAD_SEED (the seed's JSON: emails, password,
assignment and task ids) and optionally LOAD_REQUEST_LOG (a JSON line per request: start time,
duration, name, status) in the environment. Each user signs in through the real form
(GET /accounts/login/ for the CSRF cookie, POST username/password) and then, as the pages do:

Annotators (one per seeded annotator), by weight:
  6  status on the item held in the pulling task: POST …/items/<id>/status/ (completed, or discard
     one time in seven) with the form's CSRF token, then GET the next item it redirects to; the status
     change refills the assignment from the queue when few items are left (the pulling claim);
  3  open the pulling assignment: GET /work/assignments/<id>/ (302 to the first open item), GET it,
     and press "Get more items" (POST …/more/) when the page offers it (the button is enabled);
  2  the same status change in the equally split annotation task;
  2  "My work": GET /work/.
Managers (two), by weight:
  3  the pulling task's dashboard, polled as htmx does (HX-Request: the #live fragment);
  2  the task page's progress fragment (GET /tasks/<id>/?part=progress with HX-Request);
  1  the task dashboard in full;
  1  the project dashboard, in full and as its htmx poll.
Any 5xx, connection error or unexpected status is a locust failure; the request log keeps the codes.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re

from locust import HttpUser, between, events, task

with open(os.environ["LOAD_SEED"]) as _seed:
    SEED = json.load(_seed)
_annotators = itertools.cycle(SEED["annotators"])
_managers = itertools.cycle(SEED["managers"])

STATUS_FORM = re.compile(r'action="(/work/assignments/\d+/items/\d+/status/)"')
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
GET_MORE = re.compile(r"<button[^>]*data-shortcut=\"g\"[^>]*>")

# Open for the life of the locust process; line-buffered so that the test can read it while locust runs.
_log = open(os.environ["LOAD_REQUEST_LOG"], "a", buffering=1) if os.environ.get("LOAD_REQUEST_LOG") else None  # noqa: SIM115


@events.request.add_listener
def _record(request_type, name, response_time, response_length, response=None, exception=None, **kwargs):
    if _log is None:
        return
    status = getattr(response, "status_code", 0) or 0
    row = {
        "t": kwargs.get("start_time"),
        "ms": response_time,
        "method": request_type,
        "name": name,
        "status": status,
        "error": (str(exception)[:200] if exception else None),
    }
    _log.write(json.dumps(row) + "\n")


class Browser(HttpUser):
    abstract = True
    email = ""

    def on_start(self):
        self.csrf = ""
        self.logged_in = False
        self.login()

    def login(self) -> bool:
        page = self.fetch("/accounts/login/", "login page")
        if page is None:
            return False
        token = self.client.cookies.get("csrftoken", "")
        with self.client.post(
            "/accounts/login/",
            data={"username": self.email, "password": SEED["password"], "csrfmiddlewaretoken": token},
            headers={"X-Load-Name": "login"},
            name="login",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code == 302:
                response.success()
                self.logged_in = True
                self.csrf = self.client.cookies.get("csrftoken", "")
            elif response.status_code == 429:
                response.failure("throttled: 429 on a correct password")
            else:
                response.failure(f"sign-in refused: {response.status_code}")
        return self.logged_in

    def call(self, method: str, url: str, name: str, expect=(200,), **kwargs):
        """One request, no redirects followed; anything but `expect` is a failure. Returns the
        response when it was expected, else None. The name also goes to the server (X-Load-Name), so
        that the server's own per-request figures can be grouped the same way."""
        kwargs["headers"] = {**kwargs.get("headers", {}), "X-Load-Name": name}
        with self.client.request(
            method, url, name=name, allow_redirects=False, catch_response=True, **kwargs
        ) as response:
            if response.status_code == 302 and "/accounts/login/" in response.headers.get("Location", ""):
                self.logged_in = False  # the session is gone: sign in again before the next action
                response.failure("sent to sign-in")
                return None
            if response.status_code in expect:
                response.success()
                return response
            response.failure(f"{response.status_code} (expected {'/'.join(map(str, expect))})")
            return None

    def fetch(self, url: str, name: str, expect=(200,), **kwargs):
        return self.call("GET", url, name, expect=expect, **kwargs)

    def submit(self, url: str, name: str, data: dict, expect=(302,)):
        data = {**data, "csrfmiddlewaretoken": self.csrf or self.client.cookies.get("csrftoken", "")}
        return self.call("POST", url, name, expect=expect, data=data)

    def ready(self) -> bool:
        return self.logged_in or self.login()


class Annotator(Browser):
    weight = 1
    wait_time = between(0.5, 1.5)

    def on_start(self):
        me = next(_annotators)
        self.email = me["email"]
        self.assignments = {"pull": me["pulling_assignment"], "split": me["split_assignment"]}
        self.status_url = {"pull": None, "split": None}
        self.may_pull = False
        super().on_start()

    def _item_page(self, kind: str, url: str) -> None:
        page = self.fetch(url, "work item")
        if page is None:
            self.status_url[kind] = None
            return
        html = page.text
        form = STATUS_FORM.search(html)
        self.status_url[kind] = form.group(1) if form else None
        token = CSRF_INPUT.search(html)
        if token:
            self.csrf = token.group(1)
        if kind == "pull":
            button = GET_MORE.search(html)
            self.may_pull = bool(button) and "disabled" not in button.group(0)

    def _open(self, kind: str) -> None:
        response = self.fetch(f"/work/assignments/{self.assignments[kind]}/", f"{kind}: open assignment", (200, 302))
        if response is None:
            self.status_url[kind] = None
        elif response.status_code == 302:
            self._item_page(kind, response.headers["Location"])
        else:
            self.status_url[kind] = None

    def _status(self, kind: str) -> None:
        if not self.status_url[kind]:
            self._open(kind)
        if not self.status_url[kind]:
            return
        status = "discard" if random.random() < 1 / 7 else "completed"
        response = self.submit(self.status_url[kind], f"{kind}: set status", {"status": status})
        if response is None:
            self.status_url[kind] = None
            return
        self._item_page(kind, response.headers["Location"])

    @task(6)
    def pull_status(self):
        if self.ready():
            self._status("pull")

    @task(3)
    def pull_open_and_get_more(self):
        if not self.ready():
            return
        self._open("pull")
        if self.may_pull:
            response = self.submit(f"/work/assignments/{self.assignments['pull']}/more/", "pull: get more", {})
            self.may_pull = False
            if response is not None:
                self._open("pull")

    @task(2)
    def split_status(self):
        if self.ready():
            self._status("split")

    @task(2)
    def my_work(self):
        if self.ready():
            self.fetch("/work/", "my work")


class Manager(Browser):
    fixed_count = 2
    wait_time = between(1, 3)
    htmx = {"HX-Request": "true"}

    def on_start(self):
        self.email = next(_managers)
        super().on_start()

    @task(3)
    def task_dashboard_poll(self):
        if self.ready():
            url = f"/dashboards/tasks/{SEED['pulling_task_id']}/"
            self.fetch(url, "task dashboard poll (htmx)", headers=self.htmx)

    @task(2)
    def task_progress_poll(self):
        if self.ready():
            task_id = random.choice([SEED["pulling_task_id"], SEED["split_task_id"]])
            self.fetch(f"/tasks/{task_id}/?part=progress", "task progress poll (htmx)", headers=self.htmx)

    @task(1)
    def task_dashboard(self):
        if self.ready():
            self.fetch(f"/dashboards/tasks/{SEED['pulling_task_id']}/", "task dashboard")

    @task(1)
    def project_dashboard(self):
        if self.ready():
            url = f"/dashboards/projects/{SEED['project_id']}/"
            self.fetch(url, "project dashboard")
            self.fetch(url, "project dashboard poll (htmx)", headers=self.htmx)
