"""Fail if a test reaches into private names of a tidewire distribution.

The cores promise 100% coverage through the public API only, so tests may not
import underscore names from tidewire modules nor read ``obj._attribute`` of
anything but their own ``self``/``cls``/``super()`` (a test core subclassing
``tidewire.Connection`` implements its protected hooks).

Usage: python tools/check_public_api.py tests
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tidewire"):
            parts = (node.module or "").split(".")
            names = [alias.name for alias in node.names]
            if any(map(_private, parts)) or any(map(_private, names)):
                found.append(f"{where}: private import from {node.module}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tidewire") and any(map(_private, alias.name.split("."))):
                    found.append(f"{where}: private import {alias.name}")
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            own = isinstance(owner, ast.Name) and owner.id in ("self", "cls")
            inherited = (
                isinstance(owner, ast.Call)
                and isinstance(owner.func, ast.Name)
                and owner.func.id == "super"
            )
            if not (own or inherited):
                found.append(f"{where}: private attribute .{node.attr}")
    return found


def main(roots: list[str]) -> int:
    found = [
        problem
        for root in roots
        for path in sorted(Path(root).rglob("*.py"))
        if "benchmarks" not in path.parts
        for problem in problems(path)
    ]
    for problem in found:
        print(problem)
    print(f"public API check: {len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["tests"]))
