#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine, then runs the whole suite.
#   Debian: iverilog, verilator, yosys (RTL benches and synthesis), chromium (report rendering test)
#   Python: this package with its torch, rtl and dev extras, in ./.venv
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
need=""
for tool in iverilog verilator yosys chromium; do command -v "$tool" >/dev/null || need="$need $tool"; done
if [ -n "$need" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq iverilog verilator yosys chromium >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[torch,rtl,dev]"
exec .venv/bin/python -m pytest -q -n 2 "$@"
