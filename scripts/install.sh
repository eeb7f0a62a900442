#!/usr/bin/env bash
# The install/run command: builds `ssh-mcp` and `ssh-mcpd` in one release build of the workspace
# (each dependency compiled once) and copies them into $CARGO_INSTALL_ROOT/bin (default
# ~/.cargo/bin), installs the systemd user units when a user systemd instance runs (socket
# activation), starts the daemon, and prints how to register ssh-mcp with MCP clients.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v ssh >/dev/null || { echo "ssh-mcp needs the OpenSSH client: apt-get install openssh-client" >&2; exit 1; }
command -v cargo >/dev/null || { echo "building ssh-mcp needs Rust's cargo (https://rustup.rs)" >&2; exit 1; }

root="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}"
bin="$root/bin"
# The repository's own target dir unless the caller chose one: a second run only rebuilds what
# changed, and scripts/bench.sh reuses the same release build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
echo "== building ssh-mcp and ssh-mcpd (release, one build)"
cargo build --quiet --release --locked --workspace --bins
echo "== installing them into $bin"
mkdir -p "$bin"
for b in ssh-mcpd ssh-mcp; do
  # A copy beside the target, then a rename: a running daemon keeps its old inode, and nobody
  # sees a half-written binary.
  install -m 0755 "$CARGO_TARGET_DIR/release/$b" "$bin/.$b.new"
  mv -f "$bin/.$b.new" "$bin/$b"
done

if command -v systemctl >/dev/null && systemctl --user show-environment >/dev/null 2>&1; then
  units="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"
  echo "== installing systemd user units into $units"
  mkdir -p "$units"
  sed "s|%h/.cargo/bin/ssh-mcpd|$bin/ssh-mcpd|" systemd/ssh-mcpd.service > "$units/ssh-mcpd.service"
  cp systemd/ssh-mcpd.socket "$units/ssh-mcpd.socket"
  # A daemon started earlier by a shim would hold the socket path; let systemd own it.
  "$bin/ssh-mcp" daemon stop >/dev/null 2>&1 || true
  systemctl --user daemon-reload
  systemctl --user enable --now ssh-mcpd.socket
else
  echo "== no systemd user instance: ssh-mcp starts the daemon on demand; starting it now"
  "$bin/ssh-mcp" daemon start
fi
"$bin/ssh-mcp" daemon status

cat <<TXT

ssh-mcp is installed. Register it with your MCP client, for example:
  claude mcp add --transport stdio --scope user ssh-mcp -- $bin/ssh-mcp
  codex mcp add ssh-mcp -- $bin/ssh-mcp
or in a client's JSON config: {"mcpServers": {"ssh-mcp": {"command": "$bin/ssh-mcp"}}}
TXT
