"""tidewire-speedups builds with a C compiler, fails clearly without one, and breaks nothing.

The machine without a compiler is this one with ``PATH`` cut down to the
fresh venv's own ``bin``: no ``gcc``, ``cc`` or ``clang`` to be found, as on a
slim container. pip still builds in isolation, fetching setuptools from PyPI.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLEAR = "tidewire-speedups could not be built: it is a C extension and needs a working"


def _fresh_copy(tmp_path: Path) -> Path:
    """The distribution's sources alone, as a user gets them: no build/ left by an earlier build."""
    copy = tmp_path / "speedups"
    ignore = shutil.ignore_patterns("build", "*.so", "*.pyd", "*.egg-info", "__pycache__")
    shutil.copytree(ROOT / "packages" / "speedups", copy, ignore=ignore)
    return copy


def test_without_a_compiler_the_install_fails_clearly_and_nothing_else_breaks(
    make_venv, run_ok, tmp_path
):
    source = _fresh_copy(tmp_path)
    venv = make_venv()
    env = venv.env()
    env["PATH"] = str(venv.path / "bin")
    env.pop("CC", None)
    assert not any(shutil.which(cc, path=env["PATH"]) for cc in ("gcc", "cc", "clang"))
    pip = [str(venv.python), "-m", "pip", "install", "--no-cache-dir"]
    failed = subprocess.run([*pip, source], cwd=ROOT, env=env, capture_output=True, text=True)
    assert failed.returncode != 0
    assert CLEAR in failed.stdout + failed.stderr, failed.stdout + failed.stderr
    # The extra is opt-in: asking for it fails the same way, and says why.
    failed = subprocess.run(
        [*pip, "./packages/base", source, "./packages/websocket[speedups]"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert failed.returncode != 0
    assert CLEAR in failed.stdout + failed.stderr
    # Nothing else needs a compiler: the core installs and runs its pure path.
    run_ok(*pip, "./packages/base", "./packages/websocket", cwd=ROOT, env=env)
    check = "from tidewire_websocket import frames; print(frames.SPEEDUPS_ACTIVE)"
    assert run_ok(venv.python, "-c", check, cwd=tmp_path, env=env).strip() == "False"


def test_with_a_compiler_it_builds_and_the_core_uses_it(make_venv, run_ok, tmp_path):
    source = _fresh_copy(tmp_path)
    venv = make_venv()
    env = venv.env()
    pip = [str(venv.python), "-m", "pip", "install", "--no-cache-dir"]
    run_ok(*pip, "./packages/base", source, "./packages/websocket[speedups]", cwd=ROOT, env=env)
    check = "from tidewire_websocket import frames; print(frames.SPEEDUPS_ACTIVE)"
    assert run_ok(venv.python, "-c", check, cwd=tmp_path, env=env).strip() == "True"
    env["TIDEWIRE_NO_SPEEDUPS"] = "1"
    assert run_ok(venv.python, "-c", check, cwd=tmp_path, env=env).strip() == "False"
