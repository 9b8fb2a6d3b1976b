"""Regenerate the committed Python code for every contract under proto/patron.

Run from anywhere: ``python proto/generate.py``. ``--check`` regenerates into a temporary
folder and exits 1 when the committed code differs (CI and the test suite use it).
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
PACKAGE = "patron"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def _proto_files(root: Path) -> list[Path]:
    return sorted((root / PACKAGE).rglob("*.proto"))


def generate(out_dir: Path) -> None:
    """Run protoc (from grpcio-tools) over every contract into ``out_dir``, with package inits."""
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).resolve().parent / "_proto"
    files = [str(p.relative_to(PROTO_ROOT)) for p in _proto_files(PROTO_ROOT)]
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *files,
    ]
    code = protoc.main(args)
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")
    for directory in [out_dir / PACKAGE, *(out_dir / PACKAGE).rglob("*")]:
        if directory.is_dir():
            (directory / "__init__.py").touch()


def _generated_files(root: Path) -> set[Path]:
    package = root / PACKAGE
    return {
        p.relative_to(root)
        for p in package.rglob("*")
        if p.is_file() and (p.name.endswith(GENERATED_SUFFIXES) or p.name == "__init__.py")
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when the committed code is stale")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generate(out)
        fresh = _generated_files(out)
        committed = _generated_files(PROTO_ROOT)
        if options.check:
            stale = sorted(
                str(p)
                for p in fresh | committed
                if p not in fresh
                or p not in committed
                or not filecmp.cmp(out / p, PROTO_ROOT / p, shallow=False)
            )
            if stale:
                print("generated code is stale; run `python proto/generate.py`:", *stale, sep="\n  ")
                return 1
            print("generated code is up to date")
            return 0
        for path in committed - fresh:
            (PROTO_ROOT / path).unlink()
        for path in fresh:
            target = PROTO_ROOT / path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out / path, target)
        print(f"generated {len(fresh)} files under {PROTO_ROOT / PACKAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
