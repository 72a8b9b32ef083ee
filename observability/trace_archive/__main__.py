"""``python -m observability.trace_archive``: run the OTLP/HTTP trace archive."""

from __future__ import annotations

import logging
import sys

from lab.contract import EXIT_BAD_INPUT
from observability.trace_archive.app import serve
from observability.trace_archive.config import ConfigError, parse_config


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s trace-archive %(levelname)s %(message)s"
    )
    try:
        config = parse_config(argv)
    except ConfigError as exc:
        print(f"trace-archive: {exc}; fix the setting and start again", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return serve(config)
    except OSError as exc:
        print(
            f"trace-archive: cannot listen on {config.host}:{config.port}: {exc}; "
            "choose a free port with LAB_ARCHIVE_PORT",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
