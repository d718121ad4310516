#!/usr/bin/env bash
# Fuzz smoke run: builds every target and runs each for a short bounded time.
# Usage: fuzz/run.sh [seconds-per-target]   (default 20)
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-${FUZZ_SECONDS:-20}}"
export RUSTC_BOOTSTRAP=1   # cargo-fuzz's ASan flags need -Z on this stable toolchain
cargo fuzz build
for t in $(cargo fuzz list); do
  echo "== fuzz $t (${secs}s) =="
  mkdir -p "corpus/$t"
  cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048
done
