"""One running site on this machine: its home folder, its config and its secrets.

Everything an instance writes lives under its home (default ./var, or CALLCORE_HOME):
the rendered Asterisk configuration, Asterisk's own run/log/spool/db folders, the notice
audio, the SQLite store, the journal and the secrets file. Two instances with different
homes and ports run side by side (the tests rely on it).
"""

from __future__ import annotations

import hashlib
import os
import secrets as _secrets
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

import config
from config.schema import SiteConfig


@dataclass(frozen=True)
class Secrets:
    ami_secret: str
    seat_passwords: dict[str, str]  # seat id -> SIP password
    api_tokens: dict[str, dict[str, str]]  # "sha256:<hash>" -> {"role": ..., "name": ...}
    # supervisor id -> SIP password of the supervisor's own softphone (listen/whisper/barge)
    supervisor_passwords: dict[str, str] = field(default_factory=dict)


class Instance:
    def __init__(self, home: str | Path | None = None, config_path: str | Path | None = None):
        self.home = Path(home or os.environ.get("CALLCORE_HOME", "var")).absolute()
        self.config_path = Path(config_path) if config_path else config.loader.default_path()

    @cached_property
    def config(self) -> SiteConfig:
        return config.load(self.config_path)

    def reload_config(self) -> SiteConfig:
        """Validate the file again; the instance keeps its old config if the new one is bad."""
        cfg = config.load(self.config_path)
        self.__dict__["config"] = cfg
        return cfg

    # Folders, as the host sees them.
    @property
    def etc(self) -> Path:
        return self.home / "etc"

    @property
    def sounds(self) -> Path:
        return self.home / "sounds"

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def log(self) -> Path:
        return self.home / "log"

    @property
    def spool(self) -> Path:
        return self.home / "spool"

    @property
    def lib(self) -> Path:
        return self.home / "lib"

    @property
    def journal(self) -> Path:
        return self.home / "journal"

    @property
    def secrets_file(self) -> Path:
        return self.home / "secrets.yaml"

    @property
    def db_url(self) -> str:
        return os.environ.get("CALLCORE_DB_URL") or f"sqlite:///{self.home / 'callcore.db'}"

    def ensure_dirs(self) -> None:
        for d in (
            self.home,
            self.etc,
            self.sounds,
            self.run,
            self.log,
            self.spool,
            self.lib,
            self.journal,
        ):
            d.mkdir(parents=True, exist_ok=True)

    def secrets(self) -> Secrets:
        """Read the secrets file, creating whatever is missing (new seats get a password)."""
        self.ensure_dirs()
        data: dict = {}
        if self.secrets_file.exists():
            data = yaml.safe_load(self.secrets_file.read_text(encoding="utf-8")) or {}
        changed = False
        if not data.get("ami_secret"):
            data["ami_secret"] = _secrets.token_urlsafe(24)
            changed = True
        seats = data.setdefault("seat_passwords", {})
        for seat in self.config.seats:
            if not seats.get(seat.id):
                seats[seat.id] = sip_password()
                changed = True
        sups = data.setdefault("supervisor_passwords", {})
        for sup in self.config.supervisors:
            if not sups.get(sup.id):
                sups[sup.id] = sip_password()
                changed = True
        # API tokens are made by `callcore token add`, which shows each once; the file keeps
        # only their hashes (tokens an older file kept in the clear are hashed here)
        tokens = data.setdefault("api_tokens", {})
        changed |= hash_clear_tokens(tokens)
        if changed:
            tmp = self.secrets_file.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                yaml.safe_dump(data, f, allow_unicode=True, sort_keys=True)
            os.replace(tmp, self.secrets_file)
        return Secrets(data["ami_secret"], dict(seats), dict(tokens), dict(sups))


HASHED = "sha256:"  # a key of `api_tokens` that is the token's hash, not the token


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def hashed_key(token: str) -> str:
    """What the secrets file keeps of a token: its SHA-256 (the token itself is shown once)."""
    return HASHED + token_digest(token).hex()


def hash_clear_tokens(tokens: dict[str, Any]) -> bool:
    """Replace tokens kept in the clear by their hashes, in place; True if any was."""
    clear = [k for k in tokens if not str(k).startswith(HASHED)]
    for key in clear:
        tokens[hashed_key(str(key))] = tokens.pop(key)
    return bool(clear)


def sip_password() -> str:
    """A softphone password (72 random bits) that every SIP client takes as text.

    sipp reads a password beginning with "0x" as hex (an AKA key), so one seat in about
    4,000 could not register in the simulator; a leading "-" reads as an option on some
    command lines.
    """
    while True:
        pw = _secrets.token_urlsafe(12)
        if not pw.startswith(("0x", "-")):
            return pw

