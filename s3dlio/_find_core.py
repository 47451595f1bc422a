"""Where the compiled extension ``s3dlio._core`` comes from.

Installed, it lies next to this file. Imported from a source checkout (its
root the current directory, or on ``sys.path``), this folder holds no
extension: the one of an s3dlio built and installed elsewhere on
``sys.path`` is used instead, or the import fails with one line that says
what to do (rather than a circular-import error).
"""

import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES

_HERE = os.path.dirname(os.path.abspath(__file__))


def _has_core(folder: str) -> bool:
    return any(os.path.isfile(os.path.join(folder, "_core" + s)) for s in EXTENSION_SUFFIXES)


def _find_core() -> None:
    if _has_core(_HERE):
        return
    for entry in sys.path:
        folder = os.path.join(os.path.abspath(entry or os.curdir), "s3dlio")
        if os.path.realpath(folder) != os.path.realpath(_HERE) and _has_core(folder):
            # The package being imported (not imported again from here).
            sys.modules[__package__ or "s3dlio"].__path__.append(folder)
            return
    raise ImportError(
        f"s3dlio is imported from its source folder {_HERE}, which has no compiled "
        "extension (s3dlio._core), and no s3dlio installed on sys.path has one: build and "
        "install it with `bash scripts/setup.sh` (or `pip install .`), or run Python "
        "outside the source folder"
    )


_find_core()
