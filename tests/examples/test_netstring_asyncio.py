import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "netstring_asyncio.py"


@pytest.mark.anyio
async def test_the_tutorial_core_runs_on_asyncio():
    spec = importlib.util.spec_from_file_location("netstring_asyncio", EXAMPLE)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["netstring_asyncio"] = module
    spec.loader.exec_module(module)
    assert await module.main() == [b"HELLO", b"NETSTRINGS"]


@pytest.fixture
def anyio_backend():
    return "asyncio"
