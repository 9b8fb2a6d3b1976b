"""TLS, or mutual TLS, on every gRPC hop: gateway to services, service to service, ``patron`` commands.

Configured once for every process by ``PATRON_GRPC_TLS_*`` (:class:`RuntimeSettings`): the process's
certificate and key (PEM files; a service serves with them, and with ``CLIENT_AUTH`` every process
presents them as a client), the CA bundle that verifies peers, and optionally the name clients expect
in the servers' certificates when it is not the host they dial. Without any of them every channel and
port is plaintext, as before; a production process then refuses to start unless
``PATRON_GRPC_TLS_DISABLED=true`` says the network encrypts (a service mesh), see
:func:`transport_security`. The files are read when a process starts (and when it opens a channel):
renewing certificates means restarting the processes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from services.runtime.settings import RuntimeSettings, ServiceSettings
from services.runtime.telemetry import grpc_client_interceptors

logger = logging.getLogger(__name__)

CERT, KEY, CA = "PATRON_GRPC_TLS_CERT", "PATRON_GRPC_TLS_KEY", "PATRON_GRPC_TLS_CA"
CLIENT_AUTH, SERVER_NAME = "PATRON_GRPC_TLS_CLIENT_AUTH", "PATRON_GRPC_TLS_SERVER_NAME"
DISABLED = "PATRON_GRPC_TLS_DISABLED"


@dataclass(frozen=True)
class GrpcTls:
    """The PEM material of one process and how to use it (as a server, as a client)."""

    ca: bytes | None
    cert: bytes | None
    key: bytes | None
    client_auth: bool = False
    server_name: str = ""

    def check_can_serve(self) -> None:
        """A server needs its own certificate; a gateway (client only) does not. Raises ValueError."""
        self._own_pair()

    def _own_pair(self) -> tuple[bytes, bytes]:
        if self.cert is None or self.key is None:
            raise ValueError(f"serving gRPC over TLS needs {CERT} and {KEY}")
        return self.key, self.cert

    def server_credentials(self) -> grpc.ServerCredentials:
        """The port's credentials; with client authentication, a client without a certificate of the
        CA is refused during the handshake."""
        return grpc.ssl_server_credentials(
            [self._own_pair()],
            root_certificates=self.ca if self.client_auth else None,
            require_client_auth=self.client_auth,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """A client's credentials: the CA verifies the server; with client authentication the
        process's own certificate answers the server's request for one."""
        mutual = self.client_auth
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca,
            private_key=self.key if mutual else None,
            certificate_chain=self.cert if mutual else None,
        )

    def channel_options(self) -> list[tuple[str, Any]]:
        """Checks the server's certificate for ``server_name`` instead of the dialled host."""
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


def _read_pem(variable: str, path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"{variable}: cannot read {path}: {error.strerror}") from error
    if b"-----BEGIN " not in data:
        raise ValueError(f"{variable}: {path} is not a PEM file")
    return data


def load_grpc_tls(runtime: RuntimeSettings) -> GrpcTls | None:
    """The configured TLS, files read and checked; None when none is configured (plaintext).

    Raises ValueError naming the variable on an incomplete or contradictory configuration or an
    unreadable file.
    """
    paths = {CERT: runtime.grpc_tls_cert, KEY: runtime.grpc_tls_key, CA: runtime.grpc_tls_ca}
    if not any(paths.values()):
        if runtime.grpc_tls_client_auth or runtime.grpc_tls_server_name:
            raise ValueError(f"{CLIENT_AUTH} and {SERVER_NAME} need TLS: set {CA} (and {CERT}, {KEY})")
        return None
    if runtime.grpc_tls_disabled:
        raise ValueError(f"{DISABLED}=true contradicts the {', '.join(v for v, p in paths.items() if p)} set")
    if bool(paths[CERT]) != bool(paths[KEY]):
        raise ValueError(f"set {CERT} and {KEY} together")
    if runtime.grpc_tls_client_auth and not all(paths.values()):
        raise ValueError(f"{CLIENT_AUTH}=true (mutual TLS) needs {CA}, {CERT} and {KEY}")
    pem = {variable: _read_pem(variable, path) if path else None for variable, path in paths.items()}
    return GrpcTls(
        ca=pem[CA],
        cert=pem[CERT],
        key=pem[KEY],
        client_auth=runtime.grpc_tls_client_auth,
        server_name=runtime.grpc_tls_server_name,
    )


def transport_security(runtime: RuntimeSettings, process: str) -> GrpcTls | None:
    """The TLS a long-running process (a service, the gateway) starts with.

    In production plaintext is refused (ValueError) unless ``PATRON_GRPC_TLS_DISABLED=true``
    acknowledges that something else protects the hops: personal data, API key hashes and points
    travel on them, and a process that forgot its certificates must not quietly send them in clear.
    """
    tls = load_grpc_tls(runtime)
    if tls is None and runtime.env == "production":
        if not runtime.grpc_tls_disabled:
            raise ValueError(
                f"gRPC without TLS in production: set {CA}, {CERT} and {KEY} (docs/security.md "
                f'"Configuration and transport"), or {DISABLED}=true when the network encrypts the '
                "hops (a service mesh's mutual TLS)"
            )
        logger.info("%s: gRPC in plaintext, as %s=true acknowledges", process, DISABLED)
    return tls


def client_channel(
    address: str,
    tls: GrpcTls | None,
    *,
    options: Sequence[tuple[str, Any]] = (),
    interceptors: Sequence[Any] | None = None,
) -> grpc.aio.Channel:
    """A channel to ``address``: TLS with ``tls``, plaintext without."""
    if tls is None:
        return grpc.aio.insecure_channel(address, options=list(options), interceptors=interceptors)
    return grpc.aio.secure_channel(
        address,
        tls.channel_credentials(),
        options=[*options, *tls.channel_options()],
        interceptors=interceptors,
    )


BALANCED = ("grpc.lb_policy_name", "round_robin")


def balancing(address: str) -> list[tuple[str, Any]]:
    """The channel options for ``address``: round robin when it names several replicas
    (``ipv4:10.0.0.5:50051,10.0.0.6:50051``, or ``dns:`` a name with several records), so calls
    spread over them and skip one that is down; none for one address. One address keeps gRPC's
    default (pick first), which reconnects on the next call after a restart, where round robin
    would answer UNAVAILABLE until its reconnect backoff has passed."""
    return [BALANCED] if "," in address or address.startswith("dns:") else []


def peer_channel(settings: ServiceSettings, service: str, runtime: RuntimeSettings) -> grpc.aio.Channel:
    """A channel from this service to another one (``settings.<service>_address``: its replicas,
    balanced), traced while tracing is active."""
    address = settings.address_of(service)
    return client_channel(
        address, load_grpc_tls(runtime), options=balancing(address), interceptors=grpc_client_interceptors()
    )
