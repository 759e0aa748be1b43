#!/bin/sh
# Track script for vrrpd (and keepalived): healthy when proxyd answers "show info" on its
# control socket, so two proxies on one host (or in two namespaces) are told apart, which
# `pgrep haproxy` cannot do. The socket path is the first argument.
#   chk_proxyd.sh [/run/proxyd/admin.sock]
sock=${1:-/run/proxyd/admin.sock}
[ -S "$sock" ] || exit 2
echo "show info" | socat -t 1 stdio "UNIX-CONNECT:$sock" 2>/dev/null | grep -q '^Pid:'
