"""The package's metadata: one version (the workspace's, in Cargo.toml), the license files."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import didcomm_edge as de

ROOT = Path(__file__).parents[2]


def workspace_version() -> str:
    text = (ROOT / "Cargo.toml").read_text()
    section = text.split("[workspace.package]", 1)[1]
    found = re.search(r'^version\s*=\s*"([^"]+)"', section, re.MULTILINE)
    assert found, "no version in [workspace.package]"
    return found.group(1)


def as_pep440(version: str) -> str:
    # What maturin writes for a Cargo pre-release: 1.2.0-rc.1 -> 1.2.0rc1 (alpha a, beta b).
    return re.sub(
        r"-(alpha|beta|rc)\.?(\d+)$",
        lambda m: {"alpha": "a", "beta": "b", "rc": "rc"}[m.group(1)] + m.group(2),
        version,
    )


def test_version_is_the_workspace_version() -> None:
    assert de.__version__ == as_pep440(workspace_version())
    assert metadata.version("didcomm-edge") == de.__version__


def test_metadata_declares_the_license() -> None:
    meta = metadata.metadata("didcomm-edge")
    declared = (meta.get_all("License-Expression") or []) + (meta.get_all("License") or [])
    assert "Apache-2.0" in declared
    assert meta["Requires-Python"] == ">=3.9"
    assert sorted(meta.get_all("License-File") or []) == ["LICENSE", "NOTICE"]


def test_the_package_imported_is_the_installed_wheel() -> None:
    # `make test` runs this suite against the built wheel in a fresh venv, as a user installs it:
    # an editable install or the source tree on sys.path would hide what the wheel leaves out.
    dist = metadata.distribution("didcomm-edge")
    installed = {Path(str(dist.locate_file(f))).resolve() for f in dist.files or []}
    imported = Path(de.__file__ or "").resolve()
    assert imported in installed
    assert ROOT / "python" / "src" not in imported.parents
    assert (imported.parent / "_native" / "libdidcomm_edge_ffi.so").resolve() in installed
