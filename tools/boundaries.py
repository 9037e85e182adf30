"""Import boundaries between the kit's packages, checked with ``ast`` (no import is executed).

A package's ``src/`` may import another local package only when it declares it (by distribution
name) in its ``[project] dependencies``, and never that package's private parts: a module or name
starting with ``_`` (dunders such as ``__version__`` are public). A service (a folder of
``services/``) never imports another service, declared or not: only a composition that runs
services in one process (services/one-process) does, and it names them in its pyproject.toml::

    [tool.boundaries]
    composes = ["gateway-graphql", "user-service"]

Each package's own imports are not checked here (import-linter contracts inside the services do
that).

    python tools/boundaries.py        # exit status 1 and one line per violation
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Package:
    folder: Path
    name: str  # canonical distribution name
    import_names: frozenset[str]
    declared: frozenset[str]  # canonical names of [project] dependencies
    service: bool = False  # a folder of services/
    composes: frozenset[str] = frozenset()  # canonical names of [tool.boundaries] composes


@dataclass(frozen=True)
class Violation:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def load_package(folder: Path) -> Package:
    with (folder / "pyproject.toml").open("rb") as file:
        data = tomllib.load(file)
    project = data["project"]
    composes = data.get("tool", {}).get("boundaries", {}).get("composes", [])
    wheel = data.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {})
    paths = wheel.get("wheel", {}).get("packages") or [
        str(p.relative_to(folder)) for p in (folder / "src").glob("*/__init__.py")
    ]
    import_names = frozenset(
        Path(p).parent.name if p.endswith(".py") else Path(p).name for p in paths
    )
    declared = frozenset(
        canonicalize_name(Requirement(text).name) for text in project.get("dependencies", [])
    )
    return Package(
        folder,
        canonicalize_name(project["name"]),
        import_names,
        declared,
        service=folder.parent.name == "services",
        composes=frozenset(canonicalize_name(name) for name in composes),
    )


def discover(root: Path = ROOT) -> list[Package]:
    folders = sorted(
        p.parent for kind in ("libs", "services") for p in root.glob(f"{kind}/*/pyproject.toml")
    )
    return [load_package(folder) for folder in folders]


def _imports(tree: ast.AST) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, imported names) for every import statement."""
    found: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module, [alias.name for alias in node.names]))
    return found


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def check_package(package: Package, packages: list[Package], root: Path = ROOT) -> list[Violation]:
    owners = {name: other for other in packages for name in other.import_names}
    violations: list[Violation] = []
    for path in sorted((package.folder / "src").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        for line, module, names in _imports(tree):
            owner = owners.get(module.split(".")[0])
            if owner is None or owner.name == package.name:
                continue
            if owner.name not in package.declared:
                violations.append(
                    Violation(
                        shown,
                        line,
                        f"imports {module} from {owner.name}, which {package.name} does not "
                        "declare in [project] dependencies",
                    )
                )
            if package.service and owner.service and owner.name not in package.composes:
                violations.append(
                    Violation(
                        shown,
                        line,
                        f"imports {module} of the service {owner.name}: a service never imports "
                        "another (only a composition listing it in [tool.boundaries] composes "
                        "may)",
                    )
                )
            private = [p for p in module.split(".")[1:] if _private(p)]
            private += [name for name in names if _private(name)]
            if private:
                violations.append(
                    Violation(
                        shown,
                        line,
                        f"imports private {', '.join(private)} of {owner.name} ({module}): "
                        "use its public API",
                    )
                )
    return violations


def check(root: Path = ROOT) -> list[Violation]:
    packages = discover(root)
    return [v for package in packages for v in check_package(package, packages, root)]


def main() -> int:
    violations = check()
    for violation in violations:
        print(violation)
    print(f"boundaries: {len(violations)} violation(s) in {len(discover())} packages")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
