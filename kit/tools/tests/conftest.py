import pytest


def pytest_configure(config: pytest.Config) -> None:
    """The ``slow`` marker: tests that run nox in a temporary copy of the kit (minutes)."""
    config.addinivalue_line(
        "markers", "slow: runs nox sessions in a temporary copy of the kit (minutes)"
    )
