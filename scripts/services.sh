#!/usr/bin/env bash
# Starts Redis and PostgreSQL on loopback when they are not already answering; the
# tests use Redis for live figures and PostgreSQL as the second request-store backend.
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 6379; then
  echo "starting redis on 127.0.0.1:6379"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/callcore.log
fi
if ! port_open 5432; then
  echo "starting postgresql on 127.0.0.1:5432"
  for v in $(ls /etc/postgresql 2>/dev/null); do
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
  done
fi
for _ in $(seq 1 50); do port_open 6379 && port_open 5432 && exit 0; sleep 0.2; done
port_open 6379 || echo "warning: redis is not answering on 127.0.0.1:6379" >&2
port_open 5432 || echo "warning: postgresql is not answering on 127.0.0.1:5432" >&2
