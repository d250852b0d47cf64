import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Run anyio tests on asyncio only: google-cloud-firestore's AsyncClient needs it."""
    return "asyncio"
