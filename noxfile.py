"""Every task of the tidewire monorepo.

``nox`` runs what a contributor must pass: lint, typecheck, tests (each
distribution on every Python 3.11-3.13 found), the coverage gate, the docs, and
the packaging (the sdists and wheels PyPI will get, and every documented
install line, run verbatim).
``nox -s bench`` and ``nox -s demo`` run on request. Distributions are found
by globbing ``packages/*`` and ``adapters/*``: a new folder is tested without
editing this file.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import nox
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parent
COVERAGE_DIR = ROOT / ".nox" / "_coverage"
SUPPORTED = ("3.11", "3.12", "3.13")

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = [
    "peers", "lint", "typecheck", "tests", "tests-pure", "coverage", "docs", "packaging",
]  # fmt: skip
nox.options.reuse_existing_virtualenvs = True


def _expose_pyenv_pythons() -> None:
    """Put pyenv's installed 3.11-3.13 on PATH, ahead of its shims."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for version in SUPPORTED:
        found = sorted(
            glob.glob(str(root / "versions" / f"{version}.*" / "bin")),
            key=lambda path: [int(n) for n in re.findall(r"\d+", Path(path).parent.name)],
        )
        if found:
            os.environ["PATH"] = found[-1] + os.pathsep + os.environ["PATH"]


def _works(executable: str | None) -> bool:
    if executable is None:
        return False
    return subprocess.run([executable, "-c", ""], capture_output=True).returncode == 0


_expose_pyenv_pythons()
PYTHONS = [v for v in SUPPORTED if _works(shutil.which(f"python{v}"))]


class Dist:
    """One distribution of the monorepo."""

    def __init__(self, pyproject: Path) -> None:
        project = tomllib.loads(pyproject.read_text())["project"]
        self.path = pyproject.parent
        self.key = self.path.name  # "base", "lines", ..., "asyncio"
        self.name = canonicalize_name(project["name"])
        self.requires = [Requirement(r) for r in project.get("dependencies", [])]
        self.extras = {
            extra: [Requirement(r) for r in reqs]
            for extra, reqs in project.get("optional-dependencies", {}).items()
        }
        self.imports = sorted(p.parent.name for p in self.path.glob("src/*/__init__.py"))
        self.is_core = self.path.parent.name == "packages"
        # tests/ mirrors the tree: tests/lines for packages/lines, tests/adapters/trio ...
        self.test_dir = ROOT / "tests" / ("" if self.is_core else "adapters") / self.key


DISTS = {
    d.name: d
    for d in (
        Dist(p)
        for p in sorted(ROOT.glob("packages/*/pyproject.toml"))
        + sorted(ROOT.glob("adapters/*/pyproject.toml"))
    )
}
BY_KEY = {d.key: d for d in DISTS.values()}
# Test folders that belong to no distribution: the docs' examples and the tools.
EXTRA_TARGETS = ["docs", "examples", "tools"]
TEST_TARGETS = [*BY_KEY, *EXTRA_TARGETS]


def _install_specs(requirements: list[Requirement]) -> list[str]:
    """Editable specs for the local distributions these requirements reach, plus the rest.

    Only what is declared gets installed, so a missing declaration fails the tests.
    """
    specs: dict[str, str] = {}
    extras_seen: dict[str, set[str]] = {}
    external: list[str] = []
    todo = list(requirements)
    while todo:
        req = todo.pop()
        dist = DISTS.get(canonicalize_name(req.name))
        if dist is None:
            external.append(str(req))
            continue
        seen = extras_seen.setdefault(dist.name, set())
        new = set(req.extras) - seen
        if dist.name in specs and not new:
            continue
        seen |= new
        if dist.name not in specs:
            todo += dist.requires
        for extra in new:
            todo += dist.extras.get(extra, [])
        extras = f"[{','.join(sorted(seen))}]" if seen else ""
        specs[dist.name] = f"{dist.path}{extras}"
    return [arg for spec in specs.values() for arg in ("-e", spec)] + external


def _requirements_file(path: Path) -> list[Requirement]:
    if not path.exists():
        return []
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def _everything(extras: bool = True) -> list[Requirement]:
    return [
        Requirement(f"{d.name}[{','.join(d.extras)}]" if extras and d.extras else d.name)
        for d in DISTS.values()
    ]


# The real peers some tests talk to (never mocked, never skipped), and the C
# compiler that builds tidewire-speedups for the tests of its accelerated cores:
# the command each needs, and the Debian package that provides it.
PEERS = {"redis-server": "redis-server", "chromium": "chromium", "gcc": "gcc"}


@nox.session(python=False)
def peers(session: nox.Session) -> None:
    """Install the real peers the tests need, before any test runs.

    As root on Debian it installs the missing packages with ``apt-get``;
    anywhere else it stops at once with the one command to run.
    """
    missing = sorted({package for command, package in PEERS.items() if not shutil.which(command)})
    if not missing:
        session.log(f"real peers present: {', '.join(PEERS)}")
        return
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]
    if not shutil.which("apt-get") or os.geteuid() != 0:
        session.error(
            f"the tests need {', '.join(missing)}; install them first:"
            f" sudo apt-get update && sudo {' '.join(install)}"
        )
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-qq", env=env, external=True)
    session.run(*install, env=env, external=True)


# A core with this extra runs C code from tidewire-speedups when it is installed
# and TIDEWIRE_NO_SPEEDUPS is not set; its pure-Python path stays the reference.
SPEEDUPS = "speedups"
ACCELERATED = [d.key for d in DISTS.values() if d.is_core and SPEEDUPS in d.extras]
SPEEDUPS_TESTS = ROOT / "tests" / "speedups"  # the differential tests of both paths
# The behavioural suite every adapter runs, with `--adapter NAME` (tests/adapters/conftest.py),
# but one whose tests cannot be anyio coroutines: Twisted's tests (Deferreds on its reactor)
# cover the same behaviours one for one in tests/adapters/twisted.
SHARED_ADAPTER_TESTS = ROOT / "tests" / "adapters" / "shared"
OWN_BEHAVIOURAL_SUITE = {"twisted"}
ANYIO_TESTS = ROOT / "tests" / "adapters" / "anyio"
# Suites that run a second time, on the newest Python, on another event loop: Twisted's
# on asyncioreactor as well as its default reactor (tests/adapters/twisted/conftest.py).
OTHER_LOOP = {"twisted": {"TIDEWIRE_TWISTED_REACTOR": "asyncio"}}


def _run_tests(
    session: nox.Session, package: str, *, accelerated: bool, data: str, env: dict[str, str]
) -> None:
    """Install what ``package``'s tests declare and run them (under coverage for a distribution).

    With ``accelerated``, a core is installed with its ``speedups`` extra and its
    tests run with the differential tests of tests/speedups, which exercise its
    pure-Python reference whichever path is active: its coverage must then be
    100% in this one run, accelerated or not.
    """
    if package in EXTRA_TARGETS:  # only what tests/<package>/requirements.txt lists
        dist, test_dirs = None, [ROOT / "tests" / package]
        wanted = []
    else:
        dist = BY_KEY[package]
        test_dirs = [dist.test_dir]
        wanted = [Requirement(f"{dist.name}[{SPEEDUPS}]" if accelerated else str(dist.name))]
        if accelerated:
            test_dirs.append(SPEEDUPS_TESTS)
        if not dist.is_core and dist.key not in OWN_BEHAVIOURAL_SUITE:
            test_dirs.append(SHARED_ADAPTER_TESTS)
    if not any(test_dirs[0].glob("test_*.py")):
        session.error(f"no tests for {package} in {test_dirs[0].relative_to(ROOT)}")
    for test_dir in test_dirs:
        for requirements in sorted(test_dir.glob("requirements*.txt")):
            wanted += _requirements_file(requirements)
    session.install(*_install_specs(wanted), "pytest", "coverage[toml]")
    paths = [str(test_dir) for test_dir in test_dirs]
    if dist is not None and SHARED_ADAPTER_TESTS in test_dirs:
        paths.append(f"--adapter={dist.key}")
    if dist is None:
        session.run("pytest", *paths, *session.posargs, env=env)
        return
    COVERAGE_DIR.mkdir(parents=True, exist_ok=True)
    env = {**env, "COVERAGE_FILE": str(COVERAGE_DIR / f".coverage.{data}.{session.python}")}
    session.run(
        "coverage", "run", f"--source={','.join(dist.imports)}", "-m", "pytest", *paths,
        *session.posargs, env=env,
    )  # fmt: skip
    if accelerated and not session.posargs:
        session.run(
            "coverage", "report", f"--include={dist.path}/src/*", "--fail-under=100", env=env
        )
    else:
        session.run("coverage", "report", env=env)


@nox.session(python=PYTHONS, requires=["peers"])
@nox.parametrize("package", TEST_TARGETS)
def tests(session: nox.Session, package: str) -> None:
    """Run one distribution's tests under coverage, with only what it declares installed.

    A core with a ``speedups`` extra runs them with the accelerator, on every
    Python: its wheels are built for each. ``tests-pure`` runs them without.
    """
    _run_tests(session, package, accelerated=package in ACCELERATED, data=package, env={})
    if package in OTHER_LOOP and session.python == PYTHONS[-1]:
        env = OTHER_LOOP[package]
        _run_tests(session, package, accelerated=False, data=f"{package}-other-loop", env=env)


@nox.session(name="tests-pure", python=PYTHONS[-1:], requires=["peers"])
@nox.parametrize("package", ACCELERATED)
def tests_pure(session: nox.Session, package: str) -> None:
    """A core's tests with its accelerator installed but disabled (``TIDEWIRE_NO_SPEEDUPS=1``).

    One Python is enough: the pure path is the same Python code on each, and
    the differential tests compare it with the C path on every Python in
    ``tests``. Coverage must be 100% in this run too.
    """
    env = {"TIDEWIRE_NO_SPEEDUPS": "1"}
    _run_tests(session, package, accelerated=True, data=f"{package}-pure", env=env)


@nox.session
def coverage(session: nox.Session) -> None:
    """Gate: 100% branch coverage of every core, from the data the tests sessions left."""
    session.install("coverage[toml]")
    files = sorted(str(p) for p in COVERAGE_DIR.glob(".coverage.*.*"))
    if not files:
        session.error("no coverage data: run the tests sessions first (a plain `nox` does)")
    combined = {"COVERAGE_FILE": str(COVERAGE_DIR / ".coverage")}
    session.run("coverage", "combine", "--keep", "--quiet", *files, env=combined)
    for dist in DISTS.values():
        if not dist.is_core:
            continue
        if not any(f".coverage.{dist.key}." in f for f in files):
            session.error(f"no coverage data for {dist.key}: its tests did not run")
        session.log(f"coverage of {dist.key} (packages/{dist.key}):")
        session.run(
            "coverage", "report", f"--include={dist.path}/src/*", "--fail-under=100",
            env=combined,
        )  # fmt: skip


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check; tests may use public API only."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("python", "tools/check_public_api.py", "tests")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on every distribution and on the docs' examples."""
    # What the examples import besides our distributions, as their tests declare it
    # (docs/examples/starlette_fanout is tested with tidewire-anyio's tests).
    example_tests = [*ROOT.glob("tests/examples/requirements*.txt")]
    example_tests.append(ANYIO_TESTS / "requirements.txt")
    wanted = _everything() + [r for f in sorted(example_tests) for r in _requirements_file(f)]
    session.install(*_install_specs(wanted), "mypy")
    modules = [arg for d in DISTS.values() for name in d.imports for arg in ("-p", name)]
    session.run("mypy", "--strict", *modules)
    examples = sorted(str(p) for p in ROOT.glob("docs/examples/*.py"))
    examples += sorted(str(p.parent) for p in ROOT.glob("docs/examples/*/__init__.py"))
    session.run("mypy", "--strict", *examples)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the Sphinx site with warnings as errors."""
    session.install(*_install_specs(_everything()), "sphinx", "furo")
    out = ROOT / "docs" / "_build" / "html"
    session.run("sphinx-build", "-W", "--keep-going", "-n", "-q", "-b", "html", "docs", str(out))
    session.log(f"docs built in {out}")


@nox.session
def packaging(session: nox.Session) -> None:
    """The distributions as users will get them, built and installed for real.

    ``python -m build`` makes every sdist and wheel; they must pass
    ``twine check --strict``, ship the LICENSE and render on PyPI, and each
    wheel must install alone into a clean venv. Every ``pip install`` line of
    README.md, the docs and the packages' READMEs runs verbatim in a fresh venv
    and must give the imports it promises (tests/install). Unlike the tests
    sessions, nothing is installed editable: pip builds what it is given.
    """
    session.install(
        "build[uv]", "twine", "virtualenv", "packaging", "pytest", "pytest-xdist", "hypothesis"
    )
    # Each install line waits on pip and builds: run them side by side.
    session.run("pytest", "-n", "auto", "tests/install", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks, side by side with the anchors in the same run; never fails on speed."""
    anchors = [r for f in sorted(ROOT.glob("tests/benchmarks/requirements-*.txt"))
               for r in _requirements_file(f)]  # fmt: skip
    session.install(*_install_specs(_everything() + anchors))
    scripts = sorted(ROOT.glob("tests/benchmarks/bench_*.py"))
    chosen = [s for s in scripts if not session.posargs or s.stem[6:] in session.posargs]
    for script in chosen:
        session.run("python", str(script))


@nox.session(default=False)
def fuzz(session: nox.Session) -> None:
    """Long fuzzing: every core's contract property tests with many more examples.

    ``nox -s fuzz -- lines`` fuzzes one package; the default fuzzes all cores.
    """
    cores = [d for d in DISTS.values() if d.is_core]
    chosen = [d for d in cores if not session.posargs or d.key in session.posargs]
    wanted = [Requirement(str(d.name)) for d in chosen]
    for dist in chosen:
        wanted += _requirements_file(dist.test_dir / "requirements.txt")
    session.install(*_install_specs(wanted), "pytest")
    session.run(
        "pytest", *(str(d.test_dir) for d in chosen), "-q", "-k", "random_bytes or mutated or fuzz",
        env={"HYPOTHESIS_PROFILE": "thorough"},
    )  # fmt: skip


@nox.session(default=False, python=False)
def new(session: nox.Session) -> None:
    """Scaffold a new core: ``nox -s new -- NAME`` writes packages/NAME, tests/NAME, docs."""
    session.run("python3", "tools/new_package.py", *session.posargs)


@nox.session(default=False)
def demo(session: nox.Session) -> None:
    """The main job: the chat hub (a browser page, WebSocket and nc users in one room).

    ``nox -s demo -- --redis redis://localhost:6379`` shares the room with other hubs.
    """
    session.install(*_install_specs([Requirement("tidewire-asyncio[lines,websocket,resp]")]))
    session.run("python", "docs/examples/chathub", *session.posargs)
