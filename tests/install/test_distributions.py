"""Every distribution as PyPI will show it.

``python -m build`` makes an sdist and a wheel of each; they pass
``twine check --strict``, ship the LICENSE, name the project's URLs, authors
and keywords, carry a README that renders on PyPI (no relative links, which
lead nowhere there), and each wheel installs alone into a clean venv, with
all its extras, and every module in it imports.
"""

from __future__ import annotations

import email.parser
import re
import sys
import tarfile
import zipfile
from email.message import Message
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LICENSE = (ROOT / "LICENSE").read_text()
URL_LABELS = {"Homepage", "Documentation", "Source", "Issues"}
# Where a README's links point: [text](target), [label]: target, href="target".
LINK_TARGET = re.compile(
    r"\]\(\s*<?([^)\s>]+)|^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)|(?:href|src)=[\"']([^\"']+)",
    re.M,
)
ABSOLUTE = re.compile(r"(?:https?://|mailto:|#)")


def _sdist(wheelhouse: Path, dist) -> Path:
    return wheelhouse / f"{dist.file_stem}-{dist.version}.tar.gz"


# The one distribution with compiled code; every other wheel is pure Python.
COMPILED = {"tidewire-speedups"}


def _wheel(wheelhouse: Path, dist) -> Path:
    if dist.name in COMPILED:  # tagged for this interpreter and platform
        (wheel,) = wheelhouse.glob(f"{dist.file_stem}-{dist.version}-cp3*-cp3*-*.whl")
        return wheel
    return wheelhouse / f"{dist.file_stem}-{dist.version}-py3-none-any.whl"


def _metadata(wheelhouse: Path, dist) -> Message:
    with zipfile.ZipFile(_wheel(wheelhouse, dist)) as wheel:
        text = wheel.read(f"{dist.file_stem}-{dist.version}.dist-info/METADATA").decode()
    return email.parser.Parser().parsestr(text)


def _project_urls(metadata: Message) -> dict[str, str]:
    return dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL", []))


def test_build_makes_an_sdist_and_a_wheel_of_every_distribution(wheelhouse, dists):
    built = sorted(path.name for path in wheelhouse.iterdir())
    expected = sorted(
        path.name for d in dists.values() for path in (_sdist(wheelhouse, d), _wheel(wheelhouse, d))
    )
    assert built == expected


def test_only_the_accelerator_is_compiled(wheelhouse, dist):
    """The cores and adapters stay universal pure-Python wheels; their C code is optional."""
    with zipfile.ZipFile(_wheel(wheelhouse, dist)) as wheel:
        compiled = [n for n in wheel.namelist() if n.endswith((".so", ".pyd", ".c"))]
        tag = wheel.read(f"{dist.file_stem}-{dist.version}.dist-info/WHEEL").decode()
    if dist.name in COMPILED:
        assert compiled and "Root-Is-Purelib: false" in tag
        assert not any(n.endswith(".c") for n in compiled)  # the source is in the sdist
    else:
        assert not compiled and "Tag: py3-none-any" in tag


def test_twine_check_passes(wheelhouse, run_ok):
    run_ok(sys.executable, "-m", "twine", "check", "--strict", *sorted(wheelhouse.iterdir()))


def test_sdist_and_wheel_ship_the_license(wheelhouse, dist):
    with tarfile.open(_sdist(wheelhouse, dist)) as sdist:
        member = sdist.extractfile(f"{dist.file_stem}-{dist.version}/LICENSE")
        assert member is not None
        assert member.read().decode() == LICENSE
    with zipfile.ZipFile(_wheel(wheelhouse, dist)) as wheel:
        shipped = wheel.read(f"{dist.file_stem}-{dist.version}.dist-info/licenses/LICENSE")
        assert shipped.decode() == LICENSE
    metadata = _metadata(wheelhouse, dist)
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]


def test_metadata_names_urls_authors_and_keywords(wheelhouse, dist):
    metadata = _metadata(wheelhouse, dist)
    urls = _project_urls(metadata)
    assert set(urls) == URL_LABELS
    assert all(url.startswith("https://") for url in urls.values()), urls
    assert metadata["Author"] or metadata["Author-email"]
    assert len(metadata["Keywords"].split(",")) >= 3
    assert metadata["Summary"]
    assert metadata["Description-Content-Type"] == "text/markdown"


def test_all_distributions_point_to_the_same_project(wheelhouse, dists):
    urls = [_project_urls(_metadata(wheelhouse, d)) for d in dists.values()]
    for label in ("Homepage", "Documentation", "Issues"):
        assert len({u[label] for u in urls}) == 1, label
    assert all(u["Source"].startswith(u["Homepage"]) for u in urls)
    assert len({_metadata(wheelhouse, d)["Author"] for d in dists.values()}) == 1


def test_summary_and_readme_name_every_extra(wheelhouse, dist, dists):
    """The README names every extra; the summary every extra that brings a core."""
    metadata = _metadata(wheelhouse, dist)
    readme = metadata.get_payload()
    for extra, requirements in dist.extras.items():
        assert re.search(rf"\[([\w,]*,)?{extra}(,[\w,]*)?\]", readme), extra
        if any(r.name in dists for r in requirements):
            assert re.search(rf"\b{extra}\b", metadata["Summary"]), extra


def test_readme_renders_on_pypi_without_relative_links(wheelhouse, dist):
    readme = _metadata(wheelhouse, dist).get_payload()
    targets = [next(filter(None, m.groups())) for m in LINK_TARGET.finditer(readme)]
    assert targets  # the README links to the project at least
    relative = [target for target in targets if not ABSOLUTE.match(target)]
    assert not relative, f"links that lead nowhere on PyPI: {relative}"
    # A path in the repository means nothing to a reader on PyPI either.
    assert not re.search(r"`(?:docs|tests|tools)/", readme)


def test_wheel_installs_alone_into_a_clean_venv_and_imports(
    wheelhouse, dist, dists, make_venv, run_ok, tmp_path
):
    """Alone, with every extra: what it declares is all it needs."""
    venv = make_venv()
    spec = f"{dist.name}[{','.join(sorted(dist.extras))}]" if dist.extras else dist.name
    env = venv.env(find_links=wheelhouse)
    run_ok(venv.python, "-m", "pip", "install", "--quiet", spec, cwd=tmp_path, env=env)
    run_ok(venv.python, "-m", "pip", "check", cwd=tmp_path, env=env)
    with zipfile.ZipFile(_wheel(wheelhouse, dist)) as wheel:
        modules = sorted(
            name.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            for name in wheel.namelist()
            if name.endswith(".py")
        )
    versions = {d.name: d.version for d in dists.values()}
    check = f"""
import importlib, importlib.metadata, pathlib
for module in {modules!r}:
    where = pathlib.Path(importlib.import_module(module).__file__)
    assert where.is_relative_to({str(venv.path)!r}), (module, where)
for found in importlib.metadata.distributions():
    name = found.metadata["Name"].lower().replace("_", "-")
    if name in {versions!r}:
        assert found.version == {versions!r}[name], (name, found.version)
"""
    run_ok(venv.python, "-c", check, cwd=tmp_path, env=env)
