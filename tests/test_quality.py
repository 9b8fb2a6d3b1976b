"""The code stays ruff- and mypy-clean: the suite fails when it is not."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _run(repo_root: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=repo_root, capture_output=True, text=True, check=False)


def _tool(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


def test_ruff(repo_root: Path) -> None:
    ruff = _tool("ruff")
    lint = _run(repo_root, ruff, "check", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    formatted = _run(repo_root, ruff, "format", "--check", ".")
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_mypy(repo_root: Path) -> None:
    result = _run(repo_root, sys.executable, "-m", "mypy", ".")
    assert result.returncode == 0, result.stdout + result.stderr
