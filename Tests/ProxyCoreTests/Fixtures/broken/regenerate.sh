#!/bin/bash
# Regenerates the golden *.expected files from proxyd's own output (run after `swift build`).
# Review every change with `git diff`: a golden file states what proxyd must print.
# Cases listed in DIVERGENT differ from `haproxy -c` on purpose; all others must match it
# (CheckModeTests compares them with haproxy when it is installed).
# Format: "exit: N", then "stderr:" and the lines on stderr without the [NOTICE] lines and
# with the PID replaced by "PID", then "stdout:" and the lines on stdout.
set -e
cd "$(dirname "$0")"
PROXYD=${PROXYD:-../../../../.build/debug/proxyd}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for cfg in *.cfg; do
    name=${cfg%.cfg}
    set +e
    "$PROXYD" -c -f "$cfg" 2>"$tmp/err" >"$tmp/out"
    code=$?
    set -e
    {
        echo "exit: $code"
        echo "stderr:"
        sed -E 's/^(\[[A-Z]+\] +)\([0-9]+\)/\1(PID)/' "$tmp/err" | grep -v '^\[NOTICE\]' || true
        echo "stdout:"
        cat "$tmp/out"
    } > "$name.expected"
done
