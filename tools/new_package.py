"""Scaffold a new tidewire core: ``nox -s new -- NAME`` (or ``python tools/new_package.py NAME``).

It writes ``packages/NAME`` (pyproject, README, ``src/tidewire_NAME`` with a
working :class:`tidewire.Connection` subclass), ``tests/NAME`` (already running
the contract suite) and ``docs/packages/NAME``. The generated package passes
every gate as it stands (lint, strict typing, tests, 100% coverage, docs), so
a contributor starts green and changes one thing at a time.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).parent / "template"
ROOT = Path(__file__).parent.parent


def names(name: str) -> dict[str, str]:
    """The spellings of ``name`` the templates use."""
    if not re.fullmatch(r"[a-z][a-z0-9]*", name):
        raise ValueError(f"a package name is lowercase letters and digits, not {name!r}")
    exported = sorted([f"{name.capitalize()}Connection", "Message"])  # as ruff sorts them
    return {
        "name": name,
        "Name": name.capitalize(),
        "exported": ", ".join(exported),
        "exported_all": ", ".join(f'"{item}"' for item in exported),
        "name_rule": "=" * len(f"tidewire-{name}"),
        "api_rule": "=" * len(f"API reference: ``tidewire_{name}``"),
    }


def scaffold(name: str, root: Path = ROOT) -> list[Path]:
    """Write the new package under ``root``; return the files written.

    Raises:
        ValueError: a bad name, or a package of that name exists already.
    """
    values = names(name)
    if (root / "packages" / name).exists():
        raise ValueError(f"packages/{name} exists already")
    written = []
    for source in sorted(TEMPLATE.rglob("*.tmpl")):
        relative = source.relative_to(TEMPLATE).with_suffix("")
        target = root / Path(*(part.format(**values) for part in relative.parts))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read_text().format(**values))
        written.append(target)
    # Every distribution ships the project's license (PEP 639 allows no "../").
    license_file = root / "LICENSE"
    if license_file.exists():
        target = root / "packages" / name / "LICENSE"
        target.write_text(license_file.read_text())
        written.append(target)
    return written


def main(argv: list[str]) -> int:
    """Command-line entry point."""
    if len(argv) != 1:
        print("usage: nox -s new -- NAME", file=sys.stderr)
        return 2
    try:
        written = scaffold(argv[0])
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    for path in written:
        print("wrote", path.relative_to(ROOT))
    print(f"next: nox -s 'tests-3.11(package=\"{argv[0]}\")' lint typecheck docs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
