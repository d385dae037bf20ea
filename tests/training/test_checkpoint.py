"""Pickle-free state files, RNG capture, atomic checkpoint folders and newest-complete lookup."""

import json
import random
import shutil

import numpy as np
import pytest
import torch

from audiogen.training.checkpoint import (
    capture_rng_state,
    checkpoint_step,
    find_latest_checkpoint,
    flatten_state,
    list_checkpoints,
    load_state,
    preserved_rng,
    restore_rng_state,
    save_state,
    unflatten_state,
    write_checkpoint,
)


def _adam_after_steps() -> torch.optim.Optimizer:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.8, 0.95))
    for _ in range(2):
        model(torch.randn(4, 3)).pow(2).mean().backward()
        opt.step()
    return opt


def test_optimizer_state_round_trips_without_pickle(tmp_path):
    opt = _adam_after_steps()
    files = save_state(tmp_path / "opt", opt.state_dict())
    assert sorted(p.name for p in files) == ["opt.json", "opt.safetensors"]
    restored = load_state(tmp_path / "opt")
    original = opt.state_dict()
    assert restored["param_groups"] == original["param_groups"]  # betas stay a tuple, keys stay ints
    assert set(restored["state"]) == set(original["state"]) == {0, 1}
    for idx, state in original["state"].items():
        for key, value in state.items():
            assert torch.equal(restored["state"][idx][key], value)
    fresh = _adam_after_steps()
    fresh.load_state_dict(restored)  # accepted by torch


def test_flatten_rejects_arbitrary_objects():
    with pytest.raises(TypeError, match="no pickle"):
        flatten_state({"x": object()})
    tree, tensors = flatten_state({"a": (1, 2.5, None), "b": [torch.ones(2)], "__c": 3})
    assert unflatten_state(json.loads(json.dumps(tree)), tensors)["a"] == (1, 2.5, None)


def test_rng_capture_and_restore(tmp_path):
    state = capture_rng_state()
    save_state(tmp_path / "rng", state)
    first = (random.random(), np.random.rand(), torch.rand(3))
    restore_rng_state(load_state(tmp_path / "rng"))
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == second[0] and first[1] == second[1] and torch.equal(first[2], second[2])
    before = torch.get_rng_state()
    with preserved_rng():
        torch.rand(10)
        np.random.rand()
    assert torch.equal(before, torch.get_rng_state())


def _writer(value: float):
    def write(folder):
        save_state(folder / "weights", {"w": torch.full((64,), value)})

    return write


def test_write_is_atomic_and_prunes_old_checkpoints(tmp_path):
    for step in (10, 20, 30):
        final = write_checkpoint(tmp_path, step, _writer(step), keep=2)
        assert final.name == f"checkpoint-{step:08d}"
        manifest = json.loads((final / "COMPLETE").read_text())
        assert manifest["step"] == step and "weights.safetensors" in manifest["files"]
    assert [checkpoint_step(p) for p in list_checkpoints(tmp_path)] == [20, 30]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folders left
    assert find_latest_checkpoint(tmp_path).name == "checkpoint-00000030"


def test_write_failure_leaves_no_checkpoint(tmp_path):
    def broken(folder):
        save_state(folder / "weights", {"w": torch.ones(2)})
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_checkpoint(tmp_path, 5, broken)
    assert list_checkpoints(tmp_path) == []
    assert find_latest_checkpoint(tmp_path) is None
    write_checkpoint(tmp_path, 6, _writer(1.0))  # the next write removes the leftover temporary folder
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint-00000006"]


def test_incomplete_or_damaged_checkpoints_are_never_loaded(tmp_path):
    write_checkpoint(tmp_path, 10, _writer(1.0))
    write_checkpoint(tmp_path, 20, _writer(2.0))
    write_checkpoint(tmp_path, 30, _writer(3.0))
    # 30: cut off before its marker was written
    (tmp_path / "checkpoint-00000030" / "COMPLETE").unlink()
    # 20: weights truncated after the fact
    weights = tmp_path / "checkpoint-00000020" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-16])
    with pytest.warns(UserWarning, match="truncated"):
        latest = find_latest_checkpoint(tmp_path)
    assert latest.name == "checkpoint-00000010"
    assert torch.equal(load_state(latest / "weights")["w"], torch.full((64,), 1.0))

    # same size but altered bytes: caught by the SHA-256
    shutil.rmtree(tmp_path / "checkpoint-00000020")
    write_checkpoint(tmp_path, 40, _writer(4.0))
    weights = tmp_path / "checkpoint-00000040" / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="SHA-256"):
        assert find_latest_checkpoint(tmp_path).name == "checkpoint-00000010"


def test_adam_moments_saved_for_legacy_pointwise_shapes_follow_the_parameters():
    """Moments of a 1x1-conv weight ``(out, in, 1)`` resume on the linear weight ``(out, in)``."""
    from audiogen.training.checkpoint import _match_moment_shapes

    conv = torch.nn.Conv1d(3, 2, 1)
    opt = torch.optim.AdamW(conv.parameters(), lr=1e-3)
    conv(torch.randn(4, 3, 5)).pow(2).mean().backward()
    opt.step()
    linear = torch.nn.Linear(3, 2)
    fresh = torch.optim.AdamW(linear.parameters(), lr=1e-3)
    fresh.load_state_dict(opt.state_dict())
    _match_moment_shapes(fresh)
    moments = fresh.state[linear.weight]
    assert moments["exp_avg"].shape == (2, 3)
    assert torch.equal(moments["exp_avg"], opt.state[conv.weight]["exp_avg"][..., 0])
    linear(torch.randn(4, 3)).pow(2).mean().backward()
    fresh.step()  # the reshaped moments are usable
