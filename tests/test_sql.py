"""SQL the apps share: grouped medians in one statement, the same on PostgreSQL and SQLite."""

import statistics

import pytest

from taskboard.accounts.models import User
from taskboard.sql import medians
from tests.factories import UserFactory


@pytest.mark.django_db
def test_medians_per_group_odd_and_even():
    staff = [UserFactory(is_staff=True).pk for _ in range(3)]
    others = [UserFactory(is_staff=False).pk for _ in range(4)]
    got = medians(User.objects.filter(pk__in=staff + others), key="is_staff", value="pk")
    assert got == {True: pytest.approx(statistics.median(staff)), False: pytest.approx(statistics.median(others))}
    # The queryset's own filters and order apply; an empty one has no groups.
    assert medians(User.objects.filter(pk__in=others[:1]).order_by("-pk"), key="is_staff", value="pk") == {
        False: others[0]
    }
    assert medians(User.objects.filter(pk__in=[]), key="is_staff", value="pk") == {}
    assert medians(User.objects.filter(pk=0), key="is_staff", value="pk") == {}
