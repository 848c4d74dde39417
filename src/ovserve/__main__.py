"""``ovserve`` / ``python -m ovserve``: parse the command line, configure logging, serve."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from ovserve.errors import EXIT_USAGE


def configure_logging(
    level: str, path: str | None, worker: int | None = None, log_format: str = "text"
) -> None:
    from ovserve.logs import formatter

    handler: logging.Handler = logging.FileHandler(path) if path else logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter(log_format, worker))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    levels = {
        "TRACE": logging.DEBUG,
        "DEBUG": logging.DEBUG,
        "INFO": logging.INFO,
        "WARNING": logging.WARNING,
        "ERROR": logging.ERROR,
    }
    root.setLevel(levels.get(level.upper(), logging.INFO))
    for noisy in ("asyncio", "grpc"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.INFO))


def main(argv: Sequence[str] | None = None) -> int:
    from ovserve import cli
    from ovserve.errors import ConfigError

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        config = cli.parse_args(args, os.environ)
    except cli.ShowAndExit as shown:
        print(shown.text)
        return 0
    except cli.ConfigCommandRequested as requested:  # --list_models, --add_to_config, ...
        code, text = requested.command.run()
        print(text)
        return code
    except ConfigError as exc:
        print(f"ovserve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from ovserve.cluster import worker_seat_from_env
    from ovserve.errors import StartupError

    seat = worker_seat_from_env(os.environ)
    configure_logging(
        config.log_level, config.log_path, seat.index if seat is not None else None, config.log_format
    )
    try:
        if seat is None and config.processes > 1:
            from ovserve.cluster import supervisor

            return supervisor.run(config, args)
        from ovserve.app import run

        return run(config, seat)
    except StartupError as exc:
        print(f"ovserve: {exc}", file=sys.stderr)
        logging.getLogger("ovserve").error("%s", exc)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 1


if __name__ == "__main__":
    sys.exit(main())
