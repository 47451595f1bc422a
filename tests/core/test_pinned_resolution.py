"""``pinned=`` is resolved in Python (``s3dlio._pinned.resolve``) before the
extension is called: the extension takes a PinnedPool or None and never
looks up the default pool itself."""

import pytest
from torch_helpers import SIZE, make_objects, object_bytes

import s3dlio
from s3dlio import _core, _pinned


@pytest.fixture
def uris(file_prefix):
    return make_objects(file_prefix, 8)


@pytest.fixture
def counted_default(monkeypatch):
    """The default pool is a plain PinnedPool; count the look-ups."""
    pool = s3dlio.PinnedPool()
    calls = []

    def default_pool():
        calls.append(1)
        return pool

    monkeypatch.setattr(_pinned, "default_pool", default_pool)
    return pool, calls


def test_pinned_true_is_looked_up_once_in_python(uris, counted_default):
    pool, calls = counted_default
    batch = s3dlio.get_batch(uris, pinned=True)
    assert calls == [1]
    assert pool.stats()["pool_made"] == 1
    assert bytes(batch[3]) == object_bytes(3)


@pytest.mark.parametrize("pinned", [None, False, 0])
def test_a_false_pinned_looks_nothing_up(uris, counted_default, pinned):
    _, calls = counted_default
    batch = s3dlio.get_batch(uris, pinned=pinned)
    assert calls == [] and not batch.pinned


def test_a_pool_is_passed_as_it_is(uris, counted_default):
    _, calls = counted_default
    mine = s3dlio.PinnedPool()
    s3dlio.get_batch(uris, pinned=mine)
    assert calls == [] and mine.stats()["pool_made"] == 1


def test_the_extension_takes_a_pool_or_none_only(uris, counted_default):
    _, calls = counted_default
    with pytest.raises(TypeError):
        _core.get_batch(uris, pinned=True)
    assert calls == []
    pool = s3dlio.PinnedPool()
    assert bytes(_core.get_batch(uris, pinned=pool)[1]) == object_bytes(1)
    assert pool.stats()["pool_made"] == 1


def test_a_pool_and_out_together_are_refused_by_the_extension_too(uris):
    out = bytearray(8 * SIZE)
    with pytest.raises(s3dlio.InvalidArgumentError, match="not both"):
        _core.get_batch(uris, pinned=s3dlio.PinnedPool(), out=out)
