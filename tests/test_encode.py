"""The writer's direct protobuf encoding refuses what it cannot encode exactly."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from firestore_verify._encode import create_write, encode_value, update_write

PATH = "projects/p/databases/(default)/documents/verifications/e1"


def test_plain_values_encode() -> None:
    value = encode_value({"a": [1, 2.5, "x", None, True],
                          "t": datetime(2026, 1, 2, tzinfo=timezone.utc)})
    fields = value.map_value.fields
    assert [v.WhichOneof("value_type") for v in fields["a"].array_value.values] == [
        "integer_value", "double_value", "string_value", "null_value", "boolean_value"]
    assert fields["t"].timestamp_value.seconds == 1767312000


@pytest.mark.parametrize("bad", [datetime(2026, 1, 2), object(), {1, 2}])
def test_unsupported_values_are_refused(bad: object) -> None:
    with pytest.raises(TypeError):
        encode_value(bad)


def test_create_is_create_only() -> None:
    write = create_write(PATH, {"user_id": 7})
    assert write.current_document.exists is False


def test_update_refuses_fields_that_need_quoting() -> None:
    with pytest.raises(TypeError, match="quoted"):
        update_write(PATH, {"a.b": 1}, datetime.now(timezone.utc))
