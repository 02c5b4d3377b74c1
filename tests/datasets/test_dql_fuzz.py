"""Whatever JSON arrives, the DQL walk either answers or raises DQLError: never a
database error, a FieldError or a TypeError from deeper down."""

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskboard.annotation.dql import FIELDS, OPERATORS, DQLError, dql_items

FIELD_NAMES = [*FIELDS, "metadata.user.batch", "metadata.a.b.c", "created_by__password", "$where", "name__regex", "x"]
OPERATOR_KEYS = [*sorted(OPERATORS), "$regex", "id", "type", "metadata", "status"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["/city/**", "*.jpg", "000000000000000000000001", "01000000000000000000000a", "2024-01-01"]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(OPERATOR_KEYS), children, max_size=3),
    ),
    max_leaves=12,
)
clauses = st.dictionaries(st.sampled_from(FIELD_NAMES), values, min_size=1, max_size=2)
nodes = st.recursive(
    clauses,
    lambda children: st.dictionaries(st.sampled_from(["$and", "$or"]), st.lists(children, max_size=3), min_size=1),
    max_leaves=8,
)


@pytest.mark.django_db
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.one_of(nodes, values))
def test_any_json_either_answers_or_raises_dql_error(dataset, query):
    with contextlib.suppress(DQLError):
        dql_items(query, dataset=dataset).count()
