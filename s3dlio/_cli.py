"""The ``s3dlio`` console command: the Rust command line, run in-process."""

import sys

from s3dlio import _core


def main() -> None:
    """Entry point of the ``s3dlio`` command."""
    sys.exit(_core.cli_main(["s3dlio", *sys.argv[1:]]))
