"""Real local protocol peers for notify's providers: an SMTP server and HTTP servers that check each
request (signatures, auth, shapes) and answer like the provider, including its errors, 429 and timeouts.

HTTP peers are Starlette apps served by uvicorn in the caller's event loop (``async with serve(app)``);
the generic ``http`` peer also runs out of process for the benchmark:
``python -m tests.notify_peers http --port 8099 --latency-ms 50 [--secret whsec_...]``.
Scripts are lists of answers consumed one per request; an empty script answers success.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import itertools
import json
import socket
import ssl
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer  # noqa: N811
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Answer = tuple[int, Any, dict[str, str]] | float  # (status, json, headers) or a delay in seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    """Serve ``app`` on a free local port in this loop; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _scripted(script: list[Answer]) -> tuple[int, Any, dict[str, str]] | None:
    """Pop the next scripted answer; a float is a delay (then the normal answer)."""
    while script:
        answer = script.pop(0)
        if isinstance(answer, float | int):
            await asyncio.sleep(float(answer))
            continue
        return answer
    return None


@dataclass
class HttpPeer:
    """The tenant's endpoint for provider ``http``: verifies Standard Webhooks, dedupes by webhook-id."""

    secret: str | None = None
    latency: float = 0.0
    script: list[Answer] = field(default_factory=list)
    received: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)
    idempotency_keys: list[str] = field(default_factory=list)
    bad_signatures: int = 0
    received_at: dict[str, float] = field(default_factory=dict)  # key -> first receipt (epoch s)
    requests: int = 0

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/hook", self.hook, methods=["POST"]),
                Route("/stats", self.stats, methods=["GET"]),
                Route("/received", self.received_times, methods=["GET"]),
            ]
        )

    async def stats(self, request: Request) -> Response:
        """Counts and the first and last receipt (epoch seconds), for the benchmark."""
        times = self.received_at.values()
        return JSONResponse(
            {
                "requests": self.requests,
                "received": len(self.received),
                "duplicates": sum(self.attempts.values()) - len(self.attempts),
                "bad_signatures": self.bad_signatures,
                "first_at": min(times, default=None),
                "last_at": max(times, default=None),
            }
        )

    async def received_times(self, request: Request) -> Response:
        """Each message id (webhook-id) and when it first arrived, before the answer's latency."""
        return JSONResponse(self.received_at)

    async def hook(self, request: Request) -> Response:
        arrived = time.time()
        self.requests += 1
        body = await request.body()
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.secret is not None:
            try:
                Webhook(self.secret).verify(body, dict(request.headers))
            except Exception:
                self.bad_signatures += 1
                return JSONResponse({"error": "bad signature"}, status_code=401)
        scripted = await _scripted(self.script)
        if scripted is not None:
            status, content, headers = scripted
            return JSONResponse(content, status_code=status, headers=headers)
        document = json.loads(body)
        key = request.headers.get("webhook-id") or document["message_id"]
        self.attempts[key] += 1
        self.idempotency_keys.append(request.headers.get("idempotency-key", ""))
        self.received.setdefault(key, document)  # a second copy is acknowledged, not stored again
        self.received_at.setdefault(key, arrived)
        return JSONResponse({"id": f"peer-{key}"})


def aliyun_signature(secret: str, params: dict[str, str]) -> str:
    """Aliyun's RPC v1 signature, written independently of the provider's to check it."""

    def enc(text: str) -> str:
        return quote(text, safe="-_.~")

    pairs = "&".join(f"{enc(k)}={enc(params[k])}" for k in sorted(params) if k != "Signature")
    to_sign = "POST&" + enc("/") + "&" + enc(pairs)
    mac = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


@dataclass
class AliyunPeer:
    """dysmsapi SendSms: checks the signature with the known secret, answers with Aliyun's JSON."""

    access_key_id: str = "LTAI-test"
    secret: str = "aliyun-secret"
    script: list[Answer] = field(default_factory=list)
    sent: list[dict[str, str]] = field(default_factory=list)
    nonces: set[str] = field(default_factory=set)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/", self.send, methods=["POST"])])

    async def send(self, request: Request) -> Response:
        params = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        request_id = {"RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990"}
        if params.get("AccessKeyId") != self.access_key_id:
            return JSONResponse({**request_id, "Code": "InvalidAccessKeyId.NotFound"}, status_code=404)
        if params.get("Signature") != aliyun_signature(self.secret, params):
            message = "Specified signature is not matched with our calculation."
            body = {**request_id, "Code": "SignatureDoesNotMatch", "Message": message}
            return JSONResponse(body, status_code=400)
        required = ("Action", "Version", "SignatureNonce", "Timestamp", "PhoneNumbers", "SignName")
        if params.get("SignatureNonce") in self.nonces or any(not params.get(k) for k in required):
            return JSONResponse({**request_id, "Code": "SignatureNonceUsed"}, status_code=400)
        self.nonces.add(params["SignatureNonce"])
        assert params["Action"] == "SendSms"
        assert params["Version"] == "2017-05-25"
        assert params["SignatureMethod"] == "HMAC-SHA1"
        scripted = await _scripted(self.script)
        if scripted is not None:
            status, content, headers = scripted
            return JSONResponse({**request_id, **content}, status_code=status, headers=headers)
        self.sent.append(params)
        return JSONResponse({**request_id, "Code": "OK", "Message": "OK", "BizId": f"900619{len(self.sent)}"})


@dataclass
class JPushPeer:
    """JPush v3 /v3/push: Basic auth app_key:master_secret, the JSON shape, JPush's error bodies."""

    app_key: str = "jpush-app"
    master_secret: str = "jpush-master"
    script: list[Answer] = field(default_factory=list)
    pushes: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v3/push", self.push, methods=["POST"])])

    async def push(self, request: Request) -> Response:
        expected = base64.b64encode(f"{self.app_key}:{self.master_secret}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            error = {"code": 1004, "message": "Authen failed"}
            return JSONResponse({"error": error}, status_code=401)
        body = await request.json()
        shape_ok = (
            body.get("platform") == "all"
            and isinstance(body.get("audience", {}).get("registration_id"), list)
            and isinstance(body.get("notification", {}).get("alert"), str)
            and isinstance(body.get("options", {}).get("sendno"), int)
        )
        if not shape_ok:
            return JSONResponse({"error": {"code": 1003, "message": "invalid body"}}, status_code=400)
        scripted = await _scripted(self.script)
        if scripted is not None:
            status, content, headers = scripted
            return JSONResponse(content, status_code=status, headers=headers)
        self.pushes.append(body)
        return JSONResponse({"sendno": str(body["options"]["sendno"]), "msg_id": f"5400{len(self.pushes)}"})


@dataclass
class WeChatPeer:
    """WeChat's token endpoint and subscribeMessage.send; ``expire_token()`` makes the current token
    answer 40001 like a token invalidated by another server of the same app."""

    app_id: str = "wx-test"
    app_secret: str = "wx-secret"
    refused: set[str] = field(default_factory=set)  # openids that refused: 43101
    script: list[Answer] = field(default_factory=list)
    token_fetches: int = 0
    valid_token: str | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/cgi-bin/token", self.token, methods=["GET"]),
                Route("/cgi-bin/message/subscribe/send", self.send, methods=["POST"]),
            ]
        )

    def expire_token(self) -> None:
        self.valid_token = None

    async def token(self, request: Request) -> Response:
        query = request.query_params
        if query.get("grant_type") != "client_credential" or query.get("appid") != self.app_id:
            return JSONResponse({"errcode": 40013, "errmsg": "invalid appid"})
        if query.get("secret") != self.app_secret:
            return JSONResponse({"errcode": 40125, "errmsg": "invalid appsecret"})
        self.token_fetches += 1
        self.valid_token = f"ACCESS_TOKEN_{next(self._counter)}"
        return JSONResponse({"access_token": self.valid_token, "expires_in": 7200})

    async def send(self, request: Request) -> Response:
        if request.query_params.get("access_token") != self.valid_token or self.valid_token is None:
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
        body = await request.json()
        if not body.get("touser"):
            return JSONResponse({"errcode": 40003, "errmsg": "invalid openid"})
        if not body.get("template_id"):
            return JSONResponse({"errcode": 40037, "errmsg": "invalid template_id"})
        data = body.get("data")
        if not isinstance(data, dict) or any(
            not isinstance(v, dict) or "value" not in v for v in data.values()
        ):
            return JSONResponse({"errcode": 47003, "errmsg": "argument invalid! data.thing1.value invalid"})
        if body["touser"] in self.refused:
            return JSONResponse({"errcode": 43101, "errmsg": "user refuse to accept the msg"})
        scripted = await _scripted(self.script)
        if scripted is not None:
            status, content, headers = scripted
            return JSONResponse(content, status_code=status, headers=headers)
        self.sent.append(body)
        return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": 294402298110051942 + len(self.sent)})


def self_signed(directory: Path, host: str = "localhost") -> tuple[Path, Path]:
    """A throwaway certificate for ``host`` and 127.0.0.1 (cert, key), made at test time."""
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(host), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@dataclass
class SmtpHandler:
    """Records accepted messages; refuses listed recipients (550), defers them (451) or fails them
    with a permanent error that quotes the address (554, not a bounce)."""

    refuse: set[str] = field(default_factory=set)
    defer: set[str] = field(default_factory=set)
    fail: set[str] = field(default_factory=set)
    messages: list[tuple[Envelope, bytes]] = field(default_factory=list)
    sessions: set[int] = field(default_factory=set)
    tls_sessions: int = 0
    authenticated: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if address in self.defer:
            return "451 4.7.1 Greylisted, try again later"
        if address in self.fail:
            return f"554 5.7.1 <{address}>: Relay access denied"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.sessions.add(id(session))
        if session.ssl is not None:
            self.tls_sessions += 1
        self.messages.append((envelope, envelope.original_content or b""))
        return "250 Message accepted for delivery"


class SmtpPeer:
    """aiosmtpd on a free port requiring STARTTLS and AUTH (user ``shop`` / ``s3cret``)."""

    username, password = "shop", "s3cret"

    def __init__(self) -> None:
        self.handler = SmtpHandler()
        self._dir = tempfile.TemporaryDirectory()
        self.cert, key = self_signed(Path(self._dir.name))
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(self.cert, key)
        self.client_context = ssl.create_default_context(cafile=str(self.cert))
        self.port = free_port()
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=server_context,
            require_starttls=True,
            auth_required=True,
            authenticator=self._authenticate,
        )

    def _authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == self.username.encode()
            and data.password == self.password.encode()
        )
        if ok:
            self.handler.authenticated.append(self.username)
        return AuthResult(success=ok, handled=False)

    def __enter__(self) -> SmtpPeer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
        self._dir.cleanup()


def main() -> None:
    """Run the ``http`` peer out of process (for bench/notify.py)."""
    parser = argparse.ArgumentParser(description="notify protocol peers")
    parser.add_argument("peer", choices=["http"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--secret", default=None)
    args = parser.parse_args()
    peer = HttpPeer(secret=args.secret, latency=args.latency_ms / 1000)
    uvicorn.run(peer.app(), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
