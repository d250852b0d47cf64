"""connect() and the credential rules of firestore_verify.config.

Production paths are exercised with ``env=`` (never the real environment, never
real credentials): a throwaway RSA key proves the key pair path builds a Store
without touching the network.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import firestore_verify as fv
from firestore_verify.config import resolve_settings
from firestore_verify.testing import FirestoreEmulator

EMAIL = "bot@throwaway-project.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def private_key_pem() -> str:
    """A syntactically valid RSA key that signs for nothing anywhere."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def key_file(tmp_path: Path, pem: str, **overrides: object) -> Path:
    data: dict[str, object] = {
        "type": "service_account",
        "project_id": "key-project",
        "private_key_id": "0" * 40,
        "private_key": pem,
        "client_email": EMAIL,
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    data.update(overrides)
    data = {k: v for k, v in data.items() if v is not None}
    path = tmp_path / "key.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# -- emulator -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_emulator_host_argument_reaches_the_emulator(
    firestore_emulator: FirestoreEmulator, firestore_project: str
) -> None:
    async with await fv.connect(
        project=firestore_project, emulator_host=firestore_emulator.host, env={}
    ) as store:
        assert store.settings.emulator_host == firestore_emulator.host
        assert store.settings.service_account is None
        assert not store.settings.use_application_default
        await store.owners.create(fv.Owner(id=1, username="alice"))
        assert (await store.owners.get(1)).username == "alice"
        assert "emulator" in repr(store)


@pytest.mark.anyio
async def test_emulator_host_and_project_from_env(
    firestore_emulator: FirestoreEmulator, firestore_project: str
) -> None:
    env = {"FIRESTORE_EMULATOR_HOST": firestore_emulator.host,
           "FIREBASE_PROJECT_ID": firestore_project}
    async with await fv.connect(env=env) as store:
        assert store.project == firestore_project
        assert store.settings.emulator_host == firestore_emulator.host
        await store.owners.create(fv.Owner(id=2))
    # The data really went to that project: another connection sees it.
    async with await fv.connect(project=firestore_project,
                                emulator_host=firestore_emulator.host) as other:
        assert await other.owners.exists(2)


def test_emulator_ignores_production_credentials() -> None:
    settings = resolve_settings(
        project="p", database="(default)", credentials_file="/nonexistent/key.json",
        emulator_host="127.0.0.1:8080", env={"FIREBASE_CLIENT_EMAIL": EMAIL},
    )
    assert settings.emulator_host == "127.0.0.1:8080"
    assert settings.service_account is None


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:port", ":"])
def test_bad_emulator_host(host: str) -> None:
    with pytest.raises(fv.ConfigurationError, match="HOST:PORT"):
        resolve_settings(project="p", database="(default)", credentials_file=None,
                         emulator_host=host, env={})


def test_emulator_without_project() -> None:
    with pytest.raises(fv.ConfigurationError, match="no project id to connect the emulator"):
        resolve_settings(project=None, database="(default)", credentials_file=None,
                         emulator_host=None, env={"FIRESTORE_EMULATOR_HOST": "127.0.0.1:1"})


@pytest.mark.parametrize("database", ["", "a/b"])
def test_bad_database_id(database: str) -> None:
    with pytest.raises(fv.ConfigurationError, match="database id"):
        resolve_settings(project="p", database=database, credentials_file=None,
                         emulator_host="127.0.0.1:1", env={})


# -- production credentials -----------------------------------------------------------


@pytest.mark.anyio
async def test_key_pair_from_env_builds_a_store(private_key_pem: str) -> None:
    # Keys pasted into .env files carry literal "\n": those must be accepted too.
    env = {
        "FIREBASE_CLIENT_EMAIL": EMAIL,
        "FIREBASE_PRIVATE_KEY": private_key_pem.replace("\n", "\\n"),
        "FIREBASE_PROJECT_ID": "prod-project",
    }
    store = await fv.connect(env=env, prefix="app_")
    try:
        assert store.project == "prod-project"
        assert store.settings.emulator_host is None
        assert store.settings.service_account is not None
        assert store.settings.service_account["private_key"] == private_key_pem
        assert store.client._emulator_host is None  # never the emulator, even in tests
        assert store.client._credentials.service_account_email == EMAIL
        assert store.collection("owners").id == "app_owners"
        assert "cloud" in repr(store)
    finally:
        await store.close()


@pytest.mark.anyio
async def test_key_file_builds_a_store(tmp_path: Path, private_key_pem: str) -> None:
    path = key_file(tmp_path, private_key_pem)
    store = await fv.connect(credentials_file=path, env={})
    try:
        assert store.project == "key-project"  # taken from the key
        assert store.client._credentials.service_account_email == EMAIL
    finally:
        await store.close()


def test_google_application_credentials_is_read(tmp_path: Path, private_key_pem: str) -> None:
    path = key_file(tmp_path, private_key_pem, project_id="gac-project")
    settings = resolve_settings(project=None, database="(default)", credentials_file=None,
                                emulator_host=None,
                                env={"GOOGLE_APPLICATION_CREDENTIALS": str(path)})
    assert settings.project == "gac-project"
    assert settings.service_account is not None
    assert settings.service_account["client_email"] == EMAIL


def test_application_default_when_nothing_else() -> None:
    settings = resolve_settings(project="p", database="(default)", credentials_file=None,
                                emulator_host=None, env={})
    assert settings.use_application_default
    assert settings.service_account is None


@pytest.mark.parametrize(
    ("present", "missing"),
    [("FIREBASE_CLIENT_EMAIL", "FIREBASE_PRIVATE_KEY"),
     ("FIREBASE_PRIVATE_KEY", "FIREBASE_CLIENT_EMAIL")],
)
@pytest.mark.anyio
async def test_missing_partner_variable(present: str, missing: str) -> None:
    with pytest.raises(fv.ConfigurationError) as info:
        await fv.connect(project="p", env={present: "x"})
    message = str(info.value)
    assert f"{missing} is not set" in message
    assert "FIREBASE_CLIENT_EMAIL and FIREBASE_PRIVATE_KEY" in message


@pytest.mark.anyio
async def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(fv.ConfigurationError, match=r"does not exist.*Firebase console"):
        await fv.connect(project="p", credentials_file=tmp_path / "nope.json", env={})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a readable JSON key"),
        ("[1, 2]", "not a service-account key"),
        (json.dumps({"type": "authorized_user"}), "'type' must be 'service_account'"),
        (json.dumps({"type": "service_account", "client_email": EMAIL}), "no 'private_key'"),
    ],
)
@pytest.mark.anyio
async def test_bad_key_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "key.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(fv.ConfigurationError, match=message) as info:
        await fv.connect(project="p", credentials_file=path, env={})
    assert str(path) in str(info.value)


@pytest.mark.anyio
async def test_bad_key_file_from_google_application_credentials(tmp_path: Path) -> None:
    path = tmp_path / "gac.json"
    path.write_text("garbage", encoding="utf-8")
    with pytest.raises(fv.ConfigurationError, match="not a readable JSON key"):
        await fv.connect(project="p", env={"GOOGLE_APPLICATION_CREDENTIALS": str(path)})


@pytest.mark.anyio
async def test_unparseable_private_key() -> None:
    env = {"FIREBASE_CLIENT_EMAIL": EMAIL, "FIREBASE_PRIVATE_KEY": "not a pem key",
           "FIREBASE_PROJECT_ID": "p"}
    with pytest.raises(fv.ConfigurationError, match="could not load Google service-account key"):
        await fv.connect(env=env)


@pytest.mark.anyio
async def test_credentials_file_and_env_key_together(
    tmp_path: Path, private_key_pem: str
) -> None:
    path = key_file(tmp_path, private_key_pem)
    env = {"FIREBASE_CLIENT_EMAIL": EMAIL, "FIREBASE_PRIVATE_KEY": private_key_pem}
    with pytest.raises(fv.ConfigurationError, match="not both"):
        await fv.connect(credentials_file=path, env=env)


@pytest.mark.anyio
async def test_project_contradicts_key_file(tmp_path: Path, private_key_pem: str) -> None:
    path = key_file(tmp_path, private_key_pem, project_id="key-project")
    with pytest.raises(fv.ConfigurationError) as info:
        await fv.connect(project="other-project", credentials_file=path, env={})
    assert "'other-project' does not match" in str(info.value)
    assert "'key-project'" in str(info.value)


@pytest.mark.anyio
async def test_env_project_contradicts_key_file(tmp_path: Path, private_key_pem: str) -> None:
    path = key_file(tmp_path, private_key_pem, project_id="key-project")
    with pytest.raises(fv.ConfigurationError, match="does not match"):
        await fv.connect(credentials_file=path, env={"FIREBASE_PROJECT_ID": "env-project"})


@pytest.mark.anyio
async def test_argument_project_contradicts_env_key_project(private_key_pem: str) -> None:
    env = {"FIREBASE_CLIENT_EMAIL": EMAIL, "FIREBASE_PRIVATE_KEY": private_key_pem,
           "FIREBASE_PROJECT_ID": "env-project"}
    with pytest.raises(fv.ConfigurationError, match="does not match"):
        await fv.connect(project="arg-project", env=env)


@pytest.mark.anyio
async def test_no_project_anywhere(private_key_pem: str) -> None:
    env = {"FIREBASE_CLIENT_EMAIL": EMAIL, "FIREBASE_PRIVATE_KEY": private_key_pem}
    with pytest.raises(fv.ConfigurationError) as info:
        await fv.connect(env=env)
    assert "no project id to connect Firestore" in str(info.value)
    assert "FIREBASE_PROJECT_ID" in str(info.value)
    with pytest.raises(fv.ConfigurationError, match="no project id"):
        await fv.connect(env={})  # application default credentials, no project either


def test_project_variables_in_order() -> None:
    env = {"GCLOUD_PROJECT": "c", "GOOGLE_CLOUD_PROJECT": "b", "FIREBASE_PROJECT_ID": "a"}
    assert resolve_settings(project=None, database="(default)", credentials_file=None,
                            emulator_host=None, env=env).project == "a"
    del env["FIREBASE_PROJECT_ID"]
    assert resolve_settings(project=None, database="(default)", credentials_file=None,
                            emulator_host=None, env=env).project == "b"
    assert resolve_settings(project="arg", database="(default)", credentials_file=None,
                            emulator_host=None, env=env).project == "arg"
