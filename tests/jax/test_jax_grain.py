"""s3dlio_jax.GrainSource: a Grain random-access source, in-process and
with Grain worker processes."""

import pickle

import grain
import numpy as np
import pytest
from absl import flags
from jax_helpers import FirstWord, first_word

import s3dlio
import s3dlio_jax

N = 24

# Grain's multiprocessing reads absl flags; a program that does not run
# absl.app must mark them parsed (defaults) first.
if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()


def _dataset(prefix):
    items = []
    for i in range(N):
        data = np.zeros(64, dtype=np.uint8)
        data[:8] = np.frombuffer(np.int64(i).tobytes(), dtype=np.uint8)
        items.append((f"{prefix}/g/{i:02d}", data))
    s3dlio.put_many(items)
    return f"{prefix}/g"


def test_random_access_protocol(prefix):
    source = s3dlio_jax.GrainSource(_dataset(prefix))
    assert len(source) == N
    record = source[5]
    assert record.dtype == np.uint8 and not record.flags.writeable
    assert first_word(record) == 5
    assert [first_word(r) for r in source.__getitems__([3, 1, 2])] == [3, 1, 2]
    clone = pickle.loads(pickle.dumps(source))
    assert len(clone) == N and first_word(clone[7]) == 7
    assert "GrainSource(24 objects" in repr(source)


def test_map_dataset_pipeline(file_prefix):
    source = s3dlio_jax.GrainSource(_dataset(file_prefix))
    ds = grain.MapDataset.source(source).shuffle(seed=1).map(first_word)
    values = list(ds)
    assert sorted(values) == list(range(N)) and values != list(range(N))


@pytest.mark.timeout(180)
@pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called.*JAX is multithreaded:RuntimeWarning")
def test_grain_dataloader_with_two_workers(file_prefix):
    source = s3dlio_jax.GrainSource(_dataset(file_prefix))
    loader = grain.DataLoader(
        data_source=source,
        sampler=grain.samplers.IndexSampler(
            num_records=N,
            shuffle=True,
            seed=0,
            num_epochs=1,
            shard_options=grain.sharding.NoSharding(),
        ),
        operations=[FirstWord()],
        worker_count=2,
    )
    values = [int(v) for v in loader]
    assert sorted(values) == list(range(N))
