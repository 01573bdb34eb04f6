"""Record an instance's raw AMI stream (the engine's own user and filter) for tests and benchmarks.

    .venv/bin/python benchmarks/record_ami.py OUT.raw SECONDS [--home var]

Retries until AMI answers, then writes every byte Asterisk sends for SECONDS.
"""

from __future__ import annotations

import argparse
import socket
import time

from callcore.instance import Instance


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("seconds", type=float)
    ap.add_argument("--home", default="var")
    ap.add_argument("--config")
    args = ap.parse_args()
    inst = Instance(args.home, args.config)
    cfg, secret = inst.config, inst.secrets().ami_secret
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        try:
            sock = socket.create_connection((cfg.pbx.bind, cfg.pbx.ami_port), timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    else:
        raise SystemExit("AMI never answered")
    login = (
        f"Action: Login\r\nUsername: {cfg.pbx.ami_user}\r\nSecret: {secret}\r\nEvents: on\r\n\r\n"
    )
    sock.sendall(login.encode())
    sock.settimeout(0.5)
    with open(args.out, "wb") as f:
        while time.monotonic() < end:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            f.write(data)


if __name__ == "__main__":
    main()
