"""s3dlio_jax.JaxLoader: zero-copy batches, sharding, shuffle, resume."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import s3dlio
import s3dlio_jax

N, SIZE = 30, 256


def _dataset(prefix, n=N, size=SIZE):
    items = []
    for i in range(n):
        data = np.full(size, 0xAB, dtype=np.uint8)
        data[:8] = np.frombuffer(np.int64(i).tobytes(), dtype=np.uint8)
        items.append((f"{prefix}/jx/{i:03d}.bin", data))
    s3dlio.put_many(items)
    return f"{prefix}/jx"


def _ids(batch):
    return [int(x) for x in np.asarray(batch)[:, :8].copy().view(np.int64)[:, 0]]


def test_batches_cover_the_dataset_in_order(prefix):
    loader = s3dlio_jax.JaxLoader(_dataset(prefix), batch_size=8)
    batches = list(loader)
    assert len(loader) == len(batches) == 4
    assert [b.shape for b in batches] == [(8, SIZE)] * 3 + [(6, SIZE)]
    assert all(isinstance(b, jax.Array) and b.dtype == jnp.uint8 for b in batches)
    assert sum((_ids(b) for b in batches), []) == list(range(N))


def test_batch_is_the_fetched_buffer(file_prefix, monkeypatch):
    addresses = []
    real = s3dlio.get_batch

    def recording(*args, **kwargs):
        batch = real(*args, **kwargs)
        addresses.append(batch.address)
        return batch

    monkeypatch.setattr(s3dlio, "get_batch", recording)
    loader = s3dlio_jax.JaxLoader(_dataset(file_prefix), batch_size=10, prefetch=1)
    pointers = [b.unsafe_buffer_pointer() for b in loader]
    assert pointers == addresses and len(pointers) == 3
    assert all(p % 64 == 0 for p in pointers)


def test_dtype_and_sample_shape_view_without_copy(file_prefix, monkeypatch):
    values = np.arange(N * 64, dtype=np.float32).reshape(N, 8, 8)
    s3dlio.put_many([(f"{file_prefix}/f/{i:02d}", values[i]) for i in range(N)])
    addresses = []
    real = s3dlio.get_batch
    monkeypatch.setattr(
        s3dlio, "get_batch", lambda *a, **k: addresses.append((b := real(*a, **k)).address) or b
    )
    loader = s3dlio_jax.JaxLoader(
        f"{file_prefix}/f", batch_size=5, dtype="float32", sample_shape=(8, 8)
    )
    batches = list(loader)
    assert batches[0].shape == (5, 8, 8) and batches[0].dtype == jnp.float32
    assert [b.unsafe_buffer_pointer() for b in batches] == addresses
    assert np.array_equal(np.concatenate([np.asarray(b) for b in batches]), values)


def test_variable_sizes_yield_lists(file_prefix):
    s3dlio.put_many([(f"{file_prefix}/v/{i}", bytes([i]) * (i + 1)) for i in range(5)])
    (batch,) = list(s3dlio_jax.JaxLoader(f"{file_prefix}/v", batch_size=5))
    assert isinstance(batch, list) and [a.shape for a in batch] == [(i + 1,) for i in range(5)]
    assert [int(a[0]) for a in batch] == list(range(5))


def test_processes_split_every_sample_once(file_prefix):
    root = _dataset(file_prefix)
    for drop in (False, True):
        seen = []
        counts = []
        for index in range(2):
            loader = s3dlio_jax.JaxLoader(
                root,
                batch_size=4,
                shuffle=True,
                seed=3,
                drop_remainder=drop,
                process_index=index,
                process_count=2,
            )
            batches = list(loader)
            counts.append(len(batches))
            seen += sum((_ids(b) for b in batches), [])
        assert len(seen) == len(set(seen))
        if drop:
            assert counts[0] == counts[1] and all(len(seen) % 4 == 0 for _ in [0])
        else:
            assert sorted(seen) == list(range(N))


def test_shuffle_is_deterministic_per_seed_and_epoch(file_prefix):
    root = _dataset(file_prefix)

    def order(seed, epoch):
        loader = s3dlio_jax.JaxLoader(root, batch_size=7, shuffle=True, seed=seed)
        loader.set_epoch(epoch)
        return sum((_ids(b) for b in loader), [])

    assert order(1, 0) == order(1, 0)
    assert order(1, 0) != order(1, 1)
    assert order(1, 0) != order(2, 0)
    assert sorted(order(1, 1)) == list(range(N))


def test_resume_continues_with_the_unseen_batches(file_prefix):
    root = _dataset(file_prefix)
    first = s3dlio_jax.JaxLoader(root, batch_size=4, shuffle=True, seed=9)
    first.set_epoch(2)
    full = [_ids(b) for b in s3dlio_jax.JaxLoader(root, batch_size=4, shuffle=True, seed=9)]
    seen = []
    for k, batch in enumerate(first):
        seen.append(_ids(batch))
        if k == 2:
            break
    state = first.state_dict()
    resumed = s3dlio_jax.JaxLoader(root, batch_size=4, shuffle=True, seed=9)
    resumed.load_state_dict(state)
    rest = [_ids(b) for b in resumed]
    reference = s3dlio_jax.JaxLoader(root, batch_size=4, shuffle=True, seed=9)
    reference.set_epoch(2)
    assert seen + rest == [_ids(b) for b in reference]
    assert full != seen + rest  # epoch 2's order, not epoch 0's


def test_transform_and_device_put(file_prefix):
    root = _dataset(file_prefix)
    device = jax.devices()[0]
    loader = s3dlio_jax.JaxLoader(
        root, batch_size=10, transform=lambda b: b[:, :8], device=device, prefetch=3
    )
    batches = list(loader)
    assert [b.shape for b in batches] == [(10, 8)] * 3
    assert all(b.devices() == {device} for b in batches)


def test_bad_arguments():
    with pytest.raises(ValueError):
        s3dlio_jax.JaxLoader(["file:///x"], batch_size=0)
    with pytest.raises(ValueError):
        s3dlio_jax.JaxLoader(["file:///x"], batch_size=1, prefetch=0)


def test_set_epoch_keeps_a_loaded_resume_point(file_prefix):
    root = _dataset(file_prefix)
    loader = s3dlio_jax.JaxLoader(root, batch_size=4, shuffle=True, seed=9)
    loader.set_epoch(1)
    it = iter(loader)
    seen = [_ids(next(it)) for _ in range(2)]
    state = loader.state_dict()
    resumed = s3dlio_jax.JaxLoader(root, batch_size=4, shuffle=True, seed=9)
    resumed.load_state_dict(state)
    resumed.set_epoch(1)  # the usual loop calls set_epoch for the resumed epoch too
    rest = [_ids(b) for b in resumed]
    assert len(seen) + len(rest) == 8 and sorted(sum(seen + rest, [])) == list(range(N))
    resumed.set_epoch(2)
    assert len(list(resumed)) == 8
