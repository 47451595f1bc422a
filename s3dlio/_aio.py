"""Coroutine wrappers of the extension's awaitables, so that
``asyncio.run(s3dlio.get_async(uri))`` and task APIs that insist on a
coroutine work. The I/O starts when the coroutine runs; cancelling the
task aborts it."""

from collections.abc import Mapping, Sequence

from s3dlio import _core


async def get_async(uri: str, *, options: Mapping[str, str] | None = None) -> _core.BytesView:
    """Awaitable ``get``: the whole object at ``uri`` as a zero-copy BytesView."""
    return await _core.get_async(uri, options=options)


async def get_many_async(
    uris: Sequence[str], max_in_flight: int = 64, *, options: Mapping[str, str] | None = None
) -> list[tuple[str, _core.BytesView]]:
    """Awaitable ``get_many``: results in input order, fetched in parallel."""
    return await _core.get_many_async(uris, max_in_flight, options=options)
