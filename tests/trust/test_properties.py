"""Property tests holding the validators and the arithmetic to the product's rules (docs/tasks.md)."""

import datetime
from fractions import Fraction

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskboard.annotation.dql import DQLError, dql_to_q
from taskboard.annotation.forms import PeopleForm, TypeForm
from taskboard.annotation.workload import WorkloadUnit, boundaries, equal_loads, split_counts, workload_build

FIXTURES_OK = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
COUNTS: dict[str, int] = {}


def _count(name):
    COUNTS[name] = COUNTS.get(name, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def _figure():
    yield
    print("FIGURE properties " + " ".join(f"{k}={v}" for k, v in sorted(COUNTS.items())))


# ------------------------------------------------------------------ equal split and largest remainder


@given(st.integers(min_value=1, max_value=100))
def test_equal_loads_are_dtlpys(n):
    loads = equal_loads(n)
    assert len(loads) == n and sum(loads) == 100
    assert loads == [100 // n + (1 if i < 100 % n else 0) for i in range(n)]
    assert loads == sorted(loads, reverse=True)
    _count("equal_loads")


loads_strategy = st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=30)


@given(st.integers(min_value=0, max_value=10**7), loads_strategy)
def test_split_counts_follow_the_largest_remainder_method(total, loads):
    if loads == equal_loads(len(loads)):
        return  # an equal split is even: the next property
    counts = split_counts(total, loads)
    weight = sum(loads)
    assert sum(counts) == total and len(counts) == len(loads)
    for count, load in zip(counts, loads, strict=True):
        exact = Fraction(total * load, weight)
        # Each count is its exact share rounded down or up, never further.
        assert exact - 1 < count < exact + 1
    # Largest remainder, ties to the earlier assignee: whoever got the extra item had a remainder at least as
    # large as anyone who did not, and strictly larger than any earlier assignee who did not.
    rem = [Fraction(total * load, weight) - (total * load // weight) for load in loads]
    got = [counts[i] > total * loads[i] // weight for i in range(len(loads))]
    for i in range(len(loads)):
        for j in range(len(loads)):
            if got[i] and not got[j]:
                assert rem[i] > rem[j] or (rem[i] == rem[j] and i < j)
    ends = boundaries(counts)
    assert ends[-1] == total and ends == sorted(ends)
    _count("split_counts")


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=100))
def test_an_equal_split_never_differs_by_more_than_one_item(total, n):
    counts = split_counts(total, equal_loads(n))
    assert sum(counts) == total
    assert max(counts) - min(counts) <= 1
    # The first `total % n` people get the extra item.
    assert counts == sorted(counts, reverse=True)
    _count("equal_split")


# ------------------------------------------------------------------ workload validation


@given(st.lists(st.integers(min_value=-5, max_value=120), min_size=1, max_size=3))
@FIXTURES_OK
def test_workload_rules(project, annotator, annotator2, annotator3, loads):
    people = [annotator, annotator2, annotator3][: len(loads)]
    units = [WorkloadUnit(user, load) for user, load in zip(people, loads, strict=True)]
    valid = all(1 <= load <= 100 for load in loads) and sum(loads) == 100
    try:
        workload_build(project=project, workload=units, assignees=None)
    except ValidationError as error:
        assert not valid
        assert set(error.message_dict) == {"workload"}
    else:
        assert valid
    _count("workload")


# ------------------------------------------------------------------ pulling and consensus limits


small = st.one_of(st.integers(min_value=-5, max_value=210), st.just(None))


@given(small, small)
@FIXTURES_OK
def test_batch_limits(dataset, size, most):
    data = {"kind": "pulling"}
    if size is not None:
        data["batch_size"] = str(size)
    if most is not None:
        data["max_batch_workload"] = str(most)
    form = TypeForm(data, dataset=dataset)
    valid = size is not None and most is not None and 3 <= size <= 100 and size + 2 <= most <= 2 * size
    assert form.is_valid() == valid, (size, most, form.errors)
    if not valid:
        assert set(form.errors) <= {"batch_size", "max_batch_workload"} and form.errors
    _count("batch_limits")


@given(st.integers(min_value=-10, max_value=110), st.integers(min_value=-2, max_value=6))
@FIXTURES_OK
def test_consensus_limits(dataset, percentage, per_item):
    form = TypeForm(
        {"kind": "consensus", "consensus_percentage": str(percentage), "consensus_assignees": str(per_item)},
        dataset=dataset,
    )
    valid = 0 <= percentage <= 100 and per_item >= 2
    assert form.is_valid() == valid
    if not valid:
        assert set(form.errors) <= {"consensus_percentage", "consensus_assignees"}
    _count("consensus_limits")


@given(st.integers(min_value=2, max_value=5), st.integers(min_value=1, max_value=3))
@FIXTURES_OK
def test_consensus_needs_enough_assignees(
    project, dataset, recipe, manager, annotator, annotator2, annotator3, per_item, n
):
    people = [annotator, annotator2, annotator3][:n]
    due = (datetime.datetime.now() + datetime.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    form = PeopleForm(
        {
            "assignees": [str(p.pk) for p in people],
            "split": "equal",
            "due_at": due,
            "priority": "2",
            "recipe": str(recipe.pk),
            "owner": str(manager.pk),
            "name": "Consensus",
        },
        project=project,
        dataset=dataset,
        kind="consensus",
        consensus_assignees=per_item,
    )
    assert form.is_valid() == (n >= per_item), form.errors
    if n < per_item:
        assert "assignees" in form.errors
    _count("consensus_assignees")


# ------------------------------------------------------------------ DQL: anything or DQLError

FIELDS = [
    "dir",
    "name",
    "filename",
    "id",
    "createdAt",
    "annotated",
    "hidden",
    "label",
    "type",
    "metadata.user.k",
    "metadata.system.refs",
    "created_by__password",
    "_connector",
    "$and",
    "$or",
    "$in",
    "$gt",
    "x",
    "",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["/city", "/city/*", "*", "0000000000000000000000ab", "2026-01-01T00:00:00Z", "$in", "$gt"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), children, max_size=4),
    ),
    max_leaves=25,
)


@given(json_values)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_dql_parser_raises_nothing_but_dqlerror(dataset, value):
    try:
        q = dql_to_q(value, dataset=dataset)
    except DQLError:
        _count("dql_refused")
        return
    assert isinstance(q, Q)
    # And what it accepts the database runs.
    list(dataset.items.filter(q).values_list("pk", flat=True)[:1])
    _count("dql_accepted")


KNOWN = ["dir", "name", "filename", "id", "createdAt", "annotated", "hidden", "metadata.user.k", "metadata.a"]
OPS = sorted(["$eq", "$ne", "$gt", "$lt", "$gte", "$lte", "$in", "$nin", "$exists", "$match"])
operand = st.one_of(scalars, st.lists(scalars, max_size=4))
clause = st.dictionaries(
    st.sampled_from(KNOWN),
    st.one_of(scalars, st.dictionaries(st.sampled_from(OPS), operand, min_size=1, max_size=2)),
    min_size=1,
    max_size=2,
)
plausible = st.recursive(
    clause,
    lambda children: st.one_of(
        st.fixed_dictionaries({"$and": st.lists(children, max_size=3)}),
        st.fixed_dictionaries({"$or": st.lists(children, max_size=3)}),
    ),
    max_leaves=8,
)


@given(plausible)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_plausible_dql_runs_or_raises_dqlerror(dataset, value):
    try:
        q = dql_to_q(value, dataset=dataset)
    except DQLError:
        _count("dql_plausible_refused")
        return
    list(dataset.items.filter(q).values_list("pk", flat=True)[:1])
    dataset.items.filter(q).count()
    _count("dql_plausible_accepted")
