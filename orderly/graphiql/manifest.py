"""The manifest of vendored GraphiQL assets: which npm package, version and file, with its hashes.

`manifest.json` beside this module is the single list of what the page loads: the page builds
its tags (and SRI integrity attributes) from it, the asset route serves only the files it
names, and `scripts/refresh_graphiql_assets.py` downloads and re-hashes exactly those files.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path
from typing import Literal

HERE = Path(__file__).parent
MANIFEST_PATH = HERE / "manifest.json"
VENDOR_DIR = HERE / "vendor"

Role = Literal["script", "style", "licence"]


@dataclass(frozen=True, kw_only=True)
class VendoredFile:
    """One file taken from a package's tarball, stored as vendor/<name>@<version>/<file>."""

    source: str  # path inside the npm tarball, e.g. "package/umd/react.production.min.js"
    file: str
    role: Role
    sha256: str = ""
    integrity: str = ""  # "sha384-<base64>", as in an SRI integrity attribute


@dataclass(frozen=True, kw_only=True)
class VendoredPackage:
    """One npm package at one pinned version."""

    name: str
    version: str
    license: str
    tarball: str
    tarball_integrity: str  # the registry's dist.integrity of the tarball
    files: tuple[VendoredFile, ...]
    note: str = ""

    @property
    def directory(self) -> str:
        """The folder under vendor/ (and under the static URL) holding this package's files."""
        return f"{self.name}@{self.version}"

    def path_of(self, vendored: VendoredFile) -> str:
        """The file's path relative to vendor/, which is also its URL below the static prefix."""
        return f"{self.directory}/{vendored.file}"


def digests(data: bytes) -> tuple[str, str]:
    """The hex SHA-256 and the SRI sha384 integrity string of some bytes."""
    sha384 = base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")
    return hashlib.sha256(data).hexdigest(), f"sha384-{sha384}"


def read_manifest(path: Path = MANIFEST_PATH) -> tuple[VendoredPackage, ...]:
    """The packages listed in a manifest file, in page order."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return tuple(
        VendoredPackage(
            **{key: value for key, value in package.items() if key != "files"},
            files=tuple(VendoredFile(**entry) for entry in package["files"]),
        )
        for package in raw["packages"]
    )


@cache
def manifest() -> tuple[VendoredPackage, ...]:
    """The installed package's manifest, read once."""
    return read_manifest()


def write_manifest(packages: tuple[VendoredPackage, ...], path: Path = MANIFEST_PATH) -> None:
    """Write the manifest back, keeping the key order stable for readable diffs."""
    body = {
        "about": "GraphiQL's assets, vendored from the npm registry; refresh with scripts/refresh_graphiql_assets.py",
        "packages": [asdict(package) | {"files": [asdict(entry) for entry in package.files]} for package in packages],
    }
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


def with_hashes(package: VendoredPackage, contents: dict[str, bytes]) -> VendoredPackage:
    """The package with each file's hashes recomputed from its contents (keyed by file name)."""
    files = []
    for entry in package.files:
        sha256, integrity = digests(contents[entry.file])
        files.append(replace(entry, sha256=sha256, integrity=integrity))
    return replace(package, files=tuple(files))


def problems(packages: tuple[VendoredPackage, ...], vendor_dir: Path = VENDOR_DIR) -> list[str]:
    """Every vendored file that is missing or whose bytes do not match the manifest."""
    found = []
    for package in packages:
        for entry in package.files:
            path = vendor_dir / package.path_of(entry)
            if not path.is_file():
                found.append(f"{package.path_of(entry)}: missing")
                continue
            sha256, integrity = digests(path.read_bytes())
            if (sha256, integrity) != (entry.sha256, entry.integrity):
                found.append(f"{package.path_of(entry)}: sha256 {sha256} does not match the manifest's {entry.sha256}")
    return found
