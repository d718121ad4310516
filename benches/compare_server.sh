#!/usr/bin/env bash
# Compares the scrape server of two revisions with benches/scrape_load.rs, in one run.
#
#   benches/compare_server.sh [OLD_REV [NEW_REV]] [-- BENCH_ARGS...]
#   SCRAPE_LOAD_SECS=2 ROUNDS=2 benches/compare_server.sh 90c804f~1 HEAD -- --clients 1,64
#
# Defaults: OLD_REV is the parent of the first commit on NEW_REV's history whose Cargo.toml
# added a `hyper = ...` dependency (the switch away from tiny_http); NEW_REV is HEAD.
#
# Each revision is checked out in a temporary `git worktree` (removed on exit, whatever
# happens). The *current* benches/scrape_load.rs of this checkout is copied into both trees,
# and its `[[bench]]` entry added to Cargo.toml where missing, so both servers are measured
# by the same tool. Both are built first, then run back to back (ROUNDS times, alternating),
# and the tables are printed, followed by new/old ratios per phase. Numbers from different
# runs on a shared machine do not compare; ratios from one run do.
#
# Environment: ROUNDS (default 1), SCRAPE_LOAD_SECS and the other SCRAPE_LOAD_* settings
# (passed through to the bench), CARGO_TARGET_DIR (default: target/compare_server in this
# checkout, shared by both trees so dependencies build once), OUT_DIR (keep the tables there).
set -euo pipefail

repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
bench_src="$repo/benches/scrape_load.rs"
[[ -f $bench_src ]] || { echo "compare_server: $bench_src not found" >&2; exit 2; }

revs=()
bench_args=()
while (($#)); do
    case $1 in
        --) shift; bench_args=("$@"); break ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) revs+=("$1"); shift ;;
    esac
done
((${#revs[@]} <= 2)) || { echo "compare_server: at most two revisions" >&2; exit 2; }

new_rev=${revs[1]:-HEAD}
if ((${#revs[@]} >= 1)); then
    old_rev=${revs[0]}
else
    switch=$(git -C "$repo" log --reverse --format=%H -G '^hyper *=' "$new_rev" -- Cargo.toml | head -n 1)
    if [[ -z $switch ]]; then
        echo "compare_server: no commit adding hyper to Cargo.toml in $new_rev's history;" \
             "name both revisions" >&2
        exit 2
    fi
    old_rev="$switch~1"
fi
old_sha=$(git -C "$repo" rev-parse --verify "$old_rev^{commit}")
new_sha=$(git -C "$repo" rev-parse --verify "$new_rev^{commit}")
rounds=${ROUNDS:-1}
[[ $rounds =~ ^[1-9][0-9]?$ ]] || { echo "compare_server: ROUNDS must be 1..99" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/compare_server.XXXXXX")
trees=()
cleanup() {
    local t
    for t in ${trees[@]+"${trees[@]}"}; do
        # Only when removing fails, prune (it drops the entries of deleted trees).
        git -C "$repo" worktree remove --force "$t" >/dev/null 2>&1 || stale=1
    done
    rm -rf "$tmp"
    if [[ ${stale:-} ]]; then git -C "$repo" worktree prune >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target/compare_server}
out_dir=${OUT_DIR:-$tmp/out}
mkdir -p "$out_dir"

# Adds benches/scrape_load.rs and its [[bench]] entry to the tree in $1.
prepare() {
    local tree=$1
    cp "$bench_src" "$tree/benches/scrape_load.rs"
    if ! grep -q '^name = "scrape_load"' "$tree/Cargo.toml"; then
        printf '\n[[bench]]\nname = "scrape_load"\nharness = false\nrequired-features = ["http-server"]\n' \
            >>"$tree/Cargo.toml"
    fi
}

# Builds the bench in the tree in $1 and prints the path of its executable.
build() {
    local tree=$1 exe
    exe=$(cd "$tree" && cargo bench --bench scrape_load --features http-server --no-run \
              --message-format=json-render-diagnostics |
          jq -r 'select(.reason == "compiler-artifact" and .target.name == "scrape_load")
                 | .executable // empty' | tail -n 1)
    [[ -n $exe && -x $exe ]] || { echo "compare_server: no scrape_load executable in $tree" >&2; return 1; }
    # The shared target dir is rebuilt for the other tree; keep this binary apart.
    cp "$exe" "$tmp/scrape_load-$(basename "$tree")"
    echo "$tmp/scrape_load-$(basename "$tree")"
}

declare -A exe label
for side in old new; do
    sha_var=${side}_sha
    sha=${!sha_var}
    tree="$tmp/$side"
    git -C "$repo" worktree add --detach --quiet "$tree" "$sha"
    trees+=("$tree")
    prepare "$tree"
    label[$side]="$side $(git -C "$repo" log -1 --format='%h %s' "$sha" | cut -c1-70)"
    echo "== building $side: ${label[$side]}" >&2
    exe[$side]=$(build "$tree")
done

echo "== running on $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ), $rounds round(s)" >&2
for ((r = 1; r <= rounds; r++)); do
    order=(old new)
    ((r % 2 == 0)) && order=(new old)
    for side in "${order[@]}"; do
        echo "== round $r: ${label[$side]}" >&2
        "${exe[$side]}" --bench --label "${label[$side]} (round $r)" \
            --out "$out_dir/$side-$r.md" ${bench_args[@]+"${bench_args[@]}"} >/dev/null
    done
done

for ((r = 1; r <= rounds; r++)); do
    for side in old new; do
        echo
        cat "$out_dir/$side-$r.md"
    done
    echo
    echo "### new / old, round $r (req/s: above 1 is better; latency and all-answered: below 1 is better)"
    echo
    echo "| mode | clients | req/s | mean | p99 | all answered by |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    # Table columns: | mode | clients | req/s | mean | p50 | p99 | max | first p50 | all by | ...
    awk -F'|' '
        function trim(s) { gsub(/^ +| +$/, "", s); return s }
        function ratio(n, o) { return (n ~ /^[0-9.]+$/ && o ~ /^[0-9.]+$/ && o + 0 > 0) ? sprintf("%.3g", n / o) : "-" }
        FNR == 1 { file++ }
        /^\| (close|keep-alive) \|/ {
            key = trim($2) "|" trim($3)
            if (file == 1) { rps[key] = trim($4); mean[key] = trim($5); p99[key] = trim($7); all[key] = trim($10); order[++n] = key }
            else { nrps[key] = trim($4); nmean[key] = trim($5); np99[key] = trim($7); nall[key] = trim($10) }
        }
        END {
            for (i = 1; i <= n; i++) {
                k = order[i]; split(k, mc, "|")
                printf "| %s | %s | %s | %s | %s | %s |\n", mc[1], mc[2],
                    ratio(nrps[k], rps[k]), ratio(nmean[k], mean[k]), ratio(np99[k], p99[k]), ratio(nall[k], all[k])
            }
        }' "$out_dir/old-$r.md" "$out_dir/new-$r.md"
done
