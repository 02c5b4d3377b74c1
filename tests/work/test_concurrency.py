"""50 annotators pulling at once never receive the same item, on whichever database the run uses
(PostgreSQL's row locks; SQLite's one writer at a time, each thread waiting for the lock)."""

from tests.work import concurrency


def test_fifty_pullers_never_share_an_item(transactional_db):
    task, people = concurrency.build(users=50, items=300)
    report = concurrency.run(task, people)
    print(report)
    assert report["errors"] == []
    assert report["held_by_two"] == 0
    assert report["claimed_twice"] == 0
    assert report["items"] == 300 and report["counted"] == 300
    assert report["queue_left"] == 0 and report["completed"] == 300
