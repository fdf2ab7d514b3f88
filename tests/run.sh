#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian machine, then runs every test.
#
# The telemetry tests check the /metrics output with a real `promtool` and start a real Prometheus,
# both from Debian's `prometheus` package, and check the Alertmanager config with `amtool` from
# `prometheus-alertmanager`; the packages are installed when missing. Nothing is skipped when a
# tool is absent: a test that needs one fails.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1 \
    || ! command -v amtool >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    # The packages' services are not wanted: the tests start their own Prometheus.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        prometheus prometheus-alertmanager
fi

cargo test --workspace
