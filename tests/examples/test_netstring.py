import importlib.util
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidewire import LocalProtocolError, RemoteProtocolError
from tidewire.testing import ConnectionContract, Loopback, assert_split_invariant, run

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "netstring.py"
spec = importlib.util.spec_from_file_location("netstring", EXAMPLE)
assert spec and spec.loader
netstring = importlib.util.module_from_spec(spec)
sys.modules["netstring"] = netstring
spec.loader.exec_module(netstring)
Netstring = netstring.Netstring
NetstringConnection = netstring.NetstringConnection


class TestNetstringContract(ConnectionContract):
    valid_input = b"5:hello,0:,12:hello world!,"
    invalid_input = b"5:hello;"

    def make_connection(self):
        return NetstringConnection(max_length=100)

    def sendable_events(self):
        return [Netstring(b"a"), Netstring(b"")]

    def unsendable_events(self):
        return [b"raw bytes", None]


def encode(payloads):
    return b"".join(b"%d:%b," % (len(p), p) for p in payloads)


@given(st.lists(st.binary(max_size=40), max_size=8))
def test_round_trip_split_invariant(payloads):
    outcome = assert_split_invariant(lambda: NetstringConnection(max_length=40), encode(payloads))
    assert outcome.events == [Netstring(p) for p in payloads]
    assert outcome.error is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"01:a,", "bad netstring length"),
        (b"x", "must start with a digit"),
        (b"x:", "bad netstring length"),
        (b"1x:a,", "bad netstring length"),
        (b"101:", "exceeds the limit"),
        (b"1" * 30, "longer than the limit"),
    ],
)
def test_bad_input(data, message):
    outcome = assert_split_invariant(lambda: NetstringConnection(max_length=100), data)
    assert isinstance(outcome.error, RemoteProtocolError)
    assert message in outcome.error.message


def test_loopback():
    a, b = NetstringConnection(), NetstringConnection()
    pair = Loopback(a, b)
    a.send(Netstring(b"ping"))
    to_a, to_b = pair.pump()
    assert (to_a, to_b) == ([], [Netstring(b"ping")])


def test_send_rejects_other_types():
    with pytest.raises(LocalProtocolError, match="expected a Netstring"):
        NetstringConnection().send(b"x")  # type: ignore[arg-type]


def test_eof_inside_a_netstring():
    outcome = run(NetstringConnection, [b"5:he"], eof=True)
    assert isinstance(outcome.error, RemoteProtocolError)
    assert "incomplete event" in outcome.error.message


def test_main_runs(capsys):
    netstring.main()
    out = capsys.readouterr().out
    assert "received Netstring(payload=b'hello world!')" in out
    assert "to send b'6:thanks,'" in out
