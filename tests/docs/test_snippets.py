"""Every Python code block in README.md and the docs type-checks and runs.

A block is a fenced ```python block in README.md or a ``.. code-block:: python``
(or ``code``, ``sourcecode``) directive in docs/**/*.rst. Each becomes a module
of its own: ``mypy --strict`` checks them all, and each runs in a fresh
interpreter. A ``print(...)`` line
ending in a comment states what it prints (``print(x)  # b'hello'``), and the
run checks it. Blocks that talk to Redis get a real redis-server: its address
replaces ``localhost:6379`` and ``localhost`` in a URL (the only edit made to a block), so a missing
server fails the test rather than skipping it.

No other way to show code may slip past: a reST literal block (a paragraph
ending in ``::``) in docs/**/*.rst fails the test, and so does a code directive
whose language is Python under another name (``py``, ``pycon``...) or missing,
a README fence marked so, and a ``literalinclude`` of a docs/examples file
that no test in tests/examples runs.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "redis_server", ROOT / "tests" / "adapters" / "redis_server.py"
)
assert _spec and _spec.loader
redis_server = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(redis_server)

FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
DIRECTIVE = re.compile(
    r"^( *)\.\. (?:code-block|code|sourcecode):: python *\n((?:\1 *\n|\1 {3,}.*\n)+)", re.M
)
EXPECTED = re.compile(r"^\s*print\(.*\)\s+# (.+)$")
# A line ending in "::" that is not a directive or comment ("..") introduces a
# literal block when the next non-blank line is indented deeper.
LITERAL_INTRO = re.compile(r"^( *)(?!\.\.)\S.*::$|^( *)::$")
CODE_DIRECTIVE = re.compile(r"^ *\.\. (?:code-block|code|sourcecode)::(.*)$")
README_FENCE = re.compile(r"^```(\S*)", re.M)
INCLUDE = re.compile(r"^ *\.\. literalinclude:: (\S+)$", re.M)
# Languages that are not Python, so need no run: a shell session, output, config.
NOT_PYTHON = {"console", "shell", "text", "ini", "toml", "json", "html", "none"}


def _blocks() -> list[tuple[str, str]]:
    found = []
    readme = (ROOT / "README.md").read_text()
    for match in FENCE.finditer(readme):
        line = readme.count("\n", 0, match.start()) + 1
        found.append((f"README.md:{line}", match.group(1)))
    for path in _rst_files():
        text = path.read_text()
        for match in DIRECTIVE.finditer(text):
            body = match.group(2)
            indent = min(len(x) - len(x.lstrip()) for x in body.splitlines() if x.strip())
            code = "\n".join(x[indent:] for x in body.splitlines()).strip("\n") + "\n"
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", code))
    return found


def _rst_files() -> list[Path]:
    return [p for p in sorted((ROOT / "docs").rglob("*.rst")) if "_build" not in p.parts]


def _untested_code() -> list[str]:
    """Every place in the docs that shows code the tests would not run, and why."""
    found = []
    for path in _rst_files():
        where = path.relative_to(ROOT)
        text = path.read_text()
        lines = text.splitlines()
        for number, line in enumerate(lines, 1):
            intro = LITERAL_INTRO.match(line)
            if intro and _indented_block_follows(lines, number, intro):
                found.append(f"{where}:{number}: a literal block (::), which nothing runs")
            directive = CODE_DIRECTIVE.match(line)
            if directive and directive.group(1).strip() not in NOT_PYTHON | {"python"}:
                found.append(f"{where}:{number}: {line.strip()!r}, which nothing runs")
        for include in INCLUDE.finditer(text):
            target = (path.parent / include.group(1)).resolve()
            test = ROOT / "tests" / "examples" / f"test_{target.stem}.py"
            if target.parent == ROOT / "docs" / "examples" and not test.exists():
                number = text.count("\n", 0, include.start()) + 1
                found.append(f"{where}:{number}: {include.group(1)}, which no {test.name} runs")
    readme = (ROOT / "README.md").read_text()
    for fence in README_FENCE.finditer(readme):
        language = fence.group(1)
        if language and language not in NOT_PYTHON | {"python"}:
            number = readme.count("\n", 0, fence.start()) + 1
            found.append(f"README.md:{number}: ```{language}, which nothing runs")
    return found


def _indented_block_follows(lines: list[str], number: int, intro: re.Match[str]) -> bool:
    indent = len(intro.group(1) if intro.group(1) is not None else intro.group(2))
    following = next((line for line in lines[number:] if line.strip()), "")
    return len(following) - len(following.lstrip()) > indent


def _module_name(where: str) -> str:
    return "snippet_" + re.sub(r"\W", "_", where)


BLOCKS = _blocks()


@pytest.fixture(scope="module")
def redis_port():
    with redis_server.running_redis() as server:
        yield server.port


def test_blocks_were_found():
    assert any(where.startswith("README.md") for where, _ in BLOCKS)
    assert any(where.startswith("docs/") for where, _ in BLOCKS)


def test_no_code_is_shown_untested():
    untested = _untested_code()
    advice = (
        "Show Python as a '.. code-block:: python' (a whole program: the tests run it) or a "
        "literalinclude of a docs/examples file that tests/examples runs; anything else as a "
        f"code-block of one of {sorted(NOT_PYTHON)}."
    )
    assert not untested, "\n".join([*untested, advice])


def test_every_block_type_checks(tmp_path):
    for where, code in BLOCKS:
        (tmp_path / f"{_module_name(where)}.py").write_text(code)
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    assert mypy, "mypy is in tests/docs/requirements.txt"
    result = subprocess.run(
        [mypy, "--strict", "--no-incremental", "--cache-dir=/dev/null", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_block_runs(where, code, redis_port, tmp_path):
    code = code.replace("localhost:6379", f"localhost:{redis_port}")
    code = code.replace("redis://localhost/", f"redis://localhost:{redis_port}/")
    code = code.replace('("localhost", 6379)', f'("localhost", {redis_port})')
    script = tmp_path / f"{_module_name(where)}.py"
    script.write_text(code)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, f"{where} failed:\n{result.stderr}"
    expected = [m.group(1).strip() for line in code.splitlines() if (m := EXPECTED.match(line))]
    printed = iter(result.stdout.splitlines())
    missing = [line for line in expected if line not in printed]  # in order, others between
    assert not missing, f"{where} printed {result.stdout!r}; its comments say {expected!r}"
