#!/usr/bin/env bash
# A short fuzz campaign: builds every target of fuzz/ in one go (nightly Rust, cargo-fuzz, no
# sanitizer: the code under test is safe Rust, and the fuzzer looks for panics; unoptimised,
# which builds in half the time of an optimised build, and seconds per target need no speed),
# then runs each for FUZZ_SECONDS (default 5) from its committed corpus. New inputs go to a scratch directory,
# so the committed corpus only changes when someone adds to it on purpose. A crash or a unit
# slower than FUZZ_TIMEOUT seconds fails the run; the input is kept under fuzz/artifacts/.
#
#   bash scripts/fuzz.sh                 every target, FUZZ_SECONDS each
#   bash scripts/fuzz.sh ssh_args        one target
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh glob_pattern
#
# To grow a corpus, run a target (optimised, for a long campaign) on its directory itself, then
# commit what is new:
#   cargo +nightly fuzz run --sanitizer none --debug-assertions ssh_args fuzz/corpus/ssh_args
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-5}"
timeout_secs="${FUZZ_TIMEOUT:-20}"
flags=(--dev --sanitizer none --debug-assertions)

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: no nightly Rust toolchain (\`cargo +nightly --version\` fails)." >&2
  echo "fuzz: install one with \`rustup toolchain install nightly\`, then run bash scripts/fuzz.sh." >&2
  exit 2
fi
if ! command -v cargo-fuzz >/dev/null; then
  echo "== installing cargo-fuzz (cargo install --locked cargo-fuzz)"
  cargo install --locked cargo-fuzz
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

start=$(date +%s)
# One build for all targets: they share every dependency.
cargo +nightly fuzz build "${flags[@]}"
echo "fuzz: built ${#targets[@]} targets in $(( $(date +%s) - start )) s"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target" "fuzz/artifacts/$target"
  log="$scratch/$target.log"
  if cargo +nightly fuzz run "${flags[@]}" "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -timeout="$timeout_secs" -max_len=4096 \
      -artifact_prefix="fuzz/artifacts/$target/" >"$log" 2>&1; then
    echo "fuzz: $target: $(grep -E '^Done [0-9]+ runs' "$log" || echo done)"
  else
    # The panic (or libFuzzer's report of a slow unit), and where the input went.
    grep -E -A8 "panicked|ERROR: libFuzzer" "$log" | grep -v -E "^\s+(at |[0-9]+: )" >&2 || tail -n 40 "$log" >&2
    grep -E "Test unit written to" "$log" >&2 || true
    echo "fuzz: $target FAILED; the input is in fuzz/artifacts/$target/" >&2
    failed+=("$target")
  fi
done
echo "fuzz: $(( $(date +%s) - start )) s in all"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failing targets: ${failed[*]} (replay one with cargo +nightly fuzz run ${flags[*]} TARGET fuzz/artifacts/TARGET/crash-…)" >&2
  exit 1
fi
