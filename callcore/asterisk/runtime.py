"""Getting a real Asterisk and running it for one instance.

An installed Asterisk >= 20 is used as is. Debian 12 has none, so there callcore builds a
Debian-sid root filesystem once (debootstrap, about 500 MB) in a cache folder outside the
checkout and runs Asterisk 22 from it in a private mount namespace: /dev, /proc and the
instance home are bind-mounted into the root only for that process and vanish with it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from callcore.instance import Instance

log = logging.getLogger(__name__)

MIN_MAJOR = 20
BUILD_ATTEMPTS = 3  # a mirror hiccup (a Packages file that did not download) is common
ROOT_PACKAGES = "asterisk,asterisk-modules,asterisk-config"
IN_ROOT_HOME = Path("/srv/callcore")  # where the instance home appears inside the root


class AsteriskError(RuntimeError):
    pass


def cache_dir() -> Path:
    base = os.environ.get("CALLCORE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "callcore"
    )
    return Path(base)


def _version_of(cmd: list[str]) -> tuple[int, str] | None:
    try:
        out = subprocess.run([*cmd, "-V"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"Asterisk (\d+)\.(\S+)", out)
    return (int(m.group(1)), m.group(0)) if m else None


@dataclass(frozen=True)
class Runtime:
    """How this machine runs Asterisk: a host binary, or the cached sid root."""

    root: Path | None  # None: installed on the host
    binary: str = "/usr/sbin/asterisk"
    version: str = ""

    def ast_path(self, inst: Instance, host_path: Path) -> str:
        """A path of the instance home as Asterisk sees it."""
        if self.root is None:
            return str(host_path)
        return str(IN_ROOT_HOME / host_path.relative_to(inst.home))

    def run_user(self) -> tuple[int, int] | None:
        """uid/gid Asterisk drops to; it must own its writable folders."""
        passwd = (self.root / "etc/passwd") if self.root else Path("/etc/passwd")
        for line in passwd.read_text().splitlines():
            parts = line.split(":")
            if parts[0] == "asterisk":
                return int(parts[2]), int(parts[3])
        return None

    def command(self, inst: Instance, args: list[str]) -> list[str]:
        """The argv that runs the asterisk binary for this instance (server or -rx client)."""
        conf = self.ast_path(inst, inst.etc / "asterisk.conf")
        if self.root is None:
            return [self.binary, "-C", conf, *args]
        pid = read_pid(inst)
        if "-rx" in args:
            if pid is None:
                raise AsteriskError("Asterisk is not running")
            return [
                "nsenter",
                "-t",
                str(pid),
                "-m",
                "chroot",
                str(self.root),
                self.binary,
                "-C",
                conf,
                *args,
            ]
        mounts = " && ".join(
            [
                f"mount --bind /dev {self.root}/dev",
                f"mount -t proc proc {self.root}/proc",
                f"mount --bind {inst.home} {self.root}{IN_ROOT_HOME}",
            ]
        )
        inner = " ".join([f"exec chroot {self.root} {self.binary} -C {conf}", *args])
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", f"{mounts} && {inner}"]


def find_runtime(build: bool = True) -> Runtime:
    """An installed Asterisk >= 20 if there is one, else the cached root (built if needed)."""
    host = shutil.which("asterisk")
    if host and os.environ.get("CALLCORE_ASTERISK") != "root":
        v = _version_of([host])
        if v and v[0] >= MIN_MAJOR:
            return Runtime(None, host, v[1])
        log.info("ignoring %s: version %s is below %d", host, v[1] if v else "?", MIN_MAJOR)
    root = cache_dir() / "asterisk-root"
    if not (root / ".callcore-ready").exists():
        if not build:
            raise AsteriskError(f"no Asterisk >= {MIN_MAJOR}: run `callcore asterisk up`")
        _build_once(root)
    v = _version_of(["chroot", str(root), "/usr/sbin/asterisk"])
    if not v or v[0] < MIN_MAJOR:
        raise AsteriskError(f"{root} holds no usable Asterisk (found {v})")
    return Runtime(root, "/usr/sbin/asterisk", v[1])


def debian_mirror() -> str:
    """The mirror the machine's own apt sources use: never a hard-coded host."""
    texts = []
    for p in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        texts.append(p.read_text())
    for p in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*.list")]:
        if p.exists():
            texts.append(p.read_text())
    for text in texts:
        for m in re.finditer(r"^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text, re.M):
            uri = m.group(1)
            if "security" not in uri and uri.startswith(("http://", "https://", "file:")):
                return uri
    raise AsteriskError("no Debian mirror found in /etc/apt/sources.list*")


def _build_once(root: Path) -> None:
    """Build the root under a lock: test workers and a demo may all start at once, and two
    debootstraps in one folder wreck each other. The lock's holder builds; the rest wait and
    find it ready."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.with_name(root.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / ".callcore-ready").exists():
            return
        for attempt in range(1, BUILD_ATTEMPTS + 1):
            try:
                build_root(root)
                return
            except AsteriskError as exc:
                if attempt == BUILD_ATTEMPTS or "debootstrap failed" not in str(exc):
                    raise
                log.warning("building the Asterisk root failed, trying again: %s", exc)
                time.sleep(5 * attempt)


def build_root(root: Path) -> None:
    if not shutil.which("debootstrap"):
        raise AsteriskError("debootstrap is missing: apt-get install debootstrap")
    if os.geteuid() != 0:
        raise AsteriskError("building the Asterisk root needs root (sudo)")
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    mirror = debian_mirror()
    log.warning(
        "building the Asterisk 22 root filesystem in %s from %s (about a minute)", root, mirror
    )
    cmd = [
        "debootstrap",
        "--variant=minbase",
        f"--include={ROOT_PACKAGES}",
        "sid",
        str(tmp),
        mirror,
    ]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        tail = "\n".join((res.stdout + res.stderr).splitlines()[-15:])
        raise AsteriskError(f"debootstrap failed ({res.returncode}):\n{tail}")
    # Asterisk resolves its own host name at start; without network that must be local.
    (tmp / "etc/hosts").write_text(f"127.0.0.1 localhost\n127.0.0.1 {socket.gethostname()}\n")
    (tmp / IN_ROOT_HOME.relative_to("/")).mkdir(parents=True, exist_ok=True)
    (tmp / ".callcore-ready").write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)


def read_pid(inst: Instance) -> int | None:
    try:
        pid = int((inst.run / "callcore-asterisk.pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    # The pid may have been reused; make sure it is our Asterisk.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if b"asterisk" in cmdline else None


def prepare_dirs(rt: Runtime, inst: Instance) -> None:
    inst.ensure_dirs()
    owner = rt.run_user()
    if owner is None or os.geteuid() != 0:
        return
    uid, gid = owner
    for d in (inst.run, inst.log, inst.spool, inst.lib, inst.sounds):
        for path in [d, *d.rglob("*")]:
            os.chown(path, uid, gid)
    # Config files hold the AMI secret: readable by Asterisk's group only.
    os.chown(inst.etc, 0, gid)
    os.chmod(inst.etc, 0o750)
    for f in inst.etc.iterdir():
        os.chown(f, 0, gid)
        os.chmod(f, 0o640)


def start(rt: Runtime, inst: Instance, timeout: float = 60.0) -> int:
    if (pid := read_pid(inst)) is not None:
        return pid
    prepare_dirs(rt, inst)
    args = ["-f"]
    if rt.run_user() is not None and os.geteuid() == 0:
        args += ["-U", "asterisk", "-G", "asterisk"]
    out = open(inst.log / "console.log", "ab")
    proc = subprocess.Popen(
        rt.command(inst, args),
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    out.close()
    (inst.run / "callcore-asterisk.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (inst.log / "console.log").read_text(errors="replace").splitlines()[-20:]
            raise AsteriskError("Asterisk exited at start:\n" + "\n".join(tail))
        try:
            res = rx(rt, inst, "core waitfullybooted", timeout=5)
            if "fully booted" in res.lower() and manager_listening(rt, inst):
                return proc.pid
        except AsteriskError:
            pass
        time.sleep(0.3)
    raise AsteriskError(f"Asterisk did not boot within {timeout:.0f} s")


def manager_listening(rt: Runtime, inst: Instance) -> bool:
    """Whether AMI took its port; if not, ask Asterisk to bind it again.

    Asterisk boots without its manager when the port is briefly held (a client socket that
    the kernel gave that port as its ephemeral one), and never retries on its own; the
    engine would then wait for AMI forever. A manager reload binds again.
    """
    pbx = inst.config.pbx
    try:
        with socket.create_connection((pbx.bind, pbx.ami_port), timeout=2):
            return True
    except OSError:
        log.warning("AMI is not listening on port %s; reloading the manager", pbx.ami_port)
        rx(rt, inst, "module reload manager", timeout=5)
        return False


def rx(rt: Runtime, inst: Instance, command: str, timeout: float = 10.0) -> str:
    """Run one CLI command on the instance's Asterisk (for provisioning, not the call path)."""
    try:
        res = subprocess.run(
            rt.command(inst, ["-rx", command]), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise AsteriskError(f"asterisk -rx {command!r} timed out") from exc
    if res.returncode != 0:
        raise AsteriskError(f"asterisk -rx {command!r}: {(res.stderr or res.stdout).strip()}")
    return res.stdout


def stop(rt: Runtime, inst: Instance, timeout: float = 15.0) -> bool:
    pid = read_pid(inst)
    if pid is None:
        return False
    try:
        rx(rt, inst, "core stop now", timeout=5)
    except AsteriskError:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and read_pid(inst) is not None:
        time.sleep(0.2)
    if read_pid(inst) is not None:
        os.killpg(pid, signal.SIGKILL)
        time.sleep(0.5)
    (inst.run / "callcore-asterisk.pid").unlink(missing_ok=True)
    return True


def status(rt: Runtime, inst: Instance) -> dict:
    pid = read_pid(inst)
    info: dict = {
        "running": pid is not None,
        "pid": pid,
        "version": rt.version,
        "runtime": str(rt.root) if rt.root else rt.binary,
    }
    if pid is not None:
        try:
            info["uptime"] = rx(rt, inst, "core show uptime seconds").strip()
            info["channels"] = rx(rt, inst, "core show channels count").strip()
        except AsteriskError as exc:
            info["error"] = str(exc)
    return info
