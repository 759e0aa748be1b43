# Sourced by scripts/test and scripts/lib/sanitize.sh: the closing "N passed, N failed".

# count_results LOG: sets passed, failed and skipped from XCTest's last "Executed N tests,
# with [N tests skipped and] N failures" line; returns 1 when there is none (a crash).
# XCTest's N failures counts failed assertions: failed counts the tests that failed.
count_results() {
  local pattern='Executed ([0-9]+) tests?, with (([0-9]+) tests? skipped and )?([0-9]+) failures?'
  local summary total
  summary=$(grep -E "$pattern" "$1" | tail -1 || true)
  passed=0 failed=1 skipped=0
  [ -n "$summary" ] || return 1
  total=$(sed -E "s/.*$pattern.*/\1/" <<<"$summary")
  skipped=$(sed -E "s/.*$pattern.*/\3/" <<<"$summary")
  skipped=${skipped:-0}
  failed=$(sed -E "s/.*$pattern.*/\4/" <<<"$summary")
  if [ "$failed" != 0 ]; then
    failed=$({ grep -E "^Test Case '[^']+' failed \(" "$1" || true; } | sort -u | wc -l)
    [ "$failed" != 0 ] || failed=1
  fi
  passed=$((total - skipped - failed))
}

# summarize LOG: prints "N passed, N failed" (skipped tests on a line before it).
summarize() {
  local status=0
  count_results "$1" || status=1
  [ "$skipped" = 0 ] || echo "$skipped skipped"
  echo "$passed passed, $failed failed"
  return $status
}

# report_failures LOG...: one "failed: Suite.test" line per failed test in the logs that
# exist, each followed by its first three assertion messages (XCTest's "error:" lines).
report_failures() {
  local log name
  for log in "$@"; do
    [ -f "$log" ] || continue
    if ! grep -qE 'Executed [0-9]+ tests?, with' "$log"; then
      name=$({ grep -E "^Test Case '[^']+' started" "$log" || true; } | tail -1 | sed -E "s/^Test Case '([^']+)'.*/\1/")
      echo "failed: $log ends without XCTest's summary (a crash?); the last test started: ${name:-none}"
      continue
    fi
    # Callers run under `set -e -o pipefail`: a log without a failure (grep finding
    # nothing) must not end them.
    { grep -E "^Test Case '[^']+' failed \(" "$log" || true; } | sed -E "s/^Test Case '([^']+)'.*/\1/" | sort -u |
      while read -r name; do
        echo "failed: $name (in $log)"
        { grep -F "error: $name : " "$log" || true; } | head -3 | sed -E 's/^/  /' | cut -c1-400
      done
  done
}
