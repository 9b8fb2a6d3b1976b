"""The plug-in point through which a service adds to the shared runtime, which imports no service.

The runtime knows the services only by name (``SERVICE_NAMES``). A service that needs more than the
plain settings (``PATRON_<SERVICE>_*`` with its default port) provides a module
``services.<name>.plugin`` holding ``PLUGIN``, a :class:`ServicePlugin`: its settings class, the
``patron`` sub-commands it adds, and the secrets ``patron up`` keeps for it under ``.patron/``. The
runtime imports that module by the service's name, only when it is asked about the service (no
installation step, no entry-point metadata); a service without one gets its plain settings.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from services.runtime.settings import PLAIN_SETTINGS, SERVICE_NAMES, ServiceSettings

PLUGIN_MODULE = "plugin"
PLUGIN_ATTRIBUTE = "PLUGIN"


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A command that takes no options of its own."""


@dataclass(frozen=True)
class Command:
    """A ``patron`` sub-command a service adds; ``run`` returns the process exit code."""

    name: str
    help: str
    run: Callable[[argparse.Namespace], int]
    add_arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments


@dataclass(frozen=True)
class GeneratedSecrets:
    """Secrets ``patron up`` generates once and keeps under ``.patron/`` (mode 600) for a service.

    ``files`` maps each environment variable to its file. The secrets go together: when the first
    variable is unset, every one is taken from its file, so a configured key is never paired with a
    generated one.
    """

    files: Mapping[str, str]
    generate: Callable[[], str]


@dataclass(frozen=True)
class ServicePlugin:
    """What a service adds to the runtime: its settings, its commands, the secrets it needs made."""

    settings: type[ServiceSettings]
    commands: Sequence[Command] = ()
    secrets: Sequence[GeneratedSecrets] = ()


@cache
def plugin_of(service: str) -> ServicePlugin:
    """The service's plug-in (``services.<service>.plugin.PLUGIN``), else its plain settings alone."""
    if service not in SERVICE_NAMES:
        raise ValueError(f"unknown service {service!r}")
    module_name = f"services.{service}.{PLUGIN_MODULE}"
    if importlib.util.find_spec(module_name) is None:
        return ServicePlugin(settings=PLAIN_SETTINGS[service])
    plugin = getattr(importlib.import_module(module_name), PLUGIN_ATTRIBUTE)
    if not isinstance(plugin, ServicePlugin):
        raise TypeError(f"{module_name}.{PLUGIN_ATTRIBUTE} is not a ServicePlugin")
    return plugin


def settings_class(service: str) -> type[ServiceSettings]:
    """The class that reads ``PATRON_<SERVICE>_*`` for ``service``."""
    return plugin_of(service).settings


def default_grpc_port(service: str) -> int:
    """The port a service listens on when ``PATRON_<SERVICE>_GRPC_PORT`` is not set."""
    port: int = settings_class(service).model_fields["grpc_port"].default
    return port


def service_commands() -> dict[str, Command]:
    """Every sub-command the services add, by name; two services may not claim one name."""
    commands: dict[str, Command] = {}
    for service in SERVICE_NAMES:
        for command in plugin_of(service).commands:
            if command.name in commands:
                raise ValueError(f"two services add the command {command.name!r}")
            commands[command.name] = command
    return commands
