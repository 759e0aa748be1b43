#!/bin/sh
# Track script for keepalived (and vrrpd the keepalived way): healthy when proxyd answers
# "show info" on its control socket and runs in this script's network namespace, so two
# proxies on one host (or in two namespaces) are told apart, which `pgrep haproxy` cannot
# do. vrrpd's own `vrrp_track_proxyd` does this without a process per probe, and at once.
# The socket path is the first argument.
#   chk_proxyd.sh [/run/proxyd/admin.sock]
sock=${1:-/run/proxyd/admin.sock}
[ -S "$sock" ] || exit 2
pid=$(echo "show info" | socat -t 1 stdio "UNIX-CONNECT:$sock" 2>/dev/null | sed -n 's/^Pid: *//p')
[ -n "$pid" ] || exit 1
# Another node's proxyd answering on a shared path cannot serve this node's addresses.
if [ -e "/proc/$pid/ns/net" ] && [ "$(readlink "/proc/$pid/ns/net")" != "$(readlink /proc/self/ns/net)" ]; then
  exit 3
fi
exit 0
