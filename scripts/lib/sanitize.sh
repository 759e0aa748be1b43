#!/usr/bin/env bash
# scripts/test --sanitize address|thread [--ci] [--filter REGEX]
#
# Builds the package and its tests with AddressSanitizer or ThreadSanitizer into a scratch
# path of its own (.build-asan, .build-tsan: the plain build stays as it is) and runs the
# tests. Integration tests start proxyd and vrrpd from next to the test bundle, so they
# start the sanitized daemons of the same scratch path.
#
# A daemon's sanitizer report could end in a pipe no test reads: every report goes to a
# file in .build-Xsan/reports (the sanitizer's log_path) and the run fails when any is
# there afterwards, whatever the tests said. halt_on_error makes a daemon with a finding
# die at once, which the test that started it sees too.
#
# --ci runs the slice scripts/test runs in CI (see ci_classes below); without it every
# unit and integration test runs but those in `never` and `skips` (each with why;
# PROXYD_SANITIZE_ALL=1 runs `skips` too). --filter narrows further (swift test's regex,
# e.g. ProxydIntegrationTests.TCPModeTests).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/test-summary.sh

usage() { echo "usage: scripts/test --sanitize address|thread [--ci] [--filter REGEX]" >&2; exit 2; }

sanitizer=${1:-}
shift || true
case $sanitizer in
  address) short=asan ;;
  thread) short=tsan ;;
  *) usage ;;
esac
filter="" ci=0
while [ $# -gt 0 ]; do
  case $1 in
    --filter) [ $# -ge 2 ] || usage; filter=$2; shift 2 ;;
    --ci) ci=1; shift ;;
    *) usage ;;
  esac
done

# What cannot run sanitized, and why. Matched as swift test --skip regexes.
# Install or run the release build (scripts/package, scripts/lab), not this one.
never=(
  'ProxydIntegrationTests\.PackageTests'
  'ProxydIntegrationTests\.LabSystemTests'
)
# What one sanitizer makes untrue, and why.
never_thread=(
  # It checks that the VRRP child has one thread (capabilities are per thread) and that a
  # script forked from it runs as nobody: TSan's runtime adds a background thread to every
  # process, and aborts (signal 6) the forked child that changes user before exec.
  'VRRPCoreTests\.ScriptPrivilegeSystemTests/testScriptsAsAnotherUserLeaveVrrpdOnlyNetworkCapabilities'
)
never_address=()
# What runs, but slowly or against limits a sanitized daemon may miss on a busy machine:
# PROXYD_SANITIZE_ALL=1 runs these too.
skips=(
  # VRRP system tests in namespaces: they hold failovers to limits of a few hundred ms,
  # which sanitized daemons (2-10x slower) can miss, and take minutes. They ran here with
  # only those limits failing (docs/DEVELOPMENT.md, "Sanitizers").
  'VRRPCoreTests\.(VrrpdSystemTests|HASystemTests|ProxydTrackerFaultTests|SupervisorSystemTests|KeepalivedInteropTests)'
  # Time bounds on work the sanitizers slow down (2-15x), not on waiting.
  'VRRPCoreTests\.ConfigTests/testAHugeUnknownKeywordIsRefusedQuickly'
  'ProxydIntegrationTests\.CheckModeTests/testAHugeUnknownKeywordIsRefusedQuickly'
  'ProxyCoreTests\.CheckTimersTests/testThousandsOfTimersRunByDueTime'  # 1 ms between two clock reads
  'ProxydIntegrationTests\.HealthCheckCostTests'   # 1,000 checks a second counted
  'ProxydIntegrationTests\.ReloadUnderLoadTests'   # requests and reloads counted in 4 s of wrk
  # Memory bounds: ASan keeps freed memory in quarantine and both add shadow memory, so
  # resident size says nothing about ours.
  'ProxydIntegrationTests\.ResourceTests/testConnectionChurnDoesNotGrowMemory'
  'ProxydIntegrationTests\.IdlePoolTests/testSlowClientsLeaveNoDescriptorsAndGiveMemoryBack'
  'ProxydIntegrationTests\.LargeBodyTests'
  # Thousands of proxyd -c runs side by side with haproxy -c: over 4 minutes under ASan,
  # for parsing that the fuzzers (scripts/fuzz) cover better.
  'ProxydIntegrationTests\.CheckModeTests/testKeywordCasesAgreeWithHAProxy'
)

# CI's slice (scripts/test): the unit tests (minus the skips) and the integration classes
# that drive the code each sanitizer is for, about 2-3 minutes of tests each on a busy
# 2-core machine (docs/DEVELOPMENT.md, "Sanitizers").
# ASan: unsafe-pointer code on the data path (Engine/Reactor, DataPath/NativeConnection,
# the TLS BIOs, HTTP parsing in place), with hostile, slow and failing peers.
ci_classes_address=(HTTPForwardingTests TCPModeTests TLSTerminationTests DataPathFaultTests
                    SmugglingTests SlowClientTests IdlePoolTests)
# TSan: what crosses threads (several reactors sharing balancers and queues, the control
# socket's hub, health checks on NIO's loops).
ci_classes_thread=(SharedBalancingTests HASubscriptionTests HealthCheckIntegrationTests
                   TCPModeTests HTTPForwardingTests)

scratch=$PWD/.build-$short
reports=$scratch/reports
build=(swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch")
started=$(date +%s)
"${build[@]}"
built=$(date +%s)

# The tests find the daemons next to their bundle: make sure those are the sanitized ones.
for daemon in proxyd vrrpd; do
  # (grep reads to the end: with -q, nm would die of SIGPIPE and pipefail say "not built")
  if ! nm "$scratch/debug/$daemon" | grep "__${short}_init" >/dev/null; then
    echo "sanitize: $scratch/debug/$daemon is not built with the $sanitizer sanitizer" >&2
    exit 1
  fi
done

# Old reports would fail this run; the directory is world-writable because some tests run
# the daemon as `nobody`.
rm -rf "$reports"
mkdir -p "$reports"
chmod 1777 "$reports"

# Leak checking is off: the Swift runtime keeps metadata caches and NIO its singletons for
# the life of the process, which LeakSanitizer reports at every exit; ResourceTests count
# the descriptors and memory a connection leaves behind instead.
# TSan's default atexit_sleep_ms=1000 would make every exit a second late, which the
# tests that time a stop would take for a bug.
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=0:halt_on_error=1"
export TSAN_OPTIONS="log_path=$reports/tsan:halt_on_error=1:second_deadlock_stack=1:atexit_sleep_ms=0"

args=(--skip-build --disable-swift-testing --sanitize="$sanitizer" --scratch-path "$scratch")
if [ -n "$filter" ]; then
  args+=(--filter "$filter")
elif [ $ci = 1 ]; then
  declare -n chosen=ci_classes_$sanitizer
  args+=(--filter "^(ProxyCoreTests|VRRPCoreTests)\.|^ProxydIntegrationTests\.($(IFS='|'; echo "${chosen[*]}"))/")
else
  args+=(--filter '^(ProxyCoreTests|VRRPCoreTests|ProxydIntegrationTests)\.')
fi
[ "${PROXYD_SANITIZE_ALL:-0}" = 1 ] && skips=()
declare -n never_here=never_$sanitizer
for s in "${never[@]}" "${never_here[@]}" "${skips[@]}"; do args+=(--skip "$s"); done

log=$scratch/test.log
status=0
swift test "${args[@]}" 2>&1 | tee "$log" || status=$?
finished=$(date +%s)

found=$(find "$reports" -type f | sort)
if [ -n "$found" ]; then
  echo "== $sanitizer sanitizer reports =="
  for f in $found; do
    echo "-- $f"
    cat "$f"
  done
  status=1
fi
count=0
[ -z "$found" ] || count=$(wc -l <<<"$found")
echo "$sanitizer sanitizer: build $((built - started)) s, tests $((finished - built)) s, $count report file(s)"
summarize "$log" || status=1
exit $status
