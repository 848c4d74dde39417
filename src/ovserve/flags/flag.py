"""One command-line flag (:class:`Flag`), OVMS's help groups, and the config defaults flags show.

A flag whose value has a :class:`~ovserve.config.types.ServerConfig` field of the same name takes
its shown default from there (``default=None``); the stateful, CORS, tracing and generative flags
show their config class's default (:func:`shown` of :data:`STATEFUL` etc.), so each default is
written once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from ovserve.config.genai import GenerativeConfig
from ovserve.config.types import CorsConfig, ServerConfig, StatefulConfig, TracingConfig

Kind = Literal["bool", "uint32", "uint64", "str"]

#: OVMS's help groups, in the order ``ovms --help`` prints them ("server" is its unnamed group).
GROUPS: tuple[str, ...] = (
    "server",
    "multi model",
    "single model",
    "generative task",
    "config management",
)


@dataclass(frozen=True)
class Flag:
    """One command-line flag as OVMS defines it, with ovserve's status for it.

    ``default`` is what usage() shows ("" for none); None means the default of the
    :class:`ServerConfig` field named like the flag.
    OVMS's flags of features ovserve does not serve are not in the table: :mod:`ovserve.ovms_flags`
    names their feature, and giving one stops start-up with one line naming both.
    """

    name: str
    kind: Kind
    default: str | None
    help: str
    group: str = "server"  # one of GROUPS
    effective: bool = True  # False: accepted for compatibility, no effect yet

    def shown_default(self) -> str:
        """The default as usage() prints it."""
        return self.default if self.default is not None else shown(SERVER_DEFAULTS[self.name])


def shown(value: object) -> str:
    """A config default as usage() prints it: true/false, a comma-separated tuple, "" for None."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return "" if value is None else str(value)


#: the config classes whose defaults the flags show
_SERVER = ServerConfig()
SERVER_DEFAULTS = {
    field.name: getattr(_SERVER, field.name)
    for field in dataclasses.fields(ServerConfig)
    if not isinstance(getattr(_SERVER, field.name), (tuple, dict))
}
STATEFUL = StatefulConfig()
CORS = CorsConfig()
TRACING = TracingConfig()
GENERATIVE = GenerativeConfig(task="text_generation")
