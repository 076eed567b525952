"""The events: fields, defaults, and the push kind."""

from __future__ import annotations

import pytest

from tidewire_resp import Command, MonitorOutput, Push, Reply, SimpleString


def test_reply_defaults() -> None:
    assert Reply(1) == Reply(1, None, -1)
    assert Reply(1, request=3).request == 3


def test_push_kind() -> None:
    assert Push([b"message", b"c", b"m"]).kind == b"message"
    assert type(Push([SimpleString(b"pubsub")]).kind) is bytes
    assert Push([]).kind is None
    assert Push([1]).kind is None


def test_events_are_immutable_values() -> None:
    command = Command((b"GET", b"k"))
    assert command == Command(args=(b"GET", b"k"))
    assert MonitorOutput(b"x").line == b"x"
    with pytest.raises(AttributeError):
        command.args = ()  # type: ignore[misc]
