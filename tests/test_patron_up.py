"""`patron up` as a user runs it: embedded PostgreSQL, five processes, the slice over HTTP, clean stop."""

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import free_port

pytestmark = pytest.mark.slow

START_TIMEOUT = 120


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes; /proc tells.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\nState:\tZ" not in status.read_text()


class Running:
    def __init__(self, process: subprocess.Popen[str], output: Path) -> None:
        self.process = process
        self.output = output

    def text(self) -> str:
        return self.output.read_text()

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.text())
            if found:
                return found
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{pattern!r} never appeared:\n{self.text()}")

    def child_pids(self) -> dict[str, int]:
        return {name: int(pid) for name, pid in re.findall(r"started (\w+) \(pid (\d+)\)", self.text())}


@pytest.fixture
def patron_up(tmp_path: Path) -> Iterator[tuple[Running, int, Path]]:
    home = tmp_path / "home"
    gateway_port = free_port()
    env = {
        **os.environ,
        "PATRON_HOME": str(home),
        "PATRON_GATEWAY_PORT": str(gateway_port),
        **{f"PATRON_{s}_GRPC_PORT": str(free_port()) for s in ("PROFILE", "SCORING", "LOYALTY", "NOTIFY")},
    }
    for service in ("PROFILE", "SCORING", "LOYALTY", "NOTIFY"):
        env.pop(f"PATRON_{service}_DATABASE_URL", None)
    env.pop("PATRON_ADMIN_TOKEN", None)
    output = tmp_path / "up.log"
    with output.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.runtime.cli", "up"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    running = Running(process, output)
    try:
        yield running, gateway_port, home
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _postgres_pid(home: Path) -> int | None:
    pid_file = home / "pgdata" / "postmaster.pid"
    return int(pid_file.read_text().split()[0]) if pid_file.exists() else None


def test_up_serves_the_slice_and_stops_cleanly(patron_up: tuple[Running, int, Path]) -> None:
    running, port, home = patron_up
    token = running.wait_for(r"Admin token: (\S+)").group(1)
    assert (home / "admin_token").read_text().strip() == token
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/readyz").status_code == 200
        tenant = client.post(
            "/v1/admin/tenants", json={"name": "Up shop"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert tenant.status_code == 201, tenant.text
        key = {"Authorization": f"Bearer {tenant.json()['api_key']}"}
        identified = client.post(
            "/v1/customers/identify",
            json={"identities": [{"type": "phone", "value": "13800138000"}]},
            headers=key,
        )
        assert identified.status_code == 200
        customer = client.get(f"/v1/customers/{identified.json()['customer_id']}", headers=key)
        assert customer.json()["identities"] == [
            {"type": "phone", "value": "+86 138****8000", "verified": False}
        ]

    children = running.child_pids()
    assert set(children) == {"profile", "scoring", "loyalty", "notify", "gateway"}
    postgres = _postgres_pid(home)
    assert postgres is not None
    assert _alive(postgres)

    started = time.monotonic()
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=15) == 0
    assert time.monotonic() - started < 15
    for name, pid in children.items():
        assert not _alive(pid), f"{name} (pid {pid}) is still running"
    assert not _alive(postgres), "the embedded PostgreSQL is still running"
    assert "patron: stopped" in running.text()


def test_a_child_that_dies_is_restarted(patron_up: tuple[Running, int, Path]) -> None:
    running, port, _ = patron_up
    running.wait_for(r"Patron is up")
    os.kill(running.child_pids()["scoring"], signal.SIGKILL)
    running.wait_for(r"scoring exited with code -9; restarting in 1 s", timeout=10)
    deadline = time.monotonic() + 30
    with httpx.Client(timeout=5) as client:
        while client.get(f"http://127.0.0.1:{port}/readyz").status_code != 200:
            assert time.monotonic() < deadline, running.text()
            time.sleep(0.3)
    running.process.send_signal(signal.SIGINT)
    assert running.process.wait(timeout=15) == 0
