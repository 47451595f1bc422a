"""s3dlio_jax.TarLoader (JaxLoader over tar shards): batches of samples,
zero-copy fields, shards dealt to processes, shuffle, equal batches, resume."""

import io
import tarfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import s3dlio
import s3dlio_jax

COUNTS = [5, 3, 7, 1, 4]  # samples per shard: 20
TOTAL = sum(COUNTS)
SIZE = 96  # every sample's "vec" field


def _vec(g: int) -> bytes:
    return np.full(SIZE, g, np.uint8).tobytes()


def _shards(prefix: str) -> list[str]:
    """Sample ``g`` has key ``s{g:03d}``, a ``cls`` (``g`` as text, sizes
    vary), a ``vec`` (``SIZE`` bytes of ``g``) and an empty ``txt``."""
    uris, g = [], 0
    for s, count in enumerate(COUNTS):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for _ in range(count):
                for ext, data in (("cls", str(g).encode()), ("vec", _vec(g)), ("txt", b"")):
                    info = tarfile.TarInfo(f"s{g:03d}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                g += 1
        uris.append(f"{prefix}/tl/shard-{s}.tar")
        s3dlio.put(uris[-1], out.getvalue())
    return uris


def _ids(batch) -> list[int]:
    """The samples of a batch, checking every field's bytes."""
    got = [int(bytes(np.asarray(c))) for c in batch["cls"]]
    assert batch["__key__"] == [f"s{g:03d}" for g in got]
    assert np.array_equal(
        np.asarray(batch["vec"]), np.stack([np.frombuffer(_vec(g), np.uint8) for g in got])
    )
    assert all(np.asarray(t).size == 0 for t in batch["txt"])
    return got


@pytest.fixture
def shards(file_prefix):
    return _shards(file_prefix)


def test_batches_hold_every_sample_once(prefix):
    shards = _shards(prefix)
    loader = s3dlio_jax.JaxLoader.over_tar_shards(shards, batch_size=6)
    assert isinstance(loader, s3dlio_jax.TarLoader)
    batches = list(loader)
    assert len(loader) == len(batches) == 4
    assert sum((_ids(b) for b in batches), []) == list(range(TOTAL))
    first = batches[0]
    assert isinstance(first["vec"], jax.Array) and first["vec"].shape == (6, SIZE)
    assert first["vec"].dtype == jnp.uint8
    assert first["cls"].shape == (6, 1)  # "0".."5": one shape, stacked
    second = batches[1]["cls"]  # "6".."11": sizes differ, a list
    assert isinstance(second, list) and isinstance(second[0], jax.Array)
    assert first["__url__"] == [shards[0]] * 5 + [shards[1]]


def test_fields_are_the_fetched_shard_unstacked(shards, monkeypatch):
    fetched = {}
    real = s3dlio.read_tar

    def recording(uri, **kwargs):
        members = real(uri, **kwargs)
        fetched[uri] = {name: view.address for name, view in members}
        return members

    monkeypatch.setattr(s3dlio, "read_tar", recording)
    loader = s3dlio_jax.TarLoader(shards, batch_size=4, stack=False)
    for batch in loader:
        for key, url, vec, cls in zip(
            batch["__key__"], batch["__url__"], batch["vec"], batch["cls"], strict=True
        ):
            assert vec.unsafe_buffer_pointer() == fetched[url][f"{key}.vec"]
            assert cls.unsafe_buffer_pointer() == fetched[url][f"{key}.cls"]
    assert sorted(fetched) == sorted(shards)  # each shard read whole, once


@pytest.mark.parametrize("drop", [False, True])
def test_processes_split_the_shards_with_equal_batches(shards, drop):
    loaders = [
        s3dlio_jax.TarLoader(
            shards,
            batch_size=3,
            shuffle=True,
            seed=7,
            process_index=p,
            process_count=2,
            drop_remainder=drop,
        )
        for p in range(2)
    ]
    per = [[_ids(b) for b in loader] for loader in loaders]
    assert len(per[0]) == len(per[1]) == len(loaders[0])
    seen = [g for batches in per for b in batches for g in b]
    if drop:
        assert all(len(b) == 3 for batches in per for b in batches)
        assert len(set(seen)) == len(seen)
    else:
        assert set(seen) == set(range(TOTAL))
        assert len(seen) - TOTAL < len(max(per, key=len)) * 3  # padding only
    own = [{g for b in batches for g in b} for batches in per]
    assert not own[0] & own[1] or not drop  # shards are dealt, not shared


def test_shuffle_is_fixed_by_seed_and_epoch(shards):
    def order(epoch, seed=1):
        loader = s3dlio_jax.TarLoader(
            shards, batch_size=5, shuffle=True, seed=seed, shuffle_buffer=4
        )
        loader.set_epoch(epoch)
        return sum((_ids(b) for b in loader), [])

    assert order(0) == order(0)
    assert sorted(order(0)) == list(range(TOTAL))
    assert order(1) != order(0) and order(0, seed=2) != order(0)
    loader = s3dlio_jax.TarLoader(shards, batch_size=5, shuffle=True, seed=1, shuffle_buffer=4)
    passes = [sum((_ids(b) for b in loader), []) for _ in range(2)]
    assert passes == [order(0), order(1)]  # each new pass is the next epoch


def test_resumes_exactly_mid_epoch(shards):
    def make():
        return s3dlio_jax.TarLoader(shards, batch_size=4, shuffle=True, seed=3, shuffle_buffer=5)

    whole = [_ids(b) for b in make()]
    first = make()
    it = iter(first)
    taken = [_ids(next(it)) for _ in range(2)]
    state = first.state_dict()
    resumed = make()
    resumed.load_state_dict(state)
    assert taken + [_ids(b) for b in resumed] == whole


def test_transforms_run_per_sample_then_per_batch(shards):
    def decode(sample):
        return {
            "id": np.int32(int(bytes(np.asarray(sample["cls"])))),
            "vec": np.asarray(sample["vec"], np.float32),
        }

    loader = s3dlio_jax.TarLoader(
        shards, batch_size=8, transform=decode, batch_transform=lambda b: (b["id"], b["vec"])
    )
    ids, vecs = next(iter(loader))
    assert isinstance(ids, jax.Array) and ids.tolist() == list(range(8))
    assert vecs.shape == (8, SIZE) and vecs.dtype == jnp.float32 and float(vecs[3, 0]) == 3.0


def test_bad_arguments_and_a_changed_shard(shards):
    with pytest.raises(ValueError, match="batch_size"):
        s3dlio_jax.TarLoader(shards, batch_size=0)
    with pytest.raises(ValueError, match="shuffle_buffer"):
        s3dlio_jax.TarLoader(shards, batch_size=2, shuffle_buffer=0)
    loader = s3dlio_jax.TarLoader(shards, batch_size=2)
    s3dlio.put(shards[0], s3dlio.get(shards[1]))  # 3 samples where 5 were indexed
    with pytest.raises(RuntimeError, match=shards[0]):
        list(loader)
