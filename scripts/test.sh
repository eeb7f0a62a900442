#!/usr/bin/env bash
# The test command: installs what the tests need (openssh-server, rsync, tmux, systemd's
# socket-activate helper, a Python venv with the MCP SDK, the MCP Inspector CLI), then runs
# rustfmt, clippy, the Rust tests (unit + the integration binary against a real sshd), a short
# fuzz campaign when nightly Rust is here, the quick bench (release binaries; it fails when a
# figure is more than twice as bad as its target) and the MCP client tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/packages.sh

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
# The file flows' unit tests run OpenSSH's sftp-server on pipes (daemon/src/files/local_sftp.rs).
[ -x /usr/lib/openssh/sftp-server ] || need+=(openssh-sftp-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v rsync >/dev/null || need+=(rsync)
command -v tmux >/dev/null || need+=(tmux)
command -v systemd-socket-activate >/dev/null || need+=(systemd)
command -v setpriv >/dev/null || need+=(util-linux)
command -v unshare >/dev/null || need+=(util-linux)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v npm >/dev/null || need+=(npm)
# The login shells of the accounts in tests/login_shells.rs (bash runs this script).
for login_shell in dash zsh fish tcsh; do command -v "$login_shell" >/dev/null || need+=("$login_shell"); done
command -v useradd >/dev/null || need+=(passwd)
# The edit tests put ACLs and extended attributes on files (ssh_edit keeps them by writing in place).
command -v setfacl >/dev/null || need+=(acl)
command -v setfattr >/dev/null || need+=(attr)
# Each stage says when it starts, in seconds since the test command began.
stage() { echo "== $1 (at ${SECONDS} s)"; }

install_packages ${need[@]+"${need[@]}"}
prepare_sshd

venv=.venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import mcp, pytest' 2>/dev/null; then
  echo "== creating $venv with the MCP Python SDK"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r tests/mcp/requirements.txt
fi

# The Inspector CLI checks schema portability (tests/mcp/test_tool_surface.py); pinned by
# tests/mcp/package.json and package-lock.json, installed into the git-ignored tests/mcp/node_modules.
if [ ! -x tests/mcp/node_modules/.bin/mcp-inspector ]; then
  echo "== installing the MCP Inspector CLI into tests/mcp/node_modules"
  # npm ci installs exactly the lock file and never rewrites it.
  npm ci --prefix tests/mcp --ignore-scripts --no-audit --no-fund --loglevel=error
fi

stage "rustfmt"
cargo fmt --all -- --check
stage "clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
stage "build"
cargo build --locked --workspace --bins
stage "cargo test"
cargo test --locked --workspace
# Every fuzz target's corpus was replayed on stable by cargo test; the campaign (nightly only)
# looks for new inputs. A machine without nightly skips it and says how to get it.
stage "fuzz (each target ${FUZZ_SECONDS:-5} s from its committed corpus)"
if cargo +nightly --version >/dev/null 2>&1; then
  bash scripts/fuzz.sh
else
  echo "fuzz: SKIPPED: no nightly Rust toolchain (\`cargo +nightly --version\` fails). cargo test"
  echo "fuzz: replayed every target's corpus on stable; for the campaign as well, run"
  echo "fuzz: \`rustup toolchain install nightly\` (cargo-fuzz is installed on first use)."
fi
stage "quick bench (release binaries; fails past twice any target)"
bash scripts/bench.sh --quick
stage "MCP client tests (Python mcp SDK)"
SSH_MCP_BIN_DIR="$PWD/target/debug" "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/mcp
stage "done"
