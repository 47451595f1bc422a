"""The ``s3dlio`` console command: the Rust command line, run in-process."""

import sys

from s3dlio import _core

EXIT_INTERRUPTED = 130


def main() -> None:
    """Entry point of the ``s3dlio`` command."""
    try:
        status = _core.cli_main(["s3dlio", *sys.argv[1:]])
    except KeyboardInterrupt:
        # The command line already stopped (and said so); Python saw the
        # same Ctrl-C on the way out.
        status = EXIT_INTERRUPTED
    sys.exit(status)
