from dataclasses import replace

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from taskboard.annotation.spec import Load, Pulling, TaskSpec
from taskboard.annotation.workload import WorkloadUnit, equal_loads, split_counts, workload_build
from tests.factories import in_days


def test_equal_loads_follow_dtlpy():
    assert equal_loads(1) == [100]
    assert equal_loads(3) == [34, 33, 33]
    assert equal_loads(7) == [15, 15, 14, 14, 14, 14, 14]
    for n in range(1, 8):
        assert sum(equal_loads(n)) == 100


def test_split_counts_uses_largest_remainder_with_ties_to_the_earlier():
    assert split_counts(100, [34, 33, 33]) == [34, 33, 33]
    assert split_counts(10, [34, 33, 33]) == [4, 3, 3]
    assert split_counts(2, [34, 33, 33]) == [1, 1, 0]
    # 5 * 50% = 2.5 each: the tie goes to the first.
    assert split_counts(5, [50, 50]) == [3, 2]
    assert split_counts(7, [15, 15, 14, 14, 14, 14, 14]) == [1, 1, 1, 1, 1, 1, 1]
    assert split_counts(0, [50, 50]) == [0, 0]


@given(st.integers(0, 10_000), st.integers(1, 7))
def test_split_counts_always_add_up(total, n):
    counts = split_counts(total, equal_loads(n))
    assert sum(counts) == total


@given(st.integers(0, 5000), st.lists(st.integers(1, 100), min_size=1, max_size=6))
def test_split_counts_are_within_one_of_the_exact_share(total, loads):
    counts = split_counts(total, loads)
    assert sum(counts) == total
    weight = sum(loads)
    for count, load in zip(counts, loads, strict=True):
        assert abs(count - total * load / weight) < 1


def test_workload_build_accepts_members_and_makes_equal_loads(project, team):
    units = workload_build(project=project, workload=None, assignees=team)
    assert [u.load for u in units] == [34, 33, 33]


@pytest.mark.parametrize(
    "loads, field",
    [([50, 49], "workload"), ([50, 51], "workload"), ([0, 100], "workload"), ([100, 0], "workload")],
)
def test_workload_build_rejects_loads_not_summing_to_100(project, annotator, annotator2, loads, field):
    workload = [WorkloadUnit(annotator, loads[0]), WorkloadUnit(annotator2, loads[1])]
    with pytest.raises(ValidationError) as e:
        workload_build(project=project, workload=workload, assignees=None)
    assert field in e.value.message_dict


def test_workload_build_rejects_duplicates_and_outsiders(project, annotator, other_manager):
    with pytest.raises(ValidationError) as e:
        workload_build(project=project, workload=None, assignees=[annotator, annotator])
    assert "twice" in e.value.message_dict["assignees"][0]
    with pytest.raises(ValidationError) as e:
        workload_build(project=project, workload=None, assignees=[annotator, other_manager])
    assert "mallory@example.com" in e.value.message_dict["assignees"][0]
    with pytest.raises(ValidationError) as e:
        workload_build(project=project, workload=None, assignees=[])
    assert "assignees" in e.value.message_dict


def test_a_spec_naming_someone_who_does_not_exist_is_refused_beside_the_people(dataset, recipe, manager, annotator):
    ghost = Load(user_id=annotator.pk + 1_000, share=50)
    spec = TaskSpec(
        dataset_id=dataset.pk, name="Ghosts", due_at=in_days(3), people=(Load(user_id=annotator.pk, share=50), ghost)
    )
    with pytest.raises(ValidationError) as e:
        spec.check(by=manager)
    assert e.value.message_dict["assignees"] == ["Unknown person."]
    pulling = replace(spec, pulling=Pulling(batch_size=3, max_batch_workload=5))
    with pytest.raises(ValidationError) as e:
        pulling.check(by=manager)
    assert e.value.message_dict["allowed_assignees"] == ["Unknown person."]
