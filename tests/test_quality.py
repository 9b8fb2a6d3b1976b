"""The code stays ruff- and mypy-clean: the suite fails when it is not."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import run_command


async def _run(repo_root: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return await run_command(*command, cwd=repo_root, limit_seconds=600)


def _tool(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


async def test_ruff(repo_root: Path) -> None:
    ruff = _tool("ruff")
    lint = await _run(repo_root, ruff, "check", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    formatted = await _run(repo_root, ruff, "format", "--check", ".")
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


async def test_mypy(repo_root: Path) -> None:
    result = await _run(repo_root, sys.executable, "-m", "mypy", ".")
    assert result.returncode == 0, result.stdout + result.stderr


# --- The shape every service shares (docs/architecture.md) ---------------------------------------

SERVICES = ("profile", "scoring", "loyalty", "notify")
FORBIDDEN_IN_DOMAIN = ("grpc", "sqlalchemy", "asyncpg", "patron", "google.protobuf")
MAX_MODULE_LINES = 500


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _is_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _source_files(repo_root: Path) -> list[Path]:
    """Our own Python sources: not tests, benchmarks, generated contracts or migrations."""
    files = [*(repo_root / "services").rglob("*.py"), *(repo_root / "gateway").rglob("*.py")]
    return [f for f in files if "migrations" not in f.parts]


def test_domain_imports_no_transport_or_storage(repo_root: Path) -> None:
    """Rules stay testable and portable: a domain module knows no gRPC, SQL driver or generated code."""
    faults = [
        f"{path.relative_to(repo_root)} imports {module}"
        for service in SERVICES
        for path in sorted((repo_root / "services" / service / "domain").rglob("*.py"))
        for module in sorted(_imported_modules(path))
        if any(_is_under(module, banned) for banned in FORBIDDEN_IN_DOMAIN)
    ]
    assert not faults, "\n".join(faults)


def test_runtime_imports_no_service(repo_root: Path) -> None:
    """The shared runtime serves all four services and depends on none of them."""
    faults = [
        f"{path.relative_to(repo_root)} imports {module}"
        for path in sorted((repo_root / "services" / "runtime").rglob("*.py"))
        for module in sorted(_imported_modules(path))
        if any(_is_under(module, f"services.{service}") for service in SERVICES)
        or _is_under(module, "gateway")
    ]
    assert not faults, "\n".join(faults)


def test_transport_opens_no_transaction(repo_root: Path) -> None:
    """Servicers convert and delegate; a transaction belongs to the store (or a domain use case)."""
    faults = [
        str(path.relative_to(repo_root))
        for service in SERVICES
        for path in sorted((repo_root / "services" / service / "transport").rglob("*.py"))
        if ".transaction(" in path.read_text(encoding="utf-8")
        or "sqlalchemy" in " ".join(_imported_modules(path))
    ]
    assert not faults, "transport modules that open transactions or use SQL: " + ", ".join(faults)


def test_no_module_is_too_long(repo_root: Path) -> None:
    """Modules stay small enough to read whole; generated code, migrations, tests and benches aside."""
    faults = [
        f"{path.relative_to(repo_root)}: {lines} lines"
        for path in sorted(_source_files(repo_root))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert not faults, "\n".join(faults)


def test_no_fault_injection_in_production_code(repo_root: Path) -> None:
    """A crash test injects its fault; no production handler kills its own process.

    The faults a crash test may inject live in a service's ``fault_injection.py``, wired in by its
    ``app.py`` only outside production.
    """
    faults = [
        str(path.relative_to(repo_root))
        for path in sorted(_source_files(repo_root))
        if "os.kill(" in path.read_text(encoding="utf-8") and path.name != "fault_injection.py"
    ]
    assert not faults, ", ".join(faults)


def test_servicers_carry_no_per_method_noqa(repo_root: Path) -> None:
    """The generated interfaces' CamelCase names are allowed once, per file, in pyproject.toml."""
    faults = [
        str(path.relative_to(repo_root))
        for path in sorted(_source_files(repo_root))
        if "noqa: N802" in path.read_text(encoding="utf-8")
    ]
    assert not faults, ", ".join(faults)
