"""trio-only tests run on trio whatever ``--adapter`` says (MockClock for virtual time)."""

import pytest
import trio.testing


@pytest.fixture
def anyio_backend(request):
    if "virtual_clock" in request.fixturenames or request.node.get_closest_marker("virtual_clock"):
        return ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})
    return "trio"
