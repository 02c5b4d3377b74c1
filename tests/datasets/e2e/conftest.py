import pytest

from tests.e2e.conftest import browser_page, chromium_browser, login_as, screenshot  # noqa: F401


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/datasets/e2e/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.e2e)
