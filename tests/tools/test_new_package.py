"""`nox -s new -- NAME` gives a package that passes every gate as it stands."""

import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
spec = importlib.util.spec_from_file_location("new_package", ROOT / "tools" / "new_package.py")
assert spec
assert spec.loader
new_package = importlib.util.module_from_spec(spec)
spec.loader.exec_module(new_package)


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


# Names that sort before and after "Message", which the generated code imports.
@pytest.fixture(scope="module", params=["echo", "zeta"])
def generated(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    (root / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (root / "LICENSE").write_text((ROOT / "LICENSE").read_text())
    new_package.scaffold(request.param, root)
    return request.param, root


def test_writes_the_package_tests_and_docs(generated):
    name, root = generated
    for path in [
        f"packages/{name}/pyproject.toml",
        f"packages/{name}/README.md",
        f"packages/{name}/src/tidewire_{name}/py.typed",
        f"packages/{name}/src/tidewire_{name}/connection.py",
        f"tests/{name}/test_connection.py",
        f"tests/{name}/requirements.txt",
        f"docs/packages/{name}/index.rst",
        f"docs/packages/{name}/api.rst",
    ]:
        assert (root / path).is_file(), path
    package = root / "packages" / name
    assert (package / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    # The metadata nox -s packaging asks of every distribution.
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    assert project["license-files"] == ["LICENSE"]
    assert project["authors"] and project["keywords"]
    assert set(project["urls"]) == {"Homepage", "Documentation", "Source", "Issues"}
    assert "](../" not in (package / "README.md").read_text()  # links work on PyPI
    connection = (root / f"packages/{name}/src/tidewire_{name}/connection.py").read_text()
    assert f"class {name.title()}Connection(Connection[Message, Message])" in connection
    for page in ("index", "api"):
        lines = (root / f"docs/packages/{name}/{page}.rst").read_text().splitlines()
        assert len(lines[0]) == len(lines[1])  # the title's underline fits


def test_generated_tests_pass_with_full_coverage(generated):
    name, root = generated
    out = run(
        sys.executable, "-m", "coverage", "run", "--branch", f"--source=tidewire_{name}",
        "-m", "pytest", "-q", "-p", "no:cacheprovider", f"tests/{name}",
        cwd=root, env={"PYTHONPATH": str(root / f"packages/{name}/src")},
    )  # fmt: skip
    assert "passed" in out
    assert "failed" not in out
    run(sys.executable, "-m", "coverage", "report", "--fail-under=100", cwd=root)


def test_generated_code_is_lint_clean_and_strictly_typed(generated):
    name, root = generated
    run(sys.executable, "-m", "ruff", "check", ".", cwd=root)
    run(sys.executable, "-m", "ruff", "format", "--check", ".", cwd=root)
    run(
        sys.executable, "-m", "mypy", "--strict", "-p", f"tidewire_{name}",
        cwd=root, env={"MYPYPATH": str(root / f"packages/{name}/src")},
    )  # fmt: skip


def test_generated_docs_pass_the_docs_gate(generated):
    """The docs session's build (warnings as errors, nitpicky) of the new package's pages."""
    name, root = generated
    docs = root / "docs"
    (docs / "conf.py").write_text((ROOT / "docs" / "conf.py").read_text())
    # The base's API page, which the new package's pages link to.
    (docs / "packages" / "base").mkdir()
    shutil.copy(ROOT / "docs" / "packages" / "base" / "api.rst", docs / "packages" / "base")
    (docs / "index.rst").write_text(
        f"Docs\n====\n\n.. toctree::\n\n   packages/{name}/index\n   packages/base/api\n"
    )
    run(
        sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html",
        str(docs), str(root / "_build"),
        cwd=root, env={"PYTHONPATH": str(root / f"packages/{name}/src")},
    )  # fmt: skip


def test_refuses_bad_names_and_existing_packages(generated):
    name, root = generated
    with pytest.raises(ValueError, match="lowercase letters"):
        new_package.scaffold("Bad-Name", root)
    with pytest.raises(ValueError, match="exists already"):
        new_package.scaffold(name, root)


def test_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(new_package, "ROOT", tmp_path)
    monkeypatch.setattr(new_package, "scaffold", lambda name: [tmp_path / "x"])
    assert new_package.main(["x"]) == 0
    assert "wrote x" in capsys.readouterr().out
    assert new_package.main([]) == 2

    def refuse(name):
        raise ValueError("no")

    monkeypatch.setattr(new_package, "scaffold", refuse)
    assert new_package.main(["x"]) == 1
