"""The systemd units and the logrotate rule of one instance, as text.

Two units per instance, named after its home so that several instances can share a box:
`callcore-<name>-asterisk.service` (forking: `callcore asterisk up` starts Asterisk and
returns once it is fully booted; its pid file is the one the CLI keeps) and
`callcore-<name>-engine.service` (the engine in the foreground; its log goes to journald).
Both restart on failure and start at boot; the engine is ordered after Asterisk, and after
PostgreSQL and Redis when this machine runs them. The store URL, which may hold a password,
goes in an environment file of mode 0600, never in a unit.

The logrotate rule rotates Asterisk's own log files with copytruncate (Asterisk keeps them
open); queue_log is left alone: the engine reads it by offset to reconcile calls after an
outage.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

_LOCAL = ("127.0.0.1", "localhost", "::1", None)


def _host(url: str) -> str | None:
    """The host of a redis:// URL (not a SQLAlchemy URL: urllib reads it)."""
    return urlsplit(url).hostname


@dataclass(frozen=True)
class Install:
    """What the units run: the callcore executable, the instance home and site config."""

    exe: Path
    home: Path
    config: Path
    db_url: str | None = None  # CALLCORE_DB_URL when the store is not the home's SQLite
    redis_url: str | None = None
    user: str = "root"

    @property
    def name(self) -> str:
        """The instance's name in unit names: its home folder's, made safe for systemd."""
        raw = self.home.name if self.home.name not in ("", "var") else self.home.parent.name
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", raw).strip("-") or "main"

    def unit(self, part: str) -> str:
        return f"callcore-{self.name}-{part}.service"

    @property
    def env_file(self) -> Path:
        return self.home / "etc" / "callcore.env"

    def _cli(self, *args: str) -> str:
        argv = [str(self.exe), "--home", str(self.home), "--config", str(self.config), *args]
        return shlex.join(argv)

    def _after(self) -> list[str]:
        after = ["network-online.target"]
        db = make_url(self.db_url) if self.db_url else None
        if db is not None and db.get_backend_name() == "postgresql" and db.host in _LOCAL:
            after.append("postgresql.service")  # Debian's unit, when PostgreSQL runs here
        if self.redis_url and _host(self.redis_url) in _LOCAL:
            after.append("redis-server.service")  # Debian's unit, when Redis runs here
        return after


def asterisk_unit(i: Install) -> str:
    return f"""\
[Unit]
Description=callcore {i.name}: Asterisk of the 12345 hotline
After=network-online.target
Wants=network-online.target

[Service]
Type=forking
User={i.user}
PIDFile={i.home}/run/callcore-asterisk.pid
ExecStart={i._cli("asterisk", "up")}
ExecStop={i._cli("asterisk", "down")}
Restart=on-failure
RestartSec=2
TimeoutStartSec=120
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
"""


def engine_unit(i: Install) -> str:
    # Wants, not BindsTo: the engine outlives an Asterisk restart (it reconnects and
    # reconciles), so stopping Asterisk must not stop it
    after = " ".join([*i._after(), i.unit("asterisk")])
    wants = " ".join([*i._after(), i.unit("asterisk")])
    return f"""\
[Unit]
Description=callcore {i.name}: engine of the 12345 hotline (routing, tracking, store, API)
After={after}
Wants={wants}

[Service]
Type=simple
User={i.user}
EnvironmentFile=-{i.env_file}
ExecStart={i._cli("run")}
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=2
TimeoutStopSec=30
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
"""


def env_file(i: Install) -> str:
    lines = ["# callcore's environment for the engine's unit (mode 0600: may hold a password)"]
    if i.db_url:
        lines.append(f"CALLCORE_DB_URL={i.db_url}")
    if i.redis_url:
        lines.append(f"CALLCORE_REDIS_URL={i.redis_url}")
    return "\n".join(lines) + "\n"


def logrotate_rule(i: Install) -> str:
    return f"""\
# callcore {i.name}: Asterisk's own logs. queue_log is not rotated here: the engine reads
# it by offset to reconcile calls after an outage.
{i.home}/log/messages {i.home}/log/console {i.home}/log/console.log {{
    daily
    rotate 30
    compress
    delaycompress
    missingok
    notifempty
    copytruncate
    su {i.user} {i.user}
}}
"""


def files(i: Install, unit_dir: Path, logrotate_dir: Path) -> dict[Path, tuple[str, int]]:
    """Every file an install writes: path -> (text, mode)."""
    return {
        unit_dir / i.unit("asterisk"): (asterisk_unit(i), 0o644),
        unit_dir / i.unit("engine"): (engine_unit(i), 0o644),
        logrotate_dir / f"callcore-{i.name}": (logrotate_rule(i), 0o644),
        i.env_file: (env_file(i), 0o600),
    }
