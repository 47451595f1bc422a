"""Resuming S3IterableDataset mid-epoch: in-process through its own
``state_dict``/``load_state_dict``, and with workers through torchdata's
``StatefulDataLoader``. Nothing read before the stop is read again and
nothing is skipped.
"""

from __future__ import annotations

import json

import pytest
from torch.utils.data import DataLoader
from torch_helpers import assert_exactly_once, indices_of, make_objects
from torchdata.stateful_dataloader import StatefulDataLoader

import s3dlio
from s3dlio_torch import S3IterableDataset

pytestmark = [
    # JAX, when another test imported it into this process, warns at every
    # fork that *JAX* is not fork-safe; that says nothing about s3dlio.
    pytest.mark.filterwarnings(
        "ignore:os.fork\\(\\) was called.*JAX is multithreaded:RuntimeWarning"
    ),
    pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork.*:DeprecationWarning"),
]

# torchdata's StatefulDataLoader calls a deprecated torch function when built.
SET_VITAL = "ignore:'set_vital' is deprecated:UserWarning"

N = 30
BATCH = 4
LOADER_TIMEOUT_S = 60


@pytest.fixture
def uris(file_prefix) -> list[str]:
    return make_objects(file_prefix, N)


def _dataset(uris, **kwargs) -> S3IterableDataset:
    return S3IterableDataset(uris, shuffle=True, seed=7, batch_fetch=5, **kwargs)


def _take(iterator, count: int) -> list[int]:
    return indices_of(next(iterator) for _ in range(count))


def test_resume_in_process(uris):
    full = indices_of(DataLoader(_dataset(uris), batch_size=BATCH))
    assert_exactly_once(full, N)

    first = _dataset(uris)
    seen = _take(iter(DataLoader(first, batch_size=BATCH)), 3)
    state = first.state_dict()
    state = json.loads(json.dumps(state))  # plain data: fits in any checkpoint

    resumed = _dataset(uris)
    resumed.load_state_dict(state)
    rest = indices_of(DataLoader(resumed, batch_size=BATCH))
    assert seen == full[: 3 * BATCH]
    assert rest == full[3 * BATCH :]  # the unseen samples, in the epoch's order
    assert_exactly_once(seen + rest, N)

    # Only the resumed pass is shortened; the next epoch is whole.
    resumed.set_epoch(1)
    assert_exactly_once(indices_of(DataLoader(resumed, batch_size=BATCH)), N)


def test_resume_later_epoch_and_rank(uris):
    kwargs = {"rank": 1, "world_size": 2}
    reference = _dataset(uris, **kwargs)
    reference.set_epoch(3)
    full = reference.my_indices()
    first = _dataset(uris, **kwargs)
    first.set_epoch(3)
    iterator = iter(first)
    seen = indices_of(next(iterator) for _ in range(6))
    resumed = _dataset(uris, **kwargs)
    resumed.load_state_dict(first.state_dict())
    assert seen + indices_of(resumed) == full


def test_state_from_another_seed_is_refused(uris):
    state = _dataset(uris).state_dict()
    other = S3IterableDataset(uris, shuffle=True, seed=8)
    with pytest.raises(ValueError):
        other.load_state_dict(state)


@pytest.mark.timeout(120)
@pytest.mark.filterwarnings(SET_VITAL)
@pytest.mark.parametrize("num_workers", [0, 2])
def test_stateful_dataloader_resume(uris, num_workers, tmp_path, monkeypatch):
    def loader(ds) -> StatefulDataLoader:
        if num_workers == 0:
            return StatefulDataLoader(ds, batch_size=BATCH)
        return StatefulDataLoader(
            ds,
            batch_size=BATCH,
            num_workers=num_workers,
            multiprocessing_context="fork",
            timeout=LOADER_TIMEOUT_S,
        )

    first = loader(_dataset(uris))
    iterator = iter(first)
    seen = _take(iterator, 2)
    state = first.state_dict()
    del iterator, first  # shuts the workers down

    # Record what the resumed pass fetches, in this process and in forked
    # workers alike (one line per URI, appended to a file).
    log = tmp_path / "fetched.txt"
    original = s3dlio.get_many

    def recording_get_many(uri_list, *args, **kwargs):
        with open(log, "a") as f:
            f.write("".join(f"{uri}\n" for uri in uri_list))
        return original(uri_list, *args, **kwargs)

    monkeypatch.setattr(s3dlio, "get_many", recording_get_many)
    resumed = loader(_dataset(uris))
    resumed.load_state_dict(state)
    rest = indices_of(resumed)
    assert len(seen) == 2 * BATCH
    assert_exactly_once(seen + rest, N)
    # The samples already seen are skipped, not fetched again and dropped.
    fetched = log.read_text().splitlines()
    assert sorted(fetched) == sorted(uris[i] for i in rest)
