"""The committed generated code matches the contracts in proto/."""

import sys
from pathlib import Path

from tests.support import run_command


async def test_generated_code_is_current(repo_root: Path) -> None:
    result = await run_command(sys.executable, str(repo_root / "proto" / "generate.py"), "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_code_imports_under_the_proto_package_name() -> None:
    from patron.common.v1 import tenancy_pb2
    from patron.events.v1 import envelope_pb2
    from patron.profile.v1 import profile_pb2, profile_pb2_grpc

    assert profile_pb2.DESCRIPTOR.package == "patron.profile.v1"
    assert tenancy_pb2.DESCRIPTOR.package == "patron.common.v1"
    assert envelope_pb2.DESCRIPTOR.package == "patron.events.v1"
    assert hasattr(profile_pb2_grpc, "CustomerServiceStub")
