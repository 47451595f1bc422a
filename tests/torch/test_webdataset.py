"""WebDataset tar shards: ``S3WebDataset`` (streamed, shard by shard) and
``S3TarMapDataset`` (by index). Samples, keys and bytes are those
``webdataset`` itself yields; fields share the fetched memory; every
sample is read once across ranks and workers, each rank as many; a state
resumes the exact samples left; an index round-trips.
"""

from __future__ import annotations

import gc
import io
import os
import tarfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import s3dlio
import s3dlio_torch
from s3dlio import _webdataset
from s3dlio_torch import S3TarMapDataset, S3WebDataset

pytestmark = [
    # JAX, imported by earlier tests of the session, warns at every fork.
    pytest.mark.filterwarnings(
        "ignore:os.fork\\(\\) was called.*JAX is multithreaded:RuntimeWarning"
    ),
    pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork.*:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning"),
]

COUNTS = [4, 7, 3, 6, 5]  # samples per shard: uneven on purpose
N = sum(COUNTS)


def payload(g: int) -> bytes:
    """Sample ``g``'s ``bin`` field: its own bytes, of its own length."""
    return bytes((g * 37 + j) % 256 for j in range(100 + 13 * g))


def tar_bytes(members: list[tuple[str, bytes]], dirs: tuple[str, ...] = ()) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def make_shards(prefix: str) -> list[str]:
    """Shards ``0..5`` of ``COUNTS`` samples; sample ``g`` (global) has key
    ``d{shard}/s{g:03d}`` and fields ``cls`` (``g`` as text) and ``bin``."""
    uris, g = [], 0
    for s, count in enumerate(COUNTS):
        members = []
        for _ in range(count):
            members += [(f"d{s}/s{g:03d}.cls", str(g).encode()), (f"d{s}/s{g:03d}.bin", payload(g))]
            g += 1
        uri = f"{prefix}/train-{s:03d}.tar"
        s3dlio.put(uri, tar_bytes(members, dirs=(f"d{s}",)))
        uris.append(uri)
    return uris


def sample_id(sample: dict) -> int:
    """Which sample this is, checking every byte of it."""
    g = int(bytes(sample["cls"].numpy()))
    assert sample["__key__"].endswith(f"/s{g:03d}")
    assert bytes(sample["bin"].numpy()) == payload(g)
    assert sample["cls"].dtype == torch.uint8 and sample["cls"].dim() == 1
    return g


def ids(samples) -> list[int]:
    return [sample_id(s) for s in samples]


@pytest.fixture
def shards(file_prefix) -> list[str]:
    return make_shards(file_prefix)


def _webdataset_samples(urls: list[str]) -> list[dict]:
    wds = pytest.importorskip("webdataset")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(wds.WebDataset(urls, shardshuffle=False, empty_check=False))


def _plain(sample: dict) -> dict:
    return {k: v if k.startswith("__") else bytes(v.numpy()) for k, v in sample.items()}


# -- naming and grouping, as webdataset does it ------------------------------


def test_brace_patterns_expand_as_braceexpand():
    braceexpand = pytest.importorskip("braceexpand").braceexpand
    for pattern in [
        "s3://b/train-{000000..000011}.tar",
        "a{1..3}b{x,y}",
        "v{2.{5..7},3.{2,3}}",
        "{07..10}{a..g..2}",
        "{4..1}{2..-1}",
        "{Z..c}",
        "{abc}d",
        "plain.tar",
    ]:
        assert _webdataset.expand(pattern) == list(braceexpand(pattern)), pattern
    with pytest.raises(ValueError, match="unbalanced"):
        _webdataset.expand("a{1..3")


TRICKY = [
    ("a/b.seg.PNG", b"seg"),  # key a/b, field seg.png (fields are lowercased)
    ("a/b.cls", b"1"),
    ("README", b"no dot: in no sample"),
    (".hidden", b"only a leading dot: in no sample"),
    ("x/.hidden.txt", b"webdataset keys this x/"),
    ("__index__", b"top-level metadata: skipped"),
    ("__meta__/m.json", b"a metadata folder: skipped"),
    ("dir.v1/c.txt", b"a dot in a folder name"),
    ("dir.v1/c.empty", b""),
    ("a/b.json", b"same key again, not consecutive: a new sample"),
]


@pytest.mark.parametrize("scheme", ["file", "s3", "az"])
@pytest.mark.parametrize("writer", ["tarfile", "TarWriter"])
def test_samples_are_webdatasets(request, tmp_path, writer, scheme):
    prefix = request.getfixturevalue(f"{scheme}_prefix")
    local = tmp_path / "ref.tar"
    if writer == "tarfile":
        local.write_bytes(tar_bytes(TRICKY, dirs=("a", "x")))
    else:
        wds = pytest.importorskip("webdataset")
        with wds.TarWriter(str(local)) as sink:
            for g in range(5):
                sink.write({"__key__": f"k/{g:02d}", "txt": f"text {g}", "bin": payload(g)})
    ours_uri = f"{prefix}/ref.tar"
    s3dlio.put(ours_uri, local.read_bytes())
    expected = _webdataset_samples([str(local)])
    assert len(expected) == (4 if writer == "tarfile" else 5)
    ours = [_plain(s) for s in S3WebDataset(ours_uri)]
    for s in expected:
        s["__url__"] = ours_uri
        s.pop("__local_path__", None)
    assert ours == expected
    by_index = [_plain(s) for s in S3TarMapDataset(ours_uri)]
    assert by_index == expected


def test_a_field_given_twice_is_an_error_naming_the_shard(file_prefix):
    uri = f"{file_prefix}/dup.tar"
    s3dlio.put(uri, tar_bytes([("k.txt", b"1"), ("k.TXT", b"2")]))
    with pytest.raises(ValueError, match=r"dup\.tar.*repeats field 'txt'"):
        S3WebDataset(uri)


# -- S3WebDataset --------------------------------------------------------------


def test_reads_every_sample_in_order_from_a_pattern(file_prefix):
    make_shards(file_prefix)
    ds = S3WebDataset(f"{file_prefix}/train-{{000..004}}.tar")
    samples = list(ds)
    assert ids(samples) == list(range(N))
    assert {s["__url__"] for s in samples} == set(ds.uris)
    assert ids(S3WebDataset(f"{file_prefix}/")) == list(range(N))  # a prefix: its .tar objects


def test_fields_are_views_of_the_fetched_shard(shards, monkeypatch):
    original, bases = s3dlio.get, {}

    def recording_get(uri, **kwargs):
        view = original(uri, **kwargs)
        bases[uri] = view.address
        return view

    monkeypatch.setattr(s3dlio, "get", recording_get)
    samples = list(S3WebDataset(shards, shuffle=True, seed=4, shuffle_buffer=5))
    assert sorted(ids(samples)) == list(range(N))
    offsets = {(u, m.name): m.offset for u in shards for m in s3dlio.tar_index(u)}
    for s in samples:
        base = bases[s["__url__"]]
        for field in ("cls", "bin"):
            name = f"{s['__key__']}.{field}"
            assert s[field].data_ptr() == base + offsets[(s["__url__"], name)]
            # One storage per shard: a worker shares it once, not per field.
            assert s[field].untyped_storage().data_ptr() == base


def test_shuffle_is_deterministic_per_seed_and_epoch(shards):
    def epoch(e: int, seed: int = 1) -> list[int]:
        ds = S3WebDataset(shards, shuffle=True, seed=seed, shuffle_buffer=6)
        ds.set_epoch(e)
        return ids(ds)

    first = epoch(0)
    assert sorted(first) == list(range(N)) and first != list(range(N))
    assert epoch(0) == first
    assert epoch(1) != first and sorted(epoch(1)) == list(range(N))
    assert epoch(0, seed=2) != first
    ds = S3WebDataset(shards, shuffle=True, seed=1, shuffle_buffer=6)
    assert ids(ds) == first and ids(ds) == epoch(1)  # each new pass: the next epoch


@pytest.mark.parametrize("drop_last", [False, True])
def test_every_sample_once_across_2_ranks_x_2_workers(shards, drop_last):
    per_rank = []
    for rank in range(2):
        ds = S3WebDataset(
            shards,
            shuffle=True,
            seed=3,
            shuffle_buffer=4,
            rank=rank,
            world_size=2,
            drop_last=drop_last,
        )
        loader = DataLoader(
            ds, batch_size=None, num_workers=2, multiprocessing_context="fork", timeout=60
        )
        per_rank.append(ids(loader))
    assert len(per_rank[0]) == len(per_rank[1])
    seen = Counter(per_rank[0] + per_rank[1])
    if drop_last:
        assert max(seen.values()) == 1
    else:  # every sample, the few repeats being padding
        assert set(seen) == set(range(N))
        assert sum(seen.values()) - N < max(COUNTS) * 2


def test_epochs_reach_persistent_workers(shards):
    """Each pass through persistent workers is the next epoch, and
    ``set_epoch`` reaches them: the same samples as the same epochs read
    by workers started afresh."""

    def through(ds, passes, persistent):
        loader = DataLoader(
            ds,
            batch_size=None,
            num_workers=2,
            persistent_workers=persistent,
            multiprocessing_context="fork",
            timeout=60,
        )
        out = []
        for epoch in passes:
            if epoch is not None:
                ds.set_epoch(epoch)
            out.append(ids(loader))
        return out

    def fresh(epoch):
        ds = S3WebDataset(shards, shuffle=True, seed=4, shuffle_buffer=4)
        return through(ds, [epoch], persistent=False)[0]

    ds = S3WebDataset(shards, shuffle=True, seed=4, shuffle_buffer=4)
    first, second, fifth = through(ds, [None, None, 5], persistent=True)
    for got in (first, second, fifth):
        assert sorted(got) == list(range(N))
    assert first == fresh(0) and second == fresh(1) and fifth == fresh(5)
    assert first != second


@pytest.mark.parametrize("context", ["spawn", "forkserver"])
def test_workers_of_every_start_method(shards, context):
    ds = S3WebDataset(shards, shuffle=True, seed=5, shuffle_buffer=3)
    loader = DataLoader(
        ds, batch_size=None, num_workers=2, multiprocessing_context=context, timeout=120
    )
    got = ids(loader)
    assert sorted(got) == list(range(N))
    # Worker w's order is reader (0, w)'s plan; the loader takes them in turns.
    plans = [ds.plan.locate(ds.reader_order(0, 0, 1, w, 2)[0]) for w in range(2)]
    assert len(got) == sum(len(p[0]) for p in plans)


def test_batches_through_collate_and_a_transform(shards):
    def first_byte(sample):
        return {"key": sample["__key__"], "cls": sample["cls"][:1]}

    loader = DataLoader(
        S3WebDataset(shards, transform=first_byte), batch_size=5, collate_fn=s3dlio_torch.collate
    )
    batches = list(loader)
    assert [len(b["key"]) for b in batches] == [5] * (N // 5)
    assert [k for b in batches for k in b["key"]][:5] == [
        f"d{g // 4}/s{g:03d}" for g in range(4)
    ] + ["d1/s004"]
    assert torch.cat([b["cls"][:, 0] for b in batches]).tolist() == [
        ord(str(g)[0]) for g in range(N)
    ]


def test_resume_mid_epoch_gives_the_exact_remaining_samples(shards):
    def dataset():
        return S3WebDataset(shards, shuffle=True, seed=7, shuffle_buffer=5, rank=1, world_size=2)

    whole = ids(dataset())
    ds = dataset()
    it = iter(ds)
    taken = [sample_id(next(it)) for _ in range(6)]
    state = ds.state_dict()
    assert state["yielded"] == [6] and state["world_size"] == 2
    again = dataset()
    again.load_state_dict(state)
    assert taken + ids(again) == whole
    assert again.state_dict()["yielded"] == [len(whole)]
    other = S3WebDataset(shards, shuffle=True, seed=7, shuffle_buffer=5, rank=0, world_size=3)
    other.load_state_dict(state)
    with pytest.raises(ValueError, match="resumes exactly only there"):
        list(other)


@pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")
def test_resume_from_a_stateful_loaders_workers(shards):
    sdl = pytest.importorskip("torchdata.stateful_dataloader")

    def loader(ds):
        return sdl.StatefulDataLoader(
            ds,
            batch_size=2,
            num_workers=2,
            multiprocessing_context="fork",
            timeout=60,
            collate_fn=lambda b: ids(b),
        )

    def dataset():
        return S3WebDataset(shards, shuffle=True, seed=8, shuffle_buffer=4)

    whole = sum(loader(dataset()), [])
    first = loader(dataset())
    it = iter(first)
    taken = sum((next(it) for _ in range(3)), [])
    state = first.state_dict()
    del it
    resumed = loader(dataset())  # the loader's own load: each worker its state
    resumed.load_state_dict(state)
    assert taken + sum(resumed, []) == whole
    ds = dataset()  # or the dataset given the loader's whole state
    ds.load_state_dict(state)
    assert sorted(taken + sum(loader(ds), [])) == sorted(whole)


# -- S3TarMapDataset -----------------------------------------------------------


def test_map_dataset_reads_a_batch_in_one_get_ranges(prefix, monkeypatch):
    uris = make_shards(prefix)
    original, calls = s3dlio.get_ranges, []

    def recording_get_ranges(requests, max_in_flight=64, **kwargs):
        views = original(requests, max_in_flight, **kwargs)
        calls.append([(u, o, v.address) for (u, o, _), v in zip(requests, views, strict=True)])
        return views

    monkeypatch.setattr(s3dlio._core, "get_ranges", recording_get_ranges)
    ds = S3TarMapDataset(uris)
    assert len(ds) == N
    picked = [24, 0, 13, 5]
    batch = ds.__getitems__(picked)
    assert ids(batch) == picked
    (views,) = calls  # one call, one ranged read per sample
    assert len(views) == len(picked)
    first = {m.name: m.offset for m in s3dlio.tar_index(uris[0])}
    ((offset, address),) = [(o, a) for u, o, a in views if u == uris[0]]
    assert batch[1]["cls"].data_ptr() == address + first["d0/s000.cls"] - offset
    assert batch[1]["bin"].data_ptr() == address + first["d0/s000.bin"] - offset
    assert sample_id(ds[-1]) == N - 1  # one sample: one get_range
    assert len(calls) == 1
    with pytest.raises(IndexError):
        ds[N]


def test_index_round_trip_and_a_global_shuffle(shards, s3_prefix, tmp_path):
    ds = S3TarMapDataset(shards)
    local, remote = str(tmp_path / "index.json"), f"{s3_prefix}/index.json"
    ds.save_index(local)
    ds.save_index(remote)
    for where in (local, remote):
        loaded = S3TarMapDataset(shards, index=where)
        assert loaded.index == ds.index
        assert ids(loaded.__getitems__(range(N))) == list(range(N))
    streamed = S3WebDataset(shards, index=local)
    assert ids(streamed) == list(range(N))
    with pytest.raises(ValueError, match=r"index\.json: the index is of 5 other shards"):
        S3TarMapDataset(shards[:2], index=local)
    Path(local).write_text("{}")
    with pytest.raises(ValueError, match="not a valid tar index"):
        S3TarMapDataset(shards, index=local)
    torch.manual_seed(0)
    loader = DataLoader(
        S3TarMapDataset(shards, index=remote),
        batch_size=5,
        shuffle=True,
        num_workers=2,
        multiprocessing_context="fork",
        collate_fn=lambda b: ids(b),
        timeout=60,
    )
    batches = list(loader)
    flat = [g for b in batches for g in b]
    assert sorted(flat) == list(range(N)) and flat != list(range(N))
    shard_of = np.repeat(np.arange(len(COUNTS)), COUNTS)
    assert any(len(set(shard_of[b])) > 2 for b in batches)  # batches mix shards


# -- collate_samples: a batch of samples crosses from a worker in one slot -----


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="slots need memfd")
def test_worker_sample_batches_cross_in_one_slot(shards):
    from test_worker_slots import mapping_of

    ds = S3WebDataset(shards, shuffle=True, seed=2, shuffle_buffer=4)
    loader = DataLoader(
        ds,
        batch_size=4,
        num_workers=2,
        collate_fn=s3dlio_torch.collate_samples,
        multiprocessing_context="fork",
        timeout=60,
    )
    held = list(loader)
    assert sorted(ids(s for batch in held for s in batch)) == list(range(N))
    slots = set()
    for batch in held:
        assert isinstance(batch, list) and all(isinstance(s, dict) for s in batch)
        storages = {s[f].untyped_storage().data_ptr() for s in batch for f in ("cls", "bin")}
        assert len(storages) == 1, "every field of a batch in one piece of memory"
        path, inode = mapping_of(batch[0]["bin"].data_ptr())
        assert path == "/memfd:s3dlio-slot"
        slots.add(inode)
    assert len(slots) == len(held), "batches held at once are never in one slot"
    in_process = list(DataLoader(ds, batch_size=4, collate_fn=s3dlio_torch.collate_samples))
    assert all(isinstance(b, list) for b in in_process)  # the samples as they are


def _freeze_count(sample: dict) -> int:
    return gc.get_freeze_count()


def test_a_worker_freezes_what_it_inherited(shards, tmp_path):
    # In a DataLoader worker the objects inherited from the main process
    # are kept out of the garbage collector's walks; the main process is
    # left alone.
    before = gc.get_freeze_count()
    loader = DataLoader(
        S3WebDataset(shards, transform=_freeze_count), batch_size=None, num_workers=1
    )
    counts = list(loader)
    assert len(counts) == N and min(counts) > 10_000
    assert (
        list(DataLoader(S3WebDataset(shards, transform=_freeze_count), batch_size=None))
        == [before] * N
    )
    assert gc.get_freeze_count() == before
    tar_map = S3TarMapDataset(shards, transform=_freeze_count)
    batches = DataLoader(tar_map, batch_size=4, num_workers=1, collate_fn=list)
    assert all(count > 10_000 for batch in batches for count in batch)
    # A persistent worker freezes once, in its first epoch: the frozen
    # objects only go (when freed) through the next epoch, where a freeze
    # per epoch would add what the first epoch left alive.
    persistent = DataLoader(
        S3WebDataset(shards, transform=_freeze_count),
        batch_size=None,
        num_workers=1,
        persistent_workers=True,
    )
    epochs = [list(persistent) for _ in range(2)]
    assert epochs[0][0] > 10_000 and max(epochs[1]) <= min(epochs[0]), epochs
