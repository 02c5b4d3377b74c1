"""The signed-in person is read through taskboard.accounts.backends.AccountBackend (a compiled query);
sessions Django's ModelBackend signed in before it came keep working, and a refused password is
hashed once, not once per backend."""

from django.contrib.auth import BACKEND_SESSION_KEY
from django.urls import reverse

from tests.factories import UserFactory


def test_a_sign_in_is_recorded_with_the_account_backend_and_serves_pages(client, db):
    UserFactory(email="ann@example.com")
    response = client.post(reverse("accounts:login"), {"username": "ann@example.com", "password": "pw"})
    assert response.status_code == 302
    assert client.session[BACKEND_SESSION_KEY] == "taskboard.accounts.backends.AccountBackend"
    assert client.get("/work/").status_code == 200


def test_a_session_signed_in_by_djangos_model_backend_still_works(client, db):
    user = UserFactory(email="old@example.com")
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/work/").status_code == 200


def test_a_deactivated_person_is_signed_out_on_the_next_request(client, db):
    user = UserFactory(email="gone@example.com")
    client.force_login(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    response = client.get("/work/")
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_a_wrong_password_is_refused(client, db):
    UserFactory(email="ann@example.com")
    response = client.post(reverse("accounts:login"), {"username": "ann@example.com", "password": "nope"})
    assert response.status_code == 200 and BACKEND_SESSION_KEY not in client.session
