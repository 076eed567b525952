"""How the WebSocket core picks its masking path, and how to tell which it runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import tidewire_speedups
from tidewire_websocket import frames, unmask
from tidewire_websocket.frames import SPEEDUPS_ACTIVE, load_speedups, pure_unmask

WANTS_PURE = os.environ.get("TIDEWIRE_NO_SPEEDUPS", "") not in ("", "0")


def test_the_active_path_is_the_one_the_environment_asked_for():
    assert SPEEDUPS_ACTIVE is not WANTS_PURE
    assert unmask is frames.unmask
    assert unmask is (pure_unmask if WANTS_PURE else tidewire_speedups.xor_mask)


@pytest.mark.parametrize("value", ["", "0"])
def test_the_accelerator_is_used_when_installed_and_not_disabled(value):
    assert load_speedups({"TIDEWIRE_NO_SPEEDUPS": value}) is tidewire_speedups
    assert load_speedups({}) is tidewire_speedups


@pytest.mark.parametrize("value", ["1", "yes", "true"])
def test_tidewire_no_speedups_forces_the_pure_path(value):
    assert load_speedups({"TIDEWIRE_NO_SPEEDUPS": value}) is None


def test_without_the_accelerator_the_pure_path_is_used(monkeypatch):
    monkeypatch.setitem(sys.modules, "tidewire_speedups", None)  # import fails
    assert load_speedups({}) is None


@pytest.mark.parametrize(("value", "active"), [("1", "False"), ("0", "True"), (None, "True")])
def test_the_switch_is_read_once_at_import(value, active):
    env = {k: v for k, v in os.environ.items() if k != "TIDEWIRE_NO_SPEEDUPS"}
    if value is not None:
        env["TIDEWIRE_NO_SPEEDUPS"] = value
    code = "from tidewire_websocket.frames import SPEEDUPS_ACTIVE; print(SPEEDUPS_ACTIVE)"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == active
