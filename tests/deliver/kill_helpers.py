"""Start a command and SIGKILL its process group at a chosen moment (the fault-injection scenarios share it)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence


def start_and_kill(cmd: Sequence[str], env: Mapping[str, str], ready: Callable[[], bool], extra: float, *,
                   poll: float = 0.01) -> bool:
    """Run ``cmd`` until ``ready()`` holds (or it exits), then give it ``extra`` seconds and kill -9 its process
    group if it is still running. Returns True when it was killed."""
    proc = subprocess.Popen(list(cmd), env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    while proc.poll() is None and not ready():
        time.sleep(poll)
    try:
        proc.wait(timeout=extra)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True
