"""Factories for tests: small, explicit, one per model that tests build often."""

import datetime

import factory
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.creation import task_create, task_create_start
from taskboard.annotation.selection import Selection
from taskboard.annotation.spec import Consensus, Load, Pulling, TaskSpec, equal_people, statuses_from
from taskboard.datasets.models import Dataset, Item, Label, Recipe
from taskboard.projects.models import Membership, Project, Role


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.django.Password("pw")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ANNOTATOR


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"dataset-{n}")


class RecipeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Recipe

    dataset = factory.SubFactory(DatasetFactory)
    name = "default recipe"
    is_default = True


class LabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Label

    recipe = factory.SubFactory(RecipeFactory)
    name = factory.Sequence(lambda n: f"label{n}")


class ItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Item

    dataset = factory.SubFactory(DatasetFactory)
    dir = "/"
    name = factory.Sequence(lambda n: f"img{n:05d}.jpg")


def make_items(dataset, folders: dict[str, int], *, annotated_every: int = 0) -> list[Item]:
    """Bulk-create items: {"/city/day": 10, ...}; every n-th item annotated if asked."""
    rows = []
    n = 0
    for folder, count in folders.items():
        for i in range(count):
            n += 1
            name = f"img{i:05d}.jpg"
            rows.append(
                Item(
                    dataset=dataset,
                    dir=folder,
                    name=name,
                    filename=Item.join_filename(folder, name),
                    annotated=bool(annotated_every) and n % annotated_every == 0,
                )
            )
    return Item.objects.bulk_create(rows, batch_size=1000)


def in_days(days: float) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(days=days)


def task_spec(
    *,
    dataset,
    name="",
    selection=None,
    query=None,
    task_type="annotation",
    parent=None,
    workload=None,
    assignees=None,
    due_at=None,
    priority=2,
    recipe=None,
    owner=None,
    allocation="distribution",
    batch_size=None,
    max_batch_workload=None,
    consensus_percentage=None,
    consensus_assignees=None,
    statuses=None,
    qa_intake=True,
    lock_after_due=False,
    limit=None,
    metadata=None,
    description="",
    idempotency_key=None,
    empty=False,
) -> TaskSpec:
    """A TaskSpec from the words tests think in: people (`assignees`, an equal split) or a `workload`
    of WorkloadUnit(user, load), models rather than ids, "pulling" as an allocation."""
    if selection is None and isinstance(query, dict):
        # As the API does: a DQL query stands for the filter selection it holds.
        selection = Selection(mode="filter", dql=query.get("filter", query))
    if workload is not None:
        people = tuple(Load(user_id=unit.user.pk, share=unit.load) for unit in workload)
    else:
        people = equal_people(user.pk for user in assignees or [])
    pulling = allocation == "pulling" or batch_size is not None or max_batch_workload is not None
    consensus = consensus_percentage is not None or consensus_assignees is not None
    return TaskSpec(
        dataset_id=dataset.pk,
        name=name,
        type=task_type,
        parent_id=parent.pk if parent is not None else None,
        selection=selection,
        query=query,
        limit=limit,
        people=people,
        pulling=Pulling(batch_size=batch_size, max_batch_workload=max_batch_workload) if pulling else None,
        consensus=Consensus(percentage=consensus_percentage, assignees=consensus_assignees) if consensus else None,
        due_at=due_at if due_at is not None else in_days(7),
        priority=priority,
        recipe_id=recipe.pk if recipe is not None else None,
        owner_id=owner.pk if owner is not None else None,
        statuses=statuses_from(statuses) if statuses is not None else None,
        qa_intake=qa_intake,
        lock_after_due=lock_after_due,
        description=description,
        metadata=metadata if metadata is not None else {},
        idempotency_key=idempotency_key,
        empty=empty,
    )


def create_task(*, created_by, progress=None, **kwargs):
    """Create a task through the service, from `task_spec`'s words."""
    return task_create(spec=task_spec(**kwargs), by=created_by, progress=progress)


def start_task(*, created_by, **kwargs):
    """Start creating a task as the wizard and API do: in the request, or as a job when it is large."""
    return task_create_start(spec=task_spec(**kwargs), by=created_by)
