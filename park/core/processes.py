"""Processes by pid: whether one still runs."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """Whether `pid` runs; reaps it first when it is our own exited child (a zombie)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child (started by another process)
    else:
        return reaped != pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
