"""Print ``name==version`` for ovserve's runtime dependencies as installed in this environment.

Run with the test environment's Python (``.venv/bin/python``): the image then installs exactly
the versions the tests ran with. Only the runtime closure is listed (the dependencies of
``ovserve`` without extras, and theirs, following the environment markers), not the dev extras.
"""

from __future__ import annotations

import sys
from importlib import metadata

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def runtime_closure(root: str) -> dict[str, str]:
    """Installed name -> version for everything ``root`` needs at run time (``root`` excluded)."""
    env = default_environment()
    pins: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        dist = metadata.distribution(name)
        if name != root:
            pins[canonicalize_name(dist.metadata["Name"])] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            wanted = [dict(env, extra=e) for e in extras] or [dict(env, extra="")]
            if req.marker is None or any(req.marker.evaluate(w) for w in wanted):
                todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return pins


def main() -> int:
    for name, version in sorted(runtime_closure("ovserve").items()):
        print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
