#!/usr/bin/env bash
# The test command: installs what the tests need (openssh-server, rsync, tmux, systemd's
# socket-activate helper, a Python venv with the MCP SDK), then runs rustfmt, clippy, the Rust
# tests (unit + the integration binary against a real sshd) and the MCP client tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v rsync >/dev/null || need+=(rsync)
command -v tmux >/dev/null || need+=(tmux)
command -v systemd-socket-activate >/dev/null || need+=(systemd)
command -v setpriv >/dev/null || need+=(util-linux)
command -v unshare >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "== installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing: ${need[*]}; install them with: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi
# sshd refuses to start without its privilege-separation directory.
[ -d /run/sshd ] || mkdir -p /run/sshd 2>/dev/null || true

venv=.venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import mcp, pytest' 2>/dev/null; then
  echo "== creating $venv with the MCP Python SDK"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r tests/mcp/requirements.txt
fi

echo "== rustfmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
echo "== build"
cargo build --locked --workspace --bins
echo "== cargo test"
cargo test --locked --workspace
echo "== MCP client tests (Python mcp SDK)"
SSH_MCP_BIN_DIR="$PWD/target/debug" "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/mcp
