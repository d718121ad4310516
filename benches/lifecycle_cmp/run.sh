#!/usr/bin/env bash
# Issue 10 figures of BENCHMARKS.md: this tree vs bd750b4 (the commit before the child life
# cycle work; OLD_REV=<commit> picks another), both linked into one binary and measured interleaved in one process:
#   inc    - counter inc on a kept handle at 1 and 2 threads, histogram observe (15 rounds)
#   wlv-new, wlv-old, with-new, with-old - one side's with_label_values (or with) loop
#            alone (10^8 lookups), for a profiler
#   hit2   - this tree only: with_label_values / with over 100 children from 1 and 2 threads
#   hit    - Family::with / with_label_values on 100 children (41 rounds of 1M lookups, median)
#   enc    - text encode of a 1M-child counter family (15 rounds, median; enc2: built in the
#            other order)
#   enc1050 - text encode of the 1,050-series workload of benches/common/workload.rs
#   mem    - heap bytes per child (glibc mallinfo2) of a counter family of N children
#   big    - at 1M children: remove (each removed child re-created, untimed); creating
#            children idle, while another family is encoded, and while their own family is
#            encoded (20,000 creations each; median, mean, worst)
# Usage: [OLD_REV=rev] bash benches/lifecycle_cmp/run.sh [inc|hit|hit2|wlv-new|wlv-old|with-new|with-old|enc|enc2|enc1050|big|mem|all] [children] [rounds]
set -euo pipefail
cd "$(dirname "$0")"
rev="${OLD_REV:-bd750b4}"
if [ -e old/Cargo.toml ] && [ "$(git -C old rev-parse HEAD)" != "$(git rev-parse "$rev")" ]; then
    git worktree remove --force old
fi
if [ ! -e old/Cargo.toml ]; then
    git worktree add --detach old "$rev" >/dev/null
    # Two packages cannot share a name in one build: rename the old one.
    sed -i '0,/^name = "tachymeter"/s//name = "tachymeter-old"/' old/Cargo.toml
fi
cargo build --release -q
bin="${CARGO_TARGET_DIR:-target}/release/lifecycle-cmp"
"$bin" "${1:-all}" "${2:-1000000}" "${3:-3}"
