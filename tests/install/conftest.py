"""What the packaging tests share: the distributions, a wheelhouse, fresh venvs.

These tests build and install the distributions as a user would, so they need
the network (PyPI, for hatchling and third-party dependencies such as h11) and
``build[uv]``, ``twine`` and ``virtualenv``; ``nox -s packaging`` installs them
and runs this folder once, on one Python.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Dist:
    """One distribution of the monorepo, read from its pyproject.toml."""

    path: Path
    name: str  # canonical: "tidewire-lines"
    version: str
    requires: tuple[Requirement, ...]
    extras: dict[str, tuple[Requirement, ...]]
    imports: tuple[str, ...]  # top-level import packages: ("tidewire_lines",)

    @property
    def key(self) -> str:
        return self.path.name

    @property
    def file_stem(self) -> str:
        """How sdists and wheels spell the name: ``tidewire_lines``."""
        return self.name.replace("-", "_")

    def extra_modules(self, extra: str) -> list[str]:
        """The submodules an extra exists for: ``tidewire_asyncio.lines`` for ``lines``."""
        src = self.path / "src"
        return [
            f"{package}.{extra}"
            for package in self.imports
            if (src / package / f"{extra}.py").is_file()
            or (src / package / extra / "__init__.py").is_file()
        ]


def _read_dist(pyproject: Path) -> Dist:
    project = tomllib.loads(pyproject.read_text())["project"]
    return Dist(
        path=pyproject.parent,
        name=canonicalize_name(project["name"]),
        version=project["version"],
        requires=tuple(Requirement(r) for r in project.get("dependencies", [])),
        extras={
            extra: tuple(Requirement(r) for r in reqs)
            for extra, reqs in project.get("optional-dependencies", {}).items()
        },
        imports=tuple(sorted(p.parent.name for p in pyproject.parent.glob("src/*/__init__.py"))),
    )


PYPROJECTS = sorted(ROOT.glob("packages/*/pyproject.toml")) + sorted(
    ROOT.glob("adapters/*/pyproject.toml")
)
DISTS = {dist.name: dist for dist in map(_read_dist, PYPROJECTS)}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking ``dist`` runs once per distribution, found by globbing."""
    if "dist" in metafunc.fixturenames:
        metafunc.parametrize("dist", list(DISTS.values()), ids=lambda d: d.name)


def run(*args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    """Run a command; fail the test with its whole output if it fails."""
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} (in {cwd}) exited {result.returncode}:\n"
        f"{result.stdout}\n{result.stderr}"
    )
    return result.stdout


@pytest.fixture(scope="session")
def dists() -> dict[str, Dist]:
    return DISTS


@pytest.fixture(scope="session")
def run_ok() -> Callable[..., str]:
    """``run``, for the test modules."""
    return run


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An sdist and a wheel of every distribution, as ``python -m build`` makes them.

    ``build`` makes the sdist, then the wheel from the sdist, so a file the
    sdist forgets breaks the wheel too. ``--installer uv`` only makes its
    isolated build environments faster.
    """
    out = tmp_path_factory.mktemp("wheelhouse")
    for dist in DISTS.values():
        run(sys.executable, "-m", "build", "--installer", "uv", "--outdir", out, dist.path)
    return out


@dataclass(frozen=True)
class Venv:
    """A fresh virtual environment with pip, and how to run commands in it."""

    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def env(self, find_links: Path | None = None) -> dict[str, str]:
        """The environment of a shell where this venv is activated.

        With ``find_links``, pip also looks in that folder, as if the wheels in
        it were on PyPI.
        """
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env["VIRTUAL_ENV"] = str(self.path)
        env["PATH"] = f"{self.path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        if find_links is not None:
            env["PIP_FIND_LINKS"] = f"{env.get('PIP_FIND_LINKS', '')} {find_links}".strip()
        return env


@pytest.fixture
def make_venv(tmp_path: Path) -> Callable[[], Venv]:
    """Make fresh venvs with ``virtualenv``, which seeds pip from its own wheels.

    Unlike ``python -m venv``, it needs no ``ensurepip`` (Debian ships that
    apart, in python3-venv), so it works on the bare machine CI starts from.
    """
    count = 0

    def make() -> Venv:
        nonlocal count
        count += 1
        path = tmp_path / f"venv{count}"
        run(sys.executable, "-m", "virtualenv", "--quiet", path)
        return Venv(path)

    return make
