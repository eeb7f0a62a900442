#!/usr/bin/env bash
# The bench command: installs what the bench needs (OpenSSH server and client), builds the release
# binaries, then runs the bench target (tests/bench/exec.rs), which starts its own throwaway sshd,
# daemon and ControlMasters, measures, cleans up and writes BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
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

echo "== build (release)"
cargo build --release --locked --workspace --bins
echo "== bench"
cargo bench --locked --bench exec -- --bin-dir target/release --out BENCHMARKS.md
