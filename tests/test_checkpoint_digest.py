"""A training checkpoint carries the SHA-256 of its content: a damaged file is a clear error."""

from __future__ import annotations

import zipfile

import pytest
import torch

from img2img.checkpoint import CHECKPOINT_FORMAT, DIGEST_KEY, load_checkpoint, save_checkpoint, state_digest


def _state() -> dict:
    torch.manual_seed(0)
    return {
        "format": CHECKPOINT_FORMAT,
        "step": 7,
        "task": {"w": torch.randn(64, 64), "b": torch.zeros(3, dtype=torch.bfloat16)},
        "optim": {"G": {"state": {0: {"exp_avg": torch.ones(4)}}, "param_groups": [{"lr": 2e-4}]}},
        "config": {"seed": 0, "name": "x", "none": None},
    }


def test_round_trip_keeps_content_and_checks_it(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, _state())
    loaded = load_checkpoint(path)
    assert DIGEST_KEY not in loaded  # checked and removed
    assert loaded["step"] == 7 and torch.equal(loaded["task"]["w"], _state()["task"]["w"])
    assert state_digest(loaded) == state_digest(_state())


def test_digest_sees_every_kind_of_change():
    base = state_digest(_state())
    changed = _state()
    changed["task"]["w"][3, 5] += 1e-6
    assert state_digest(changed) != base
    changed = _state()
    changed["optim"]["G"]["param_groups"][0]["lr"] = 2.0001e-4
    assert state_digest(changed) != base
    changed = _state()
    changed["task"]["b"] = torch.zeros(1, 3, dtype=torch.bfloat16)  # same bytes, another shape
    assert state_digest(changed) != base
    assert state_digest(_state()) == base  # deterministic


def test_a_bit_rotted_tensor_is_a_clear_error(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, _state())
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:  # the 64 x 64 tensor's stored bytes (torch's zip format, uncompressed)
        info = max(archive.infolist(), key=lambda i: i.file_size)
        assert info.file_size == 64 * 64 * 4
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + 1000] ^= 0x10  # one bit of one float
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="damaged.*SHA-256"):
        load_checkpoint(path)


def test_an_edited_value_with_the_old_digest_is_refused(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, _state())
    state = torch.load(path, weights_only=True)
    state["step"] = 8
    torch.save(state, path)
    with pytest.raises(ValueError, match=str(path).replace("\\", "\\\\")):
        load_checkpoint(path)


def test_checkpoints_without_a_digest_still_load(tmp_path):
    path = tmp_path / "old.pt"
    torch.save(_state(), path)  # as earlier versions wrote them
    assert load_checkpoint(path)["step"] == 7
