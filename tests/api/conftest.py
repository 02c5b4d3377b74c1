import pytest

from taskboard.api.auth import token_issue
from tests.factories import make_items


@pytest.fixture
def bearer():
    def headers(user, **kwargs):
        return {"authorization": f"Bearer {token_issue(user=user, **kwargs)}"}

    return headers


@pytest.fixture
def api(client, bearer):
    """JSON calls with a user's bearer token: api(user).post(path, body)."""

    class Api:
        def __init__(self, user):
            self.headers = bearer(user)

        def get(self, path, **params):
            return client.get(path, params, headers=self.headers)

        def post(self, path, body=None):
            return client.post(
                path, body if body is not None else {}, content_type="application/json", headers=self.headers
            )

        def put(self, path, body):
            return client.put(path, body, content_type="application/json", headers=self.headers)

        def patch(self, path, body):
            return client.patch(path, body, content_type="application/json", headers=self.headers)

        def delete(self, path, body=None):
            return client.delete(path, body or {}, content_type="application/json", headers=self.headers)

    return Api


@pytest.fixture
def items(dataset, recipe):
    return make_items(dataset, {"/city/day": 6, "/city/night": 4, "/highway": 4}, annotated_every=2)
