"""Ray folder jobs: a job token in the output folder's lock, checked before each rename."""

from __future__ import annotations

import numpy as np
import pytest

from img2img_runtime.folder import LOCK_NAME, JobSupersededError, check_job_token, output_lock
from img2img_runtime.io import read_image
from img2img_runtime.ray import write_local


def test_the_lock_holds_the_token(tmp_path):
    with output_lock(tmp_path, token="abc123") as lock:
        assert "job abc123" in lock.read_text()
        check_job_token(tmp_path, "abc123")  # no error
        with pytest.raises(JobSupersededError, match="no longer holds"):
            check_job_token(tmp_path, "other")
    with pytest.raises(JobSupersededError):  # the job ended: its lock is gone
        check_job_token(tmp_path, "abc123")


def test_workers_of_a_killed_driver_cannot_replace_a_rerun_s_outputs(tmp_path):
    old, new = np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 200, np.uint8)
    dst = tmp_path / "a.png"
    with output_lock(tmp_path, token="first"):
        write_local(str(dst), old, 95, (str(tmp_path), "first"))  # the first job's worker writes
    assert read_image(dst).max() == 0
    # the first driver was killed; a rerun holds the folder now, and a late worker of the first job writes
    with output_lock(tmp_path, token="rerun"):
        write_local(str(dst), new, 95, (str(tmp_path), "rerun"))
        with pytest.raises(JobSupersededError):
            write_local(str(dst), old, 95, (str(tmp_path), "first"))
        assert read_image(dst).min() == 200  # the rerun's output is kept
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temp file left
        assert (tmp_path / LOCK_NAME).is_file()


def test_without_a_job_writes_as_before(tmp_path):
    write_local(str(tmp_path / "b.png"), np.zeros((4, 4, 3), np.uint8), 95, None)
    assert (tmp_path / "b.png").is_file()
