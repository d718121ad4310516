#!/usr/bin/env bash
# Native histogram observe figures of BENCHMARKS.md ("Native observe fast path"): this tree
# (`new`) vs 0a5d179 (`old`, the commit before the fast key), both linked into one binary with
# tachymeter's classic 11-bucket histogram and prometheus-client's native histogram, measured
# interleaved round by round in one process (1 and 2 threads on one histogram).
# Usage: bash benches/native_cmp/run.sh [rounds] [ops per round]
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -e old/Cargo.toml ]; then
    git worktree add --detach old 0a5d179 >/dev/null
    # Two packages cannot share a name in one build: rename the old one.
    sed -i '0,/^name = "tachymeter"/s//name = "tachymeter-old"/' old/Cargo.toml
fi
[ -e Cargo.lock ] || cp ../compare/Cargo.lock Cargo.lock
cargo build --release -q
bin="${CARGO_TARGET_DIR:-target}/release/native-cmp"
"$bin" "${1:-21}" "${2:-4000000}"
