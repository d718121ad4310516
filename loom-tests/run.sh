#!/usr/bin/env bash
# Runs the loom models in release mode with a bounded preemption count.
# A separate target dir keeps the --cfg change from rebuilding the main one.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTFLAGS="--cfg tachymeter_loom ${RUSTFLAGS:-}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-$PWD/target}"
exec cargo test --release "$@"
