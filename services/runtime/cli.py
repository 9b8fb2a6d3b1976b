"""The ``patron`` command: ``up``, ``serve``, ``migrate``, ``status``, ``parked``, ``import``, and the
services' own.

A service adds sub-commands through its plug-in (``services.runtime.plugins``); ``rotate-pii`` is the
profile service's.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from services.runtime.plugins import default_grpc_port, service_commands, settings_class
from services.runtime.settings import SERVICE_NAMES, RuntimeSettings

PROCESSES = (*SERVICE_NAMES, "gateway")


def _serve(name: str) -> int:
    module = "gateway.server" if name == "gateway" else f"services.{name}.app"
    importlib.import_module(module).main()
    return 0


def _migrate(target: str, revision: str, down: bool) -> int:
    from services.runtime import migrations
    from services.runtime.dev_secrets import refuse_development_password

    for service in SERVICE_NAMES if target == "all" else (target,):
        variable = f"PATRON_{service.upper()}_DATABASE_URL"
        try:
            url = settings_class(service)().database_url
            refuse_development_password(variable, url, RuntimeSettings())
        except ValidationError:
            print(f"patron migrate: set {variable}", file=sys.stderr)
            return 2
        except ValueError as error:
            print(f"patron migrate: {error}", file=sys.stderr)
            return 2
        if down:
            migrations.downgrade(service, url, revision)
        else:
            migrations.upgrade(service, url, revision)
        print(f"patron migrate: {service} {'downgraded' if down else 'upgraded'} to {revision}")
    return 0


MAX_REPLICAS = 8


def _replica_count(text: str) -> int:
    """``--replicas``: a whole number from 1 to MAX_REPLICAS."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if not 1 <= value <= MAX_REPLICAS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_REPLICAS}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="patron", description="Patron customer-operations backend")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start the whole system locally (embedded PostgreSQL by default)")
    up.add_argument(
        "--home",
        type=Path,
        default=Path(os.environ.get("PATRON_HOME", ".patron")),
        help="where data, secrets and logs are kept (default: ./.patron, or PATRON_HOME)",
    )
    up.add_argument(
        "--replicas",
        type=_replica_count,
        default=None,
        help=f"processes of each service, 1 to {MAX_REPLICAS} (default: one per four cores, at least one)",
    )

    serve = commands.add_parser("serve", help="run one process (what Kubernetes runs)")
    serve.add_argument("process", choices=PROCESSES)

    migrate = commands.add_parser("migrate", help="run a service's Alembic migrations")
    migrate.add_argument("service", choices=(*SERVICE_NAMES, "all"))
    migrate.add_argument(
        "--revision", default=None, help="target revision (default: head, or base with --down)"
    )
    migrate.add_argument("--down", action="store_true", help="downgrade instead of upgrade")

    status = commands.add_parser("status", help="each service's health and every consumer's lag")
    for service in SERVICE_NAMES:
        port = default_grpc_port(service)
        status.add_argument(
            f"--{service}-address",
            metavar="HOST:PORT",
            help=f"default: PATRON_GATEWAY_{service.upper()}_ADDRESS, else 127.0.0.1:{port}",
        )
    status.add_argument("--json", action="store_true", help="print one JSON object instead of tables")

    added = service_commands()
    for command in added.values():
        command.add_arguments(commands.add_parser(command.name, help=command.help))

    from services.runtime import parked_command
    from services.runtime.bulk_import import command as bulk_import

    parked_command.add_parser(commands)
    bulk_import.add_parser(commands)

    options = parser.parse_args(argv)
    if options.command == "import":
        return bulk_import.main(options)
    if options.command == "parked":
        return parked_command.main(options)
    if options.command in added:
        return added[options.command].run(options)
    if options.command == "up":
        from services.runtime.supervisor import up as run_up

        try:
            return run_up(options.home.resolve(), options.replicas)
        except Exception as error:
            print(f"patron up: failed: {error}", file=sys.stderr)
            return 1
    if options.command == "serve":
        return _serve(options.process)
    if options.command == "status":
        from services.runtime import status_report

        addresses = {s: getattr(options, f"{s}_address") for s in SERVICE_NAMES}
        return status_report.run(addresses, as_json=options.json)
    revision = options.revision or ("base" if options.down else "head")
    return _migrate(options.service, revision, options.down)


if __name__ == "__main__":
    sys.exit(main())
