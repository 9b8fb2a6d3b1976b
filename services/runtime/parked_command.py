"""``patron parked list|retry|discard SERVICE``: an operator's hands on a service's parked events.

The command talks to the consuming service over gRPC (``patron.events.v1.ConsumerStatus``), which
holds the consumers' handlers: a retry runs the handler inside that service, in one transaction
with the event's removal. The runtime imports no service; the address is found as ``patron status``
finds it. Exit codes: 0 done (list: nothing parked), 1 something is parked or a retry failed again,
2 bad usage or the service could not be asked.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from typing import Any, TextIO

import grpc
from google.protobuf.json_format import MessageToDict

from patron.events.v1 import envelope_pb2, envelope_pb2_grpc
from services.runtime.grpc_tls import GrpcTls, client_channel, load_grpc_tls
from services.runtime.settings import SERVICE_NAMES, RuntimeSettings
from services.runtime.status_report import resolve_addresses

DEADLINE_SECONDS = 30.0  # a retry runs a handler


def add_parser(commands: Any) -> None:
    """Declare ``patron parked`` and its three actions."""
    parked = commands.add_parser("parked", help="list, retry or discard a service's parked events")
    actions = parked.add_subparsers(dest="action", required=True)
    for name, help_text in (
        ("list", "the oldest parked events (exit 1 when any)"),
        ("retry", "run the consumer's handler for one parked event again"),
        ("discard", "remove one parked event for good (logged with who and why)"),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("service", choices=SERVICE_NAMES)
        action.add_argument("--address", metavar="HOST:PORT", help="the service's gRPC address")
        if name == "list":
            action.add_argument("--consumer", default="", help="only this consumer's events")
            action.add_argument("--limit", type=int, default=100, help="1 to 1000 (default 100)")
            action.add_argument("--json", action="store_true", help="print one JSON object")
        else:
            action.add_argument("id", type=int, help="the parked event's id (from `patron parked list`)")
        if name == "discard":
            action.add_argument("--reason", required=True, help="why it is discarded")
            action.add_argument("--by", default=None, help="who discards it (default: the login name)")


async def _act(options: argparse.Namespace, address: str, out: TextIO, tls: GrpcTls | None) -> int:
    async with client_channel(address, tls) as channel:
        stub = envelope_pb2_grpc.ConsumerStatusStub(channel)
        if options.action == "list":
            listed = await stub.ListParked(
                envelope_pb2.ListParkedRequest(consumer=options.consumer, limit=options.limit),
                timeout=DEADLINE_SECONDS,
            )
            _print_list(listed, as_json=options.json, out=out)
            return 1 if listed.total else 0
        if options.action == "retry":
            retried = await stub.RetryParked(
                envelope_pb2.RetryParkedRequest(id=options.id), timeout=DEADLINE_SECONDS
            )
            if retried.applied:
                print(f"parked event {options.id}: applied and removed", file=out)
                return 0
            print(f"parked event {options.id}: failed again, still parked: {retried.error}", file=out)
            return 1
        by = options.by or getpass.getuser()
        await stub.DiscardParked(
            envelope_pb2.DiscardParkedRequest(id=options.id, by=by, reason=options.reason),
            timeout=DEADLINE_SECONDS,
        )
        print(f"parked event {options.id}: discarded by {by}", file=out)
        return 0


def _print_list(listed: envelope_pb2.ListParkedResponse, *, as_json: bool, out: TextIO) -> None:
    if as_json:
        events = [MessageToDict(e, preserving_proto_field_name=True) for e in listed.events]
        print(json.dumps({"total": listed.total, "events": events}, indent=2), file=out)
        return
    if not listed.total:
        print("no parked events", file=out)
        return
    for e in listed.events:
        print(
            f"{e.id}  {e.consumer}  {e.type}  event {e.event_id}  tenant {e.tenant_id}  "
            f"partition {e.partition} position {e.position}  attempts {e.attempts}  "
            f"parked {e.parked_at.ToDatetime().isoformat()}Z\n    {e.error}",
            file=out,
        )
    if listed.total > len(listed.events):
        print(f"... {listed.total - len(listed.events)} more", file=out)


def main(options: argparse.Namespace, out: TextIO | None = None) -> int:
    """Entry of ``patron parked``; see the module docstring for the exit codes (prints to ``out``,
    else to the standard output of the moment)."""
    if options.address is not None and (not options.address or any(c.isspace() for c in options.address)):
        print(f"patron parked: not a gRPC address (HOST:PORT): {options.address!r}", file=sys.stderr)
        return 2
    address = resolve_addresses({options.service: options.address}, os.environ)[options.service]
    try:
        tls = load_grpc_tls(RuntimeSettings())
    except ValueError as error:
        print(f"patron parked: {error}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_act(options, address, out or sys.stdout, tls))
    except grpc.aio.AioRpcError as error:
        print(
            f"patron parked: {options.service} at {address}: {error.code().name}: {error.details()}",
            file=sys.stderr,
        )
        return 2
