#!/usr/bin/env bash
# The bench command: installs what the bench needs (OpenSSH server and client), builds the release
# binaries, then runs the bench target (tests/bench/exec.rs), which starts its own throwaway sshd,
# daemon and ControlMasters, measures, cleans up and writes BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/packages.sh

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
install_packages ${need[@]+"${need[@]}"}
prepare_sshd

echo "== build (release)"
cargo build --release --locked --workspace --bins
echo "== bench"
cargo bench --locked --bench exec -- --bin-dir target/release --out BENCHMARKS.md
