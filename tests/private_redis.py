"""A redis-server of a test's own, to stop and start at will (never the machine's shared one)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis


def start(port: int, workdir: Path) -> subprocess.Popen:
    """Start it on loopback, keeping nothing on disk; return once it answers PING."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--daemonize", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError):
            if redis.Redis(port=port, socket_connect_timeout=0.2).ping():
                return proc
        time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"private redis-server on {port} did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def running(port: int, workdir: Path) -> Iterator[subprocess.Popen]:
    proc = start(port, workdir)
    try:
        yield proc
    finally:
        stop(proc)
