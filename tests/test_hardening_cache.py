"""Feature cache under a writer killed mid-write (SIGKILL): the last complete entry survives."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

from air.base_models.utils.feature_cache import FeatureCache

KEY_ARGS = {"decoder": "decord", "preprocess": "squash32", "encoder_name": "open_clip:tiny@x"}

# The child writes a valid entry, then starts a second write that stalls after the temp file is
# written and before the rename, and signals the parent, which kills it with SIGKILL.
CHILD = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from air.base_models.utils import feature_cache as fc
    cache = fc.FeatureCache(sys.argv[1])
    key = cache.key(sys.argv[2], decoder="decord", preprocess="squash32", encoder_name="open_clip:tiny@x")
    cache.add(key, np.arange(5), np.ones((5, 4), np.float32))
    real_replace = os.replace
    def stall(src, dst):
        open(sys.argv[3], "w").write("stalled")
        time.sleep(120)
    fc.os.replace = stall
    cache.add(key, np.arange(5, 10), np.full((5, 4), 2.0, np.float32))
""")


def test_writer_killed_mid_write_leaves_a_valid_entry(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x" * 4096)
    flag = tmp_path / "stalled.flag"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "cache"), str(video), str(flag)])
    deadline = time.time() + 120
    while not flag.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert flag.exists(), "the child never reached the stalled rename"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    cache = FeatureCache(tmp_path / "cache")
    key = cache.key(video, **KEY_ARGS)
    entry = cache.load(key)
    assert entry is not None, "the first, complete write survives"
    assert entry.indices.tolist() == [0, 1, 2, 3, 4] and np.all(entry.features == 1.0)
    leftovers = [p.name for p in (tmp_path / "cache").iterdir() if p.name.endswith(".tmp")]
    assert leftovers, "the killed writer left its temp file behind (never read as an entry)"
    # the dead writer's lock is released by the kernel: a new writer proceeds and merges
    assert cache.add(key, np.arange(5, 8), np.full((3, 4), 3.0, np.float32))
    assert cache.load(key).indices.tolist() == list(range(8))
    assert all(not e.name.endswith(".tmp") for e in cache.entries())
