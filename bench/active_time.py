"""Benchmark: honest active time against a script's truth.

    .venv/bin/python bench/active_time.py                    # SQLite file /tmp/tb_active_time.sqlite3
    .venv/bin/python bench/active_time.py --people 5 --hours 2
    .venv/bin/python bench/active_time.py --jobs 4         # four processes, each a database of its own
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tb_active_time .venv/bin/python bench/active_time.py

Replays scripted work days (default 50 people, 8 hours of real work each) with known work spans and
idle spans, and compares the active time the server records with the script's truth.

The script, per person (seeded): work spans of 1 to 50 minutes, each a stream of input events 0.2
to 8 s apart with now and then (1 in 100) a pause to read or think (15 s to 4 min, part of the work); the person
opens the next item every 20 s to 3 minutes of work. Between spans, idle breaks: short ones (20 s to
5 min), coffee (5 to 20 min), lunch (30 to 60 min) and once a day hours away. The truth is the sum
of the work spans (first to last event); every break is idle in the truth, even the ones shorter
than the cut-off. A break is taken in another window or tab (the work view loses the focus or is
hidden 1 to 10 s after the last input) with probability `--leave` (default one in two), or away
from the desk with the work view left as it is. The rule cannot tell a break of the second kind
shorter than the cut-off from a pause to think, so those count as work and show up as error (the
run prints how much; `--leave 0` is a day in which nobody ever switches windows).

Each event goes through the browser's logic (`static/taskboard/js/work.js`, reproduced below: a
mark at most every 2 s, the last input flushed with the beat, a beat every 15 s from the page's load
while there is something to report, one when leaving the page, and one that ends the span when
the page loses the focus or is hidden) and each beat through the work view's path: `BeatForm`
parses the comma-separated ages and the end, `services.item_time_beat` records them with `now` set
to the beat's scripted time. Measured is what the heartbeats recorded (the running totals the
dashboards read); the recount from the marks by the reports' window query is printed beside it.
"""

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskboard.settings")
os.environ.setdefault("DATABASE_URL", "sqlite:////tmp/tb_active_time.sqlite3")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + "x" * 32)
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("TASK_JOB_THRESHOLD", str(10**9))

import django  # noqa: E402

django.setup()

import datetime  # noqa: E402

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Sum  # noqa: E402
from pgbench_setup import reset_database  # noqa: E402

from taskboard.accounts.models import User  # noqa: E402
from taskboard.annotation.creation import task_create  # noqa: E402
from taskboard.annotation.models import TaskItem  # noqa: E402
from taskboard.annotation.selection import Selection  # noqa: E402
from taskboard.annotation.spec import TaskSpec, equal_people  # noqa: E402
from taskboard.datasets.models import Dataset, Item, Recipe  # noqa: E402
from taskboard.projects.models import Membership, Project, Role  # noqa: E402
from taskboard.quality.activity import active_seconds_by_person_task  # noqa: E402
from taskboard.quality.models import DEFAULT_IDLE_CUTOFF_SECONDS, ProjectQuality  # noqa: E402
from taskboard.work.forms import BeatForm  # noqa: E402
from taskboard.work.models import AssignmentTime  # noqa: E402
from taskboard.work.services import item_time_beat  # noqa: E402

MARK_EVERY_MS = 2000  # work.js
BEAT_EVERY_MS = 15000  # work.js
ITEMS_PER_PERSON = 400


def log(msg: str) -> None:
    print(msg, flush=True)


def log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


INPUT, OPEN, LEAVE = "input", "open", "leave"


def script_day(rng: random.Random, work_hours: float, leave: float) -> tuple[list[tuple[int, str]], float, float]:
    """A person's events as (ms since the day's start, what happens), the truth in seconds, and the
    seconds of breaks shorter than the cut-off taken without leaving the work view."""
    events: list[tuple[int, str]] = []
    unseen = 0.0
    t = 0.0
    truth = 0.0
    goal = work_hours * 3600
    lunch_done = False
    long_break_done = False
    next_item_in = 0.0
    while goal - truth > 0.001:  # not `truth < goal`: a span under a float step of t adds nothing
        span = min(log_uniform(rng, 60, 3000), goal - truth)
        start, end = t, t + span
        first = True
        while t < end:
            opens = first or next_item_in <= 0
            if opens:
                next_item_in = rng.uniform(20, 180)
            events.append((int(t * 1000), OPEN if opens else INPUT))
            first = False
            step = rng.uniform(15, 240) if rng.random() < 0.01 else rng.uniform(0.2, 8)
            step = min(step, max(end - t, 0.001)) if t + step > end else step
            t += step
            next_item_in -= step
        events.append((int(end * 1000), INPUT))
        t = end
        truth += end - start
        # A break.
        r = rng.random()
        if not lunch_done and truth > goal / 2:
            idle, lunch_done = rng.uniform(1800, 3600), True
        elif not long_break_done and truth > goal * 0.75:
            idle, long_break_done = rng.uniform(2 * 3600, 4 * 3600), True
        elif r < 0.5:
            idle = log_uniform(rng, 20, 300)
        else:
            idle = rng.uniform(300, 1200)
        if rng.random() < leave:
            events.append((int((t + min(rng.uniform(1, 10), idle / 2)) * 1000), LEAVE))
        elif idle <= DEFAULT_IDLE_CUTOFF_SECONDS:
            unseen += idle
        t += idle
    return events, truth, unseen


class Page:
    """The work view's script for one open item, as work.js does it."""

    def __init__(self, loaded_ms: int):
        self.loaded = loaded_ms
        self.marks: list[int] = []
        self.last_mark = -(10**12)
        self.last_input = -(10**12)
        self.next_beat = loaded_ms + BEAT_EVERY_MS
        self.span_open = False

    def input(self, at: int) -> None:
        self.last_input = at
        if at - self.last_mark >= MARK_EVERY_MS:
            self.marks.append(at)
            self.last_mark = at

        self.span_open = True

    def payload(self, now: int) -> dict[str, str] | None:
        if not self.marks and self.last_input <= self.last_mark:
            return None
        return self._flush(now)

    def _flush(self, now: int) -> dict[str, str]:
        if self.last_input > self.last_mark:
            self.marks.append(self.last_input)
            self.last_mark = self.last_input
        ages = ",".join(str(max(0, now - at)) for at in self.marks)
        self.marks = []
        return {"marks": ages}

    def leave(self, now: int) -> dict[str, str] | None:
        """Blur or hidden: once per span, a beat that ends it at the last input."""
        if not self.span_open:
            return None
        self.span_open = False
        return {**self._flush(now), "ended": str(max(0, now - self.last_input))}


def build(people: int):
    if connection.vendor == "postgresql":
        reset_database("tb_active_time")  # the bench's own database, made afresh
    else:
        call_command("migrate", verbosity=0)
    project = Project.objects.create(name=f"Active time bench {time.time():.0f}")
    manager = User.objects.create(email=f"bench-manager-{project.pk}@example.com")
    Membership.objects.create(project=project, user=manager, role=Role.MANAGER)
    users = []
    for n in range(people):
        user = User.objects.create(email=f"bench-{project.pk}-{n}@example.com")
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
        users.append(user)
    dataset = Dataset.objects.create(project=project, name="bench")
    recipe = Recipe.objects.create(dataset=dataset, name="default", is_default=True)
    Item.objects.bulk_create(
        Item(dataset=dataset, dir="/", name=f"i{n:06d}.jpg", filename=f"/i{n:06d}.jpg")
        for n in range(people * ITEMS_PER_PERSON)
    )
    spec = TaskSpec(
        dataset_id=dataset.pk,
        name="Timed",
        selection=Selection(mode="all"),
        people=equal_people(u.pk for u in users),
        due_at=datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30),
        recipe_id=recipe.pk,
    )
    task = task_create(spec=spec, by=manager)
    return task, users


def replay(task, user, events, day_start: datetime.datetime) -> int:
    rows = list(
        TaskItem.objects.filter(task=task, assignment__assignee=user)
        .select_related("assignment", "task")
        .order_by("rank")
    )
    beats = 0
    item = -1
    page: Page | None = None

    def send(now_ms: int, leaving: bool = False) -> None:
        nonlocal beats
        assert page is not None
        data = page.leave(now_ms) if leaving else page.payload(now_ms)
        if data is None:
            return
        form = BeatForm(data)
        assert form.is_valid(), form.errors
        now = day_start + datetime.timedelta(milliseconds=now_ms)
        item_time_beat(
            task_item=rows[item % len(rows)],
            by=user,
            marks_ago_ms=form.cleaned_data["marks"],
            ended_ago_ms=form.cleaned_data["ended"],
            now=now,
        )
        beats += 1

    for at, what in events:
        if page is not None:
            while page.next_beat <= at:
                send(page.next_beat)
                page.next_beat += BEAT_EVERY_MS
        if what == LEAVE:
            send(at, leaving=True)
            continue
        if what == OPEN:
            if page is not None:
                send(at)  # pagehide
            item += 1
            page = Page(at)
        assert page is not None
        page.input(at)
    if page is not None:
        send(page.next_beat)
    return beats


def run_shard(args: argparse.Namespace, shard: int, shards: int) -> dict[str, float]:
    """Replay the people n with n % shards == shard (each day seeded by the run's seed and n, so the
    people are the same however the run is split) into this process's database."""
    people = [n for n in range(args.people) if n % shards == shard]
    if connection.vendor == "sqlite":
        Path(connection.settings_dict["NAME"]).unlink(missing_ok=True)
    task, users = build(len(people))
    ProjectQuality.objects.create(project=task.project, idle_cutoff_seconds=args.cutoff)
    day_start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2)
    totals = {"truth": 0.0, "unseen": 0.0, "beats": 0.0}
    started = time.perf_counter()
    for done, (n, user) in enumerate(zip(people, users, strict=True), start=1):
        events, truth, unseen = script_day(random.Random(f"{args.seed}-{n}"), args.hours, args.leave)
        totals["truth"] += truth
        totals["unseen"] += unseen
        totals["beats"] += replay(task, user, events, day_start)
        if done % 5 == 0:
            log(
                f"  shard {shard}: {done} of {len(people)} people, {totals['beats']:.0f} beats, "
                f"{time.perf_counter() - started:.0f} s"
            )
    totals["measured"] = AssignmentTime.objects.filter(task=task).aggregate(s=Sum("active_seconds"))["s"] or 0.0
    totals["recount"] = sum(row.seconds for row in active_seconds_by_person_task(task_ids=[task.pk]))
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument(
        "--leave", type=float, default=0.5, help="share of breaks taken in another window or tab (0 to 1)"
    )
    parser.add_argument(
        "--cutoff", type=int, default=DEFAULT_IDLE_CUTOFF_SECONDS, help="the project's idle cut-off, s"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="processes, each replaying a share of the people into a database of its own",
    )
    parser.add_argument("--shard", default="", help=argparse.SUPPRESS)  # "i/k": one process of a --jobs run
    args = parser.parse_args()
    started = time.perf_counter()
    if args.shard:
        shard, shards = (int(part) for part in args.shard.split("/"))
        print("SHARD " + json.dumps(run_shard(args, shard, shards)), flush=True)
        return
    if args.jobs <= 1:
        totals = run_shard(args, 0, 1)
    else:
        # Each process its own database: SQLite has one writer at a time (PostgreSQL: one database each).
        name = connection.settings_dict["NAME"]
        url = os.environ["DATABASE_URL"]
        children = []
        for shard in range(args.jobs):
            env = dict(os.environ, DATABASE_URL=url.replace(Path(name).name, f"{Path(name).name}_{shard}"))
            command = [sys.executable, __file__, *sys.argv[1:], "--shard", f"{shard}/{args.jobs}"]
            children.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True))
        totals = {}
        for child in children:
            assert child.stdout is not None
            for line in child.stdout:
                if line.startswith("SHARD "):
                    for key, value in json.loads(line[len("SHARD ") :]).items():
                        totals[key] = totals.get(key, 0.0) + value
                else:
                    print(line, end="", flush=True)
            if child.wait() != 0:
                raise SystemExit(f"a shard failed: {child.args}")
    elapsed = time.perf_counter() - started
    truth, unseen, measured, recount = totals["truth"], totals["unseen"], totals["measured"], totals["recount"]
    beats = int(totals["beats"])
    error = 100.0 * (measured - truth) / truth
    log(
        f"people={args.people} hours>={args.hours} cutoff={args.cutoff}s beats={beats} "
        f"replay={elapsed:.1f}s ({beats / elapsed:.0f} beats/s)"
    )
    log(f"recorded by the heartbeats {measured / 3600:.2f} h, recounted from the marks {recount / 3600:.2f} h")
    log(
        f"breaks under the cut-off taken without leaving the work view (the rule counts them as work): "
        f"{unseen / 3600:.2f} h ({100.0 * unseen / truth:+.2f}% of the truth); pauses to think over the "
        f"cut-off are lost; {args.leave:.0%} of breaks taken in another window or tab"
    )
    log(
        f"FIGURE active_time people={args.people} truth_h={truth / 3600:.2f} measured_h={measured / 3600:.2f} "
        f"error_pct={error:.2f}"
    )


if __name__ == "__main__":
    main()
