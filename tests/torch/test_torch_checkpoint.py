"""save_state_dict / load_state_dict: torch state through a CheckpointStore."""

import torch

import s3dlio
import s3dlio_torch


def test_state_dict_round_trip(prefix):
    store = s3dlio.CheckpointStore(f"{prefix}/ckpt")
    assert s3dlio_torch.load_state_dict(store) is None
    model = torch.nn.Linear(16, 4)
    for rank in range(2):
        s3dlio_torch.save_state_dict(
            store, 5, model.state_dict(), rank=rank, world_size=2, user_meta={"epoch": 1}
        )
    restored = torch.nn.Linear(16, 4)
    restored.load_state_dict(s3dlio_torch.load_state_dict(store, rank=1))
    pairs = zip(model.parameters(), restored.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    assert store.list_checkpoints()[0].user_meta == {"epoch": 1}
    state = s3dlio_torch.load_state_dict(store, 5, rank=0)
    assert torch.equal(state["weight"], model.weight)


def test_rank_from_environment(file_prefix, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    store = s3dlio.CheckpointStore(f"{file_prefix}/ckpt")
    s3dlio_torch.save_state_dict(store, 1, {"x": torch.arange(5)})
    assert torch.equal(s3dlio_torch.load_state_dict(store)["x"], torch.arange(5))
