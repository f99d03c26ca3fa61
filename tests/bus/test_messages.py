"""The notices' wire form: the same JSON as the dicts of old, and RESYNC for anything else."""

from __future__ import annotations

import orjson
import pytest

from eventstore.messages import RESYNC, EventsAppended, ProjectionAdvanced, decode, encode


def test_the_wire_form_is_the_json_of_the_old_dicts() -> None:
    appended = EventsAppended(stream_id="o-1", version=2, first_position=4, position=5)
    advanced = ProjectionAdvanced(name="order_views", from_position=3, position=5, streams={"o-1": 2})

    assert encode(appended) == orjson.dumps({"stream_id": "o-1", "version": 2, "first_position": 4, "position": 5})
    assert encode(advanced) == orjson.dumps(
        {"name": "order_views", "from_position": 3, "position": 5, "streams": {"o-1": 2}}
    )
    assert encode(RESYNC) == orjson.dumps({"resync": True})
    assert decode(encode(appended)) == appended
    assert decode(encode(advanced)) == advanced
    assert decode(encode(RESYNC)) is RESYNC


@pytest.mark.parametrize(
    "wire",
    [b"not json", b"[1]", b"{}", b'{"n": 1}', b'{"name": "p", "from_position": "0", "position": 1}',
     b'{"stream_id": "s", "version": true, "first_position": 1, "position": 1}'],
)
def test_a_malformed_message_decodes_to_resync(wire: bytes, caplog: pytest.LogCaptureFixture) -> None:
    assert decode(wire) is RESYNC
    assert "malformed" in caplog.text
