"""Every ``pip install`` line of README.md, the docs and the packages' READMEs works.

The lines are found, not listed: every ``pip install`` in README.md,
docs/**/*.rst, packages/*/README.md and adapters/*/README.md, in inline code
or on a line of a code block (a ``$`` prompt, and what follows ``&&``, ``;``
or ``#``, are not part of it). Each distinct line runs verbatim, with ``bash``,
in a fresh venv where it is the first command: ``pip`` is the venv's own, so a
dependency the line does not bring is missing, as on a fresh machine.

What a line promises is derived from what it names: the import packages of
every tidewire distribution it installs (those it names, their dependencies,
and those their extras bring), and for an extra of a distribution, the
submodule of that name (``tidewire_asyncio.resp`` for ``[resp]``). Each
promised module must import from the venv.

Two forms, by where the line is shown:

- README.md and the docs speak to someone with a checkout: a line names the
  folders (``pip install ./packages/base ./packages/lines``) and runs from the
  checkout's root, with nothing but PyPI to find the rest. Every tidewire
  distribution it installs must come from the checkout. A line that names a
  tidewire distribution by its PyPI name fails: none is released yet.
- A package's README is its page on PyPI, so it shows the PyPI form
  (``pip install tidewire-lines``). That line runs with the freshly built
  wheels offered to pip as PyPI will offer them after the release
  (``PIP_FIND_LINKS``), so what it will do then is tested now.

README's tool line (``python3 -m pip install --quiet nox uv``) names no
tidewire distribution, so nothing here runs it: CI runs it itself
(``.ci/run`` runs README's command verbatim).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIP_INSTALL = re.compile(r"(?:\b(?:python3?(?:\.\d+)?) -m )?\bpip install\b")
# Where a command ends on its line: a second command, or a comment.
COMMAND_END = re.compile(r"\s*(?:&&|;|\s#).*$")
# Options a documented line may use; none of them changes what it installs.
PLAIN_OPTIONS = {"-q", "--quiet", "-U", "--upgrade"}
PATH_ARG = re.compile(r"^(?P<path>\.{0,2}/[^\[]*)(?:\[(?P<extras>[^\]]*)\])?$")


@dataclass
class InstallLine:
    """A distinct documented command and every place that shows it."""

    command: str
    where: list[str] = field(default_factory=list)

    @property
    def on_pypi_pages(self) -> bool:
        """Whether every place showing it is a package's README (its PyPI page)."""
        return all(re.match(r"(packages|adapters)/[^/]+/README\.md:", w) for w in self.where)


def _sources() -> list[Path]:
    docs = [p for p in sorted((ROOT / "docs").rglob("*.rst")) if "_build" not in p.parts]
    readmes = sorted(ROOT.glob("packages/*/README.md")) + sorted(ROOT.glob("adapters/*/README.md"))
    return [ROOT / "README.md", *docs, *readmes]


def read_commands(text: str, markdown: bool) -> tuple[list[tuple[int, str]], list[int]]:
    """The install commands in a document, by line number, and the lines of any not read.

    A command is in inline code (``...`` in reST, `...` in Markdown; it may be
    wrapped over lines) or is a line of a code block.
    """
    span = re.compile(r"(?<!`)`([^`]+)`(?!`)" if markdown else r"``(.+?)``", re.S)
    found: list[tuple[int, str]] = []
    covered: list[range] = []
    for match in span.finditer(text):
        content = " ".join(match.group(1).split())
        if PIP_INSTALL.match(content.removeprefix("$ ")):
            found.append((text.count("\n", 0, match.start()) + 1, content))
            covered.append(range(match.start(), match.end()))
    offset = 0
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        stripped = line.strip().removeprefix("$ ")
        if "`" not in line and PIP_INSTALL.match(stripped):
            found.append((number, stripped))
            covered.append(range(offset, offset + len(line)))
        offset += len(line)
    unread = [
        text.count("\n", 0, m.start()) + 1
        for m in PIP_INSTALL.finditer(text)
        if not any(m.start() in r for r in covered)
    ]
    commands = [(n, COMMAND_END.sub("", c.removeprefix("$ "))) for n, c in found]
    return sorted(commands), unread


def _install_lines() -> tuple[list[InstallLine], list[str]]:
    lines: dict[str, InstallLine] = {}
    unread: list[str] = []
    for path in _sources():
        where = path.relative_to(ROOT)
        commands, missed = read_commands(path.read_text(), markdown=path.suffix == ".md")
        unread += [f"{where}:{n}" for n in missed]
        for number, command in commands:
            lines.setdefault(command, InstallLine(command)).where.append(f"{where}:{number}")
    return list(lines.values()), unread


LINES, UNREAD = _install_lines()


def test_every_pip_install_in_the_docs_is_read():
    assert not UNREAD, f"a pip install this test cannot read (not in code): {UNREAD}"
    assert len(LINES) >= 10  # the reading still finds the lines


@pytest.mark.parametrize(
    ("text", "markdown", "expected"),
    [
        ("run `pip install ./a` here", True, [(1, "pip install ./a")]),
        ("run\n``pip install ./a\n./b`` here", False, [(2, "pip install ./a ./b")]),
        ('::\n\n    $ pip install "./a[x]"  # note\n', False, [(3, 'pip install "./a[x]"')]),
        (
            "```\npython3 -m pip install -q nox && nox\n```\n",
            True,
            [(2, "python3 -m pip install -q nox")],
        ),
    ],
    ids=["markdown inline", "reST inline over two lines", "prompt and comment", "fence and &&"],
)
def test_reads_install_lines_in_every_form(text, markdown, expected):
    assert read_commands(text, markdown) == (expected, [])


def test_reports_a_pip_install_outside_code():
    assert read_commands("run pip install ./a\nthen `x`", markdown=True) == ([], [1])


@dataclass
class Promise:
    """What a line installs: tidewire distributions (by name, with extras) and how named."""

    extras: dict[str, set[str]] = field(default_factory=dict)
    named: set[str] = field(default_factory=set)
    by_pypi_name: list[str] = field(default_factory=list)
    third_party: list[str] = field(default_factory=list)

    def modules(self, dists) -> list[str]:
        found = []
        for name, extras in self.extras.items():
            found += dists[name].imports
            found += [m for extra in extras for m in dists[name].extra_modules(extra)]
        return sorted(found)

    def checkout_line(self, dists) -> str:
        """The line that installs the same from a checkout, naming every folder."""
        args = []
        for name, dist in dists.items():  # the base first, as the repository lists them
            if name in self.extras:
                folder = f"./{dist.path.relative_to(ROOT).as_posix()}"
                extras = ",".join(sorted(self.extras[name]))
                args.append(f'"{folder}[{extras}]"' if extras else folder)
        return " ".join(["pip install", *args, *self.third_party])


def _arguments(command: str) -> list[str]:
    return shlex.split(command.split("pip install", 1)[1])


def promise_of(command: str, dists) -> Promise:
    """Parse a command's arguments into what it promises, following local dependencies."""
    by_path = {d.path: d for d in dists.values()}
    promise = Promise()
    todo: list[tuple[str, set[str]]] = []
    for arg in _arguments(command):
        if arg.startswith("-"):
            assert arg in PLAIN_OPTIONS, f"an option this test does not know: {arg}"
        elif match := PATH_ARG.match(arg):
            dist = by_path.get((ROOT / match["path"]).resolve())
            assert dist, f"{match['path']} is no distribution of this repository"
            extras = {e.strip() for e in (match["extras"] or "").split(",")} - {""}
            assert extras <= set(dist.extras), f"{arg}: {dist.name} has no such extra"
            todo.append((dist.name, extras))
            promise.named.add(dist.name)
        elif (name := canonicalize_name(Requirement(arg).name)) in dists:
            promise.by_pypi_name.append(arg)
            extras = set(Requirement(arg).extras)
            assert extras <= set(dists[name].extras), f"{arg}: {name} has no such extra"
            todo.append((name, extras))
            promise.named.add(name)
        else:
            promise.third_party.append(arg)
    while todo:  # what the named distributions and their extras bring in turn
        name, extras = todo.pop()
        known = promise.extras.get(name)
        if known is not None and extras <= known:
            continue
        promise.extras[name] = (known or set()) | extras
        brought = list(dists[name].requires) if known is None else []
        brought += [r for extra in extras for r in dists[name].extras.get(extra, ())]
        todo += [
            (canonicalize_name(r.name), set(r.extras))
            for r in brought
            if canonicalize_name(r.name) in dists
        ]
    return promise


def _names_tidewire(command: str) -> bool:
    args = [a for a in _arguments(command) if not a.startswith("-")]
    return any(a.startswith((".", "/", "tidewire")) for a in args)


TIDEWIRE_LINES = [line for line in LINES if _names_tidewire(line.command)]

# Run in the venv: each promised module imports from it, and every tidewire
# distribution in it comes from where the line says (the checkout's folders,
# or the wheels standing in for PyPI).
CHECK = """
import importlib, importlib.metadata, json, pathlib, sys
venv, root = sys.argv[1:3]
modules, versions, from_checkout = (json.loads(arg) for arg in sys.argv[3:])
for module in modules:
    where = pathlib.Path(importlib.import_module(module).__file__)
    assert where.is_relative_to(venv), f"{module} imports from {where}, not the venv"
for found in importlib.metadata.distributions():
    name = found.metadata["Name"].lower().replace("_", "-")
    if name not in versions:
        continue
    assert found.version == versions[name], (name, found.version)
    origin = json.loads(found.read_text("direct_url.json") or "{}").get("url", "")
    if from_checkout:
        assert origin.startswith("file://" + root), f"{name} came from {origin or 'an index'}"
    else:
        assert not origin, f"{name} came from {origin}, not the wheels"
"""


@pytest.mark.parametrize("line", TIDEWIRE_LINES, ids=lambda line: line.command)
def test_documented_install_line_works_verbatim_in_a_fresh_venv(
    line, dists, make_venv, run_ok, tmp_path, request
):
    promise = promise_of(line.command, dists)
    where = ", ".join(line.where)
    if promise.by_pypi_name and not line.on_pypi_pages:
        pytest.fail(
            f"{where}: {line.command!r} names {promise.by_pypi_name}, not on PyPI yet, so it"
            f" fails on a fresh machine; from a checkout: {promise.checkout_line(dists)}"
        )
    if not promise.by_pypi_name and (unnamed := sorted(set(promise.extras) - promise.named)):
        pytest.fail(
            f"{where}: {line.command!r} needs {unnamed} but does not name their folders, so"
            f" pip looks for them on PyPI, where they are not yet: {promise.checkout_line(dists)}"
        )
    from_checkout = not promise.by_pypi_name
    venv = make_venv()
    # The PyPI form runs where no checkout is, with the built wheels standing in for PyPI.
    wheels = None if from_checkout else request.getfixturevalue("wheelhouse")
    env = venv.env(find_links=wheels)
    run_ok("bash", "-c", line.command, cwd=ROOT if from_checkout else tmp_path, env=env)
    run_ok(venv.python, "-m", "pip", "check", cwd=tmp_path, env=env)
    versions = {d.name: d.version for d in dists.values()}
    args = [promise.modules(dists), versions, from_checkout]
    run_ok(venv.python, "-c", CHECK, venv.path, ROOT, *map(json.dumps, args), cwd=tmp_path, env=env)
