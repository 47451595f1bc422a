"""s3dlio_jax.TarGrainSource: the samples of tar shards as a Grain
random-access source, by the headers-only index."""

import io
import pickle
import tarfile

import grain
import numpy as np
from absl import flags

import s3dlio
import s3dlio_jax

if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()

COUNTS = [3, 5]  # samples per shard


def _shard(first: int, count: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i in range(first, first + count):
            for ext, data in (("jpg", bytes([i]) * (1000 + i)), ("cls", str(i).encode())):
                info = tarfile.TarInfo(f"s/{i:03d}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _shards(prefix: str) -> list[str]:
    uris, first = [], 0
    for n, count in enumerate(COUNTS):
        uris.append(f"{prefix}/tars/shard-{n}.tar")
        s3dlio.put(uris[-1], _shard(first, count))
        first += count
    return uris


def test_every_sample_by_index_zero_copy(prefix):
    shards = _shards(prefix)
    source = s3dlio_jax.TarGrainSource(shards)
    assert len(source) == sum(COUNTS)
    record = source[6]
    assert record["__key__"] == "s/006" and record["__url__"] == shards[1]
    jpg, cls = record["jpg"], record["cls"]
    assert jpg.dtype == np.uint8 and not jpg.flags.writeable
    assert jpg.tobytes() == bytes([6]) * 1006 and cls.tobytes() == b"6"
    # Both fields are slices of the sample's one ranged read, where the
    # shard has them: the gap is the tar's own.
    offsets = {m.name: m.offset for m in s3dlio.tar_index(shards[1])}
    gap = offsets["s/006.cls"] - offsets["s/006.jpg"]
    assert cls.ctypes.data - jpg.ctypes.data == gap
    batch = source.__getitems__([7, 0, 4])
    assert [r["__key__"] for r in batch] == ["s/007", "s/000", "s/004"]
    assert "TarGrainSource(8 samples in 2 shards)" in repr(source)


def test_pickles_saves_its_index_and_shuffles_in_grain(file_prefix, tmp_path):
    shards = _shards(file_prefix)
    source = s3dlio_jax.GrainSource.over_tar_samples(shards)
    assert isinstance(source, s3dlio_jax.TarGrainSource)
    index = str(tmp_path / "index.json")
    source.save_index(index)
    loaded = s3dlio_jax.TarGrainSource(shards, index=index)
    clone = pickle.loads(pickle.dumps(loaded))
    assert len(clone) == len(source) and clone[2]["cls"].tobytes() == b"2"
    ds = grain.MapDataset.source(clone).shuffle(seed=3).map(lambda r: r["__key__"])
    keys = list(ds)
    assert sorted(keys) == [f"s/{i:03d}" for i in range(sum(COUNTS))]
    assert keys != sorted(keys)
