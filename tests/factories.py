"""Factories for tests: small, explicit, one per model that tests build often."""

import datetime

import factory
from django.utils import timezone

from taskboard.accounts.models import User
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
