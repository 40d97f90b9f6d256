#!/usr/bin/env bash
# Installs the real WebSocket peers that tests/peers.rs talks to. Idempotent; run from anywhere:
#   bash .ci/peers-setup.sh
#
# - .venv/: Python `websockets` (a client) and `kosoku` (the Autobahn-compatible fuzzing
#   client the Autobahn check uses), pinned.
# - tests/peers/node_modules/: Node `ws` and `playwright-core`, from package-lock.json.
# - /usr/bin/chromium: Debian's Chromium, which playwright-core drives headless (installed
#   only when missing, and only as root).
set -euo pipefail
cd "$(dirname "$0")/.."

WEBSOCKETS_VERSION=17.4
KOSOKU_VERSION=0.1.0

start=$(date +%s)
step_start=$start
step() {
    local now
    now=$(date +%s)
    printf '=== %s (step took %ss, %ss total)\n' "$1" "$((now - step_start))" "$((now - start))"
    step_start=$now
}

# Python peers.
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    "websockets==$WEBSOCKETS_VERSION" "kosoku==$KOSOKU_VERSION"
step "python venv (websockets $WEBSOCKETS_VERSION, kosoku $KOSOKU_VERSION)"

# Node peers (exact versions from tests/peers/package-lock.json).
(cd tests/peers && npm ci --no-audit --no-fund --loglevel=error)
step "npm ci in tests/peers (ws, playwright-core)"

# Chromium for the browser test.
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
    else
        echo "warning: /usr/bin/chromium is missing and we are not root:" \
            "run 'sudo apt-get install --no-install-recommends chromium' for the browser test" >&2
    fi
fi
if [ -x /usr/bin/chromium ]; then
    /usr/bin/chromium --version 2>/dev/null || true
fi
step "chromium"
