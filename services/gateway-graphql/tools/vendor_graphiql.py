"""Vendor GraphiQL and React into the package, so that GraphiQL works without internet access.

    python tools/vendor_graphiql.py                      # the pinned versions below
    python tools/vendor_graphiql.py --graphiql 3.9.0 --react 18.3.1

Needs ``npm`` (it only downloads: ``npm pack`` fetches the published tarballs from the npm
registry). Copies the minified UMD / production bundles and the licences to
``src/gateway_graphql/static/graphiql/`` and writes ``VERSIONS.json`` (versions and sha256 of every
file; ``tests/test_graphiql.py`` checks the files against it). Commit the result.

GraphiQL 3.x is the last line that publishes a UMD bundle and supports React 18, the last React
with UMD builds: moving to GraphiQL 4/5 means an ESM build step instead of this script.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

GRAPHIQL = "3.9.0"
REACT = "18.3.1"
TARGET = Path(__file__).resolve().parent.parent / "src" / "gateway_graphql" / "static" / "graphiql"

# (npm package, file inside the tarball's package/ folder, name in TARGET)
FILES = [
    ("graphiql", "graphiql.min.js", "graphiql.min.js"),
    ("graphiql", "graphiql.min.css", "graphiql.min.css"),
    ("graphiql", "LICENSE", "LICENSE.graphiql"),
    ("react", "umd/react.production.min.js", "react.production.min.js"),
    ("react", "LICENSE", "LICENSE.react"),
    ("react-dom", "umd/react-dom.production.min.js", "react-dom.production.min.js"),
    ("react-dom", "LICENSE", "LICENSE.react-dom"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graphiql", default=GRAPHIQL)
    parser.add_argument("--react", default=REACT, help="react and react-dom version")
    args = parser.parse_args(argv)
    versions = {"graphiql": args.graphiql, "react": args.react, "react-dom": args.react}
    npm = shutil.which("npm")
    if npm is None:
        print("npm is needed (apt-get install npm)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        specs = [f"{name}@{version}" for name, version in versions.items()]
        subprocess.run([npm, "pack", "--silent", *specs], cwd=tmp, check=True)  # noqa: S603
        packages: dict[str, Path] = {}
        for name, version in versions.items():
            folder = Path(tmp) / name
            with tarfile.open(Path(tmp) / f"{name}-{version}.tgz") as archive:
                archive.extractall(folder, filter="data")
            packages[name] = folder / "package"
        TARGET.mkdir(parents=True, exist_ok=True)
        manifest: dict[str, object] = {"packages": versions, "files": {}}
        files: dict[str, str] = {}
        for package, source, name in FILES:
            data = (packages[package] / source).read_bytes()
            (TARGET / name).write_bytes(data)
            files[name] = hashlib.sha256(data).hexdigest()
        manifest["files"] = files
        (TARGET / "VERSIONS.json").write_text(json.dumps(manifest, indent=2) + "\n")
    total = sum((TARGET / name).stat().st_size for _, _, name in FILES)
    print(f"vendored {', '.join(specs)} into {TARGET} ({total / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
