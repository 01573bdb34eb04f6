#!/usr/bin/env bash
# Installs what callcore needs from Debian's packages, only what is missing.
# Asterisk itself is not here: `callcore asterisk up` uses an installed Asterisk >= 20 or
# builds its own Debian-sid root filesystem in a cache folder (see README).
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have debootstrap || need+=(debootstrap)
have sipp        || need+=(sip-tester)
have espeak-ng   || need+=(espeak-ng)
have baresip     || need+=(baresip-core)  # a real softphone as a seat in tests/e2e
have opusenc     || need+=(opus-tools)  # recordings: Opus (and opusdec to listen)
have sox         || need+=(sox)         # recordings: FLAC, and the tests' sound checks
have tmux        || need+=(tmux)
have unshare     || need+=(util-linux)
have nsenter     || need+=(util-linux)
have redis-server || need+=(redis-server)
have pg_ctlcluster || need+=(postgresql)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
# report charts label in Chinese: a CJK font if the machine has none
{ have fc-list && [ -n "$(fc-list :lang=zh 2>/dev/null)" ]; } || need+=(fontconfig fonts-wqy-microhei)

if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
