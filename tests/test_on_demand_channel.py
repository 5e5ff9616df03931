"""The on-demand agent's socket folder: private to the user, or refused (no torch needed)."""

from __future__ import annotations

import os
import stat

import pytest

from lowprof.tracers._boot._lowprof_ondemand_agent import ensure_private_dir, runtime_dir, socket_path


def test_folder_is_made_0700_and_a_loose_or_fake_one_is_refused(tmp_path):
    d = tmp_path / "lp"
    ensure_private_dir(str(d))
    assert stat.S_IMODE(os.lstat(d).st_mode) == 0o700
    ensure_private_dir(str(d))  # existing and right: accepted
    d.chmod(0o755)
    with pytest.raises(PermissionError, match="mode 0755"):
        ensure_private_dir(str(d))
    link = tmp_path / "link"
    (tmp_path / "real").mkdir(mode=0o700)
    link.symlink_to(tmp_path / "real")
    with pytest.raises(PermissionError, match="not a folder"):
        ensure_private_dir(str(link))
    if os.getuid() == 0:
        other = tmp_path / "other"
        other.mkdir(mode=0o700)
        os.chown(other, 65534, 65534)
        with pytest.raises(PermissionError, match="belongs to uid 65534"):
            ensure_private_dir(str(other))


def test_socket_path_is_short_and_per_user(tmp_path):
    assert runtime_dir(1234, {}) == "/tmp/lowprof-1234"
    assert runtime_dir(1234, {"XDG_RUNTIME_DIR": str(tmp_path)}) == str(tmp_path / "lowprof")
    assert runtime_dir(1234, {"XDG_RUNTIME_DIR": "relative/dir"}) == "/tmp/lowprof-1234"
    assert len(socket_path(runtime_dir(4294967294, {}), 4194304)) < 108  # AF_UNIX's sun_path limit
