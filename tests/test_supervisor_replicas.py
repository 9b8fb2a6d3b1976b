"""``patron up --replicas``: each service's processes, their ports, and every caller's balanced address."""

from __future__ import annotations

from pathlib import Path

from services.runtime.settings import SERVICE_NAMES
from services.runtime.supervisor import Supervisor, default_replicas


def test_one_process_per_service_for_every_four_cores() -> None:
    assert [default_replicas(cores) for cores in (1, 2, 4, 7, 8, 16)] == [1, 1, 1, 1, 2, 4]


def test_replicas_get_their_own_ports_and_every_caller_names_them_all(tmp_path: Path) -> None:
    urls = {service: f"postgresql://postgres@127.0.0.1:5432/patron_{service}" for service in SERVICE_NAMES}
    environ = {"PATRON_PROFILE_METRICS_PORT": "9101"}
    supervisor = Supervisor(home=tmp_path, environ=environ, replicas=2)
    environments, _, _ = supervisor._child_environments(urls)
    assert list(environments) == [
        *(name for service in SERVICE_NAMES for name in (service, f"{service}-2")),
        "gateway",
    ]
    assert environments["profile"]["PATRON_PROFILE_GRPC_PORT"] == "50051"
    assert environments["profile-2"]["PATRON_PROFILE_GRPC_PORT"] == "51051"
    assert environments["profile"]["PATRON_PROFILE_METRICS_PORT"] == "9101"
    assert environments["profile-2"]["PATRON_PROFILE_METRICS_PORT"] == "10101"
    assert environments["loyalty-2"]["PATRON_LOYALTY_DB_POOL_SIZE"] == "6"  # 100 connections shared
    assert environments["loyalty-2"]["PATRON_LOYALTY_DB_HOT_POOL_SIZE"] == "4"  # loyalty's 8 halved
    assert environments["notify"]["PATRON_NOTIFY_DB_HOT_POOL_SIZE"] == "2"  # the others' 4 halved
    both = "ipv4:127.0.0.1:50051,127.0.0.1:51051"
    assert environments["gateway"]["PATRON_GATEWAY_PROFILE_ADDRESS"] == both
    assert environments["scoring-2"]["PATRON_SCORING_PROFILE_ADDRESS"] == both


def test_one_replica_keeps_the_plain_addresses(tmp_path: Path) -> None:
    urls = {service: f"postgresql://postgres@127.0.0.1:5432/patron_{service}" for service in SERVICE_NAMES}
    environments, _, _ = Supervisor(home=tmp_path, environ={}, replicas=1)._child_environments(urls)
    assert list(environments) == [*SERVICE_NAMES, "gateway"]
    assert environments["gateway"]["PATRON_GATEWAY_LOYALTY_ADDRESS"] == "127.0.0.1:50053"
    assert "PATRON_PROFILE_DB_POOL_SIZE" not in environments["profile"]  # the service's default
    assert "PATRON_PROFILE_DB_HOT_POOL_SIZE" not in environments["profile"]
