"""Download GraphiQL's pinned assets from the npm registry into orderly/graphiql/vendor/, or check them.

    .venv/bin/python scripts/refresh_graphiql_assets.py           # download, verify, re-hash the manifest
    .venv/bin/python scripts/refresh_graphiql_assets.py --check   # offline: vendored files match the manifest

To move to another version, change `version` (and clear `tarball` and `tarball_integrity`) in
orderly/graphiql/manifest.json, run the script, then look at the page in a browser. Each
tarball is checked against the registry's dist.integrity (sha512) before a file is taken
from it; a pinned tarball_integrity that the registry no longer reports is an error.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import urllib.parse
import urllib.request
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orderly.graphiql.manifest import (  # noqa: E402 - after the path set-up above
    VENDOR_DIR,
    VendoredPackage,
    problems,
    read_manifest,
    with_hashes,
    write_manifest,
)

REGISTRY = os.environ.get("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org").rstrip("/")


class RefreshError(RuntimeError):
    """A download did not match what the registry or the manifest promised."""


def fetch(url: str) -> bytes:
    """The body of a GET, or an exception."""
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - the npm registry only
        return response.read()


def registry_dist(package: VendoredPackage) -> tuple[str, str]:
    """The registry's tarball URL and sha512 integrity for the pinned version."""
    name = urllib.parse.quote(package.name, safe="@")
    metadata = json.loads(fetch(f"{REGISTRY}/{name}/{package.version}"))
    return metadata["dist"]["tarball"], metadata["dist"]["integrity"]


def verified_tarball(package: VendoredPackage) -> tuple[VendoredPackage, bytes]:
    """The package's tarball, checked against the registry's sha512 (and the manifest's pin)."""
    tarball_url, integrity = registry_dist(package)
    if package.tarball_integrity and package.tarball_integrity != integrity:
        raise RefreshError(f"{package.directory}: registry integrity {integrity} != pinned {package.tarball_integrity}")
    data = fetch(tarball_url)
    algorithm, _, expected = integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode("ascii")
    if actual != expected:
        raise RefreshError(f"{package.directory}: downloaded tarball has {algorithm} {actual}, expected {expected}")
    return replace(package, tarball=tarball_url, tarball_integrity=integrity), data


def extract(package: VendoredPackage, data: bytes) -> dict[str, bytes]:
    """The manifest's files of this package, read from its tarball, keyed by file name."""
    contents = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for entry in package.files:
            member = archive.extractfile(entry.source)
            if member is None:
                raise RefreshError(f"{package.directory}: {entry.source} is not a file in the tarball")
            contents[entry.file] = member.read()
    return contents


def refresh(vendor_dir: Path = VENDOR_DIR) -> None:
    """Download every package, write its files, drop folders of old versions, re-hash the manifest."""
    refreshed = []
    for package in read_manifest():
        package, data = verified_tarball(package)
        contents = extract(package, data)
        target = vendor_dir / package.directory
        target.mkdir(parents=True, exist_ok=True)
        for name, body in contents.items():
            (target / name).write_bytes(body)
        refreshed.append(with_hashes(package, contents))
        print(f"{package.directory}: {len(contents)} files, {sum(map(len, contents.values())):,} bytes")
    kept = {vendor_dir / package.directory for package in refreshed}
    scopes = {folder.parent for folder in kept}
    for folder in sorted(vendor_dir.rglob("*@*"), reverse=True):
        if folder.is_dir() and folder not in kept and folder not in scopes:
            print(f"removing {folder.relative_to(vendor_dir)} (no longer in the manifest)")
            shutil.rmtree(folder)
    write_manifest(tuple(refreshed))


def main(argv: list[str] | None = None) -> int:
    """Refresh, or with --check verify the vendored files against the manifest."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the vendored files offline; change nothing")
    args = parser.parse_args(argv)
    if args.check:
        found = problems(read_manifest())
        for problem in found:
            print(problem, file=sys.stderr)
        print("GraphiQL assets: " + ("MISMATCH" if found else "all files match the manifest"))
        return 1 if found else 0
    refresh()
    return 0


if __name__ == "__main__":
    sys.exit(main())
