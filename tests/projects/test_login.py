from django.urls import reverse


def test_sign_in_with_email_and_password_lands_on_home(client, manager):
    response = client.post(reverse("accounts:login"), {"username": "ALICE@example.com", "password": "pw"})
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboards:home")


def test_wrong_password_shows_the_error(client, manager):
    response = client.post(reverse("accounts:login"), {"username": "alice@example.com", "password": "nope"})
    assert response.status_code == 200
    assert b"correct email and password" in response.content or b"Please enter a correct" in response.content


def test_next_keeps_same_site_paths(client, manager, project):
    path = reverse("dashboards:project-detail", args=[project.pk])
    response = client.post(
        reverse("accounts:login") + f"?next={path}", {"username": "alice@example.com", "password": "pw", "next": path}
    )
    assert response["Location"] == path


def test_next_refuses_other_sites(client, manager):
    for bad in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        response = client.post(
            reverse("accounts:login"), {"username": "alice@example.com", "password": "pw", "next": bad}
        )
        assert response["Location"] == reverse("dashboards:home"), bad
        client.logout()


def test_login_page_does_not_echo_a_foreign_next(client, db):
    response = client.get(reverse("accounts:login") + "?next=https://evil.example/")
    assert b"evil.example" not in response.content
