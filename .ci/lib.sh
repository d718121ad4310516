# shellcheck shell=bash
# Shared helpers for .ci/run and .ci/test. Source it; do not execute it.
#
# Every install function is idempotent and fast when its peer is already
# there, so `bash .ci/test` works on a fresh Debian 12 machine and costs
# nothing on a machine that already ran it.

# Repository root (the folder that holds .ci/).
CI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CI_ROOT

# Python package pinned to the version whose behaviour shared/REAL_PEERS.md
# documents; override with TACHYMETER_PROMETHEUS_CLIENT=prometheus_client.
: "${TACHYMETER_PROMETHEUS_CLIENT:=prometheus_client==0.26.0}"

ci_now() { date +%s; }

# ci_step NAME: print a header and remember when the step started.
# ci_step_end: print how long the step took.
CI_STEP_NAME=""
CI_STEP_START=0
ci_step() {
    CI_STEP_NAME="$1"
    CI_STEP_START="$(ci_now)"
    printf '\n== %s ==\n' "$CI_STEP_NAME"
}
ci_step_end() {
    printf '== %s: done in %ss ==\n' "$CI_STEP_NAME" "$(( $(ci_now) - CI_STEP_START ))"
}
ci_skip() {
    printf '== %s: SKIPPED (%s) ==\n' "$CI_STEP_NAME" "$1"
}

ci_have() { command -v "$1" >/dev/null 2>&1; }

# Runs a command as root: directly when we are root (CI), via sudo otherwise.
ci_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif ci_have sudo; then
        sudo "$@"
    else
        echo "error: need root (or sudo) to run: $*" >&2
        return 1
    fi
}

# Debian packages: promtool + prometheus, pushgateway, victoria-metrics
# (victoria-metrics + vmagent, for the remote-write tests), curl.
# Debian's maintainer scripts would start both servers as system services
# listening on 0.0.0.0 with on-disk state; a temporary policy-rc.d forbids
# that (deb-systemd-invoke and invoke-rc.d both honour it). Tests start their
# own instances on loopback.
ci_install_system_peers() {
    if ci_have promtool && ci_have prometheus && ci_have prometheus-pushgateway \
        && ci_have victoria-metrics && ci_have vmagent && ci_have curl; then
        echo "system peers already installed: $(command -v promtool prometheus prometheus-pushgateway victoria-metrics vmagent curl | tr '\n' ' ')"
        return 0
    fi
    if ! ci_have apt-get; then
        echo "error: promtool/prometheus/prometheus-pushgateway/victoria-metrics missing and no apt-get; install them by hand" >&2
        return 1
    fi
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [ ! -e "$policy" ]; then
        ci_as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        added_policy=1
    fi
    local rc=0
    {
        ci_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
        ci_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            prometheus prometheus-pushgateway victoria-metrics curl
    } || rc=$?
    if [ "$added_policy" -eq 1 ]; then
        ci_as_root rm -f "$policy"
    fi
    return "$rc"
}

# Python venv at $CI_ROOT/.venv with prometheus_client.
ci_install_python() {
    local venv="$CI_ROOT/.venv"
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import prometheus_client' 2>/dev/null; then
        echo "python venv ready: $("$venv/bin/python" -c 'import sys, importlib.metadata as m; print(sys.executable, "prometheus_client", m.version("prometheus_client"))')"
        return 0
    fi
    local py
    py="$(command -v python3 || true)"
    if [ -z "$py" ]; then
        echo "error: python3 not found" >&2
        return 1
    fi
    rm -rf "$venv"
    if ! "$py" -m venv "$venv"; then
        # Debian's own python3 ships venv/ensurepip separately.
        echo "python3 -m venv failed; installing python3-venv" >&2
        rm -rf "$venv"
        ci_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        ci_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv
        "$py" -m venv "$venv"
    fi
    "$venv/bin/pip" install -q --disable-pip-version-check "$TACHYMETER_PROMETHEUS_CLIENT"
    "$venv/bin/python" -c 'import prometheus_client.parser, prometheus_client.openmetrics.parser'
}

# All peers the tests need.
ci_install_peers() {
    ci_install_system_peers
    ci_install_python
}

# Exports the absolute paths the Rust test-support module reads
# (tests/support/mod.rs). Fails if a peer is missing.
ci_export_peers() {
    local missing=0 p
    TACHYMETER_PYTHON="$CI_ROOT/.venv/bin/python"
    TACHYMETER_PROMTOOL="$(command -v promtool || true)"
    TACHYMETER_PROMETHEUS="$(command -v prometheus || true)"
    TACHYMETER_PUSHGATEWAY="$(command -v prometheus-pushgateway || true)"
    TACHYMETER_VICTORIA_METRICS="$(command -v victoria-metrics || true)"
    TACHYMETER_VMAGENT="$(command -v vmagent || true)"
    export TACHYMETER_PYTHON TACHYMETER_PROMTOOL TACHYMETER_PROMETHEUS TACHYMETER_PUSHGATEWAY \
        TACHYMETER_VICTORIA_METRICS TACHYMETER_VMAGENT
    for p in TACHYMETER_PYTHON TACHYMETER_PROMTOOL TACHYMETER_PROMETHEUS TACHYMETER_PUSHGATEWAY \
        TACHYMETER_VICTORIA_METRICS TACHYMETER_VMAGENT; do
        if [ -z "${!p}" ] || [ ! -x "${!p}" ]; then
            echo "error: $p: peer not found (${!p:-unset})" >&2
            missing=1
        else
            echo "$p=${!p}"
        fi
    done
    return "$missing"
}

# cargo-fuzz, only when absent (takes ~25 s to build).
ci_install_cargo_fuzz() {
    if cargo fuzz --version >/dev/null 2>&1; then
        echo "cargo-fuzz already installed: $(cargo fuzz --version)"
        return 0
    fi
    cargo install cargo-fuzz --locked
}
