"""The Arrow PyCapsule interface as typing protocols: what ``put_many``
takes as Arrow input (a pyarrow array, chunked array, record batch or
table, a polars frame, an s3dlio ``Batch`` or ``Table``)."""

from typing import Protocol


class ArrowArrayExportable(Protocol):
    """An object with ``__arrow_c_array__``: one Arrow array (or record batch)."""

    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[object, object]:
        """The ``(arrow_schema, arrow_array)`` capsule pair."""
        ...


class ArrowStreamExportable(Protocol):
    """An object with ``__arrow_c_stream__``: a stream of arrays or record batches."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """An ``arrow_array_stream`` capsule."""
        ...
