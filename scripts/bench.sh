#!/usr/bin/env bash
# The bench command: installs what the bench needs (OpenSSH server and client, rsync), builds the release
# binaries, then runs the bench target (tests/bench/exec.rs), which starts its own throwaway sshd,
# daemon and ControlMasters, measures, cleans up and writes BENCHMARKS.md.
#
# `bench.sh --quick` (scripts/test.sh runs it) takes few samples, prints the table instead of
# writing BENCHMARKS.md, and exits non-zero when a figure is more than twice as bad as its target.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/packages.sh

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v rsync >/dev/null || need+=(rsync)
install_packages ${need[@]+"${need[@]}"}
prepare_sshd

case "${1:-}" in
  "") mode=(--out BENCHMARKS.md) ;;
  --quick) mode=(--quick) ;;
  *) echo "usage: bash scripts/bench.sh [--quick]" >&2; exit 2 ;;
esac

echo "== build (release)"
cargo build --release --locked --workspace --bins
echo "== bench ${1:-}"
cargo bench --locked --bench exec -- --bin-dir target/release "${mode[@]}"
