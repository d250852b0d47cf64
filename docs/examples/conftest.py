import pytest


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    # google-cloud-firestore's AsyncClient runs on asyncio only.
    return "asyncio"
