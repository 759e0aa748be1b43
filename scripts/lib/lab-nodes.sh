# The lab's nodes and what every `scripts/lab` subcommand needs to find, enter, inspect,
# reconfigure and remove them. Sourced by scripts/lab; not a command of its own.
#
# A lab is: namespaces lab-{myweb1,myweb2,mylb1,mylb2,client} on a bridge in lab-sw, each
# node with its own hostname (a UTS namespace kept in $state/uts/NODE, as a Docker
# container gets `--hostname`), per-node /etc overlays in /etc/netns/lab-NODE, socat
# forwarders publishing the tutorial's ports on 127.0.0.1, and the state directory
# $state. Nothing else on the machine is changed by it, and `lab_down` removes all of it,
# also when the scripts/lab that made it was killed.

net=10.77.0
vip=$net.6
declare -A addr=([myweb1]=$net.2 [myweb2]=$net.3 [mylb1]=$net.4 [mylb2]=$net.5 [client]=$net.10)
hosts=(myweb1 myweb2 mylb1 mylb2 client)
lbs=(mylb1 mylb2)
webs=(myweb1 myweb2)
setups=(normal ssl-termination ssl-passthrough)
state=/run/proxyd-lab

# The tutorial's stats page and credentials (its haproxy-*.conf), put into each load
# balancer's copy of the samples: the samples themselves keep the product's own.
stats_uri=/haproxy/stats
stats_auth=haproxy:passw0rd

# The tutorial's `docker run -p`: HOSTPORT NODE PORT, on 127.0.0.1 only.
published=(
  "18080 myweb1 80" "18443 myweb1 443"
  "19080 myweb2 80" "19443 myweb2 443"
  "28080 mylb1 8080" "28443 mylb1 8443" "28090 mylb1 8090"
  "29080 mylb2 8080" "29443 mylb2 8443" "29090 mylb2 8090"
)

# in_ns NODE CMD…: runs CMD on NODE as `docker exec` would: its network, its /etc
# overlays (ip netns exec) and its hostname.
in_ns() {
  local host=$1; shift
  nsenter --uts="$state/uts/$host" ip netns exec "lab-$host" "$@"
}

is_node() { local h; for h in "${hosts[@]}"; do [ "$h" = "$1" ] && return 0; done; return 1; }
is_setup() { local s; for s in "${setups[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

# Something of a lab exists (complete or left behind by a crash).
lab_exists() {
  [ -d "$state" ] && return 0
  ip netns list 2>/dev/null | grep -q '^lab-' && return 0
  return 1
}

# A complete lab: every node's namespace and hostname.
lab_is_up() {
  local h
  for h in "${hosts[@]}" sw; do [ -e "/run/netns/lab-$h" ] || return 1; done
  for h in "${hosts[@]}"; do [ -e "$state/uts/$h" ] || return 1; done
}

# The pid of the scripts/lab run that owns the lab, if it still runs.
lab_owner() {
  local pid
  pid=$(cat "$state/owner.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q 'scripts/lab' "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

require_lab() {
  lab_is_up && return 0
  if lab_exists; then
    echo "scripts/lab: the lab is only partly there (a run was interrupted?); 'scripts/lab down' removes it" >&2
  else
    echo "scripts/lab: no lab is up; start one with 'scripts/lab' (it stays up until Ctrl-C)" >&2
  fi
  exit 1
}

# ---------------------------------------------------------------- timers from the configs
# The waits are bounded by the configs' own timers, read from mylb1's copies.

# ms DURATION: HAProxy's time units (a bare number is milliseconds).
ms() {
  case $1 in
    *us) echo 0 ;;
    *ms) echo "${1%ms}" ;;
    *s) echo $(( ${1%s} * 1000 )) ;;
    *m) echo $(( ${1%m} * 60000 )) ;;
    *h) echo $(( ${1%h} * 3600000 )) ;;
    *) echo "$1" ;;
  esac
}

# server_param KEYWORD DEFAULT: KEYWORD's value on myweb1's server line of mylb1's proxyd.cfg.
server_param() {
  local v
  v=$(awk -v k="$1" '$1 == "server" && $2 == "myweb1" { for (i = 3; i < NF; i++) if ($i == k) print $(i + 1) }' \
    /etc/netns/lab-mylb1/proxyd/proxyd.cfg | head -1)
  echo "${v:-$2}"
}

# Seconds (rounded up) after which a stopped server must show DOWN: `fall` failed checks
# `inter` apart, one more `inter` for where in its interval the server stopped, and 2 s
# for a loaded machine. Likewise for UP with `rise`.
health_bound() {  # health_bound fall|rise
  local inter count
  inter=$(ms "$(server_param inter 2000)")
  if [ "$1" = fall ]; then count=$(server_param fall 3); else count=$(server_param rise 2); fi
  echo $(( (inter * (count + 1) + 2000 + 999) / 1000 ))
}

# Seconds (rounded up) within which the VIP must have its holder: a backup's Master_Down
# interval (3 × advert_int + skew, RFC 3768) from its priority and advert_int, one more
# advert_int for the advert that starts it, and 2 s for a loaded machine.
vrrp_bound() {
  awk '$1 == "advert_int" { a = $2 } $1 == "priority" { p = $2 }
       END { if (a == "") a = 1; if (p == "") p = 100; d = 4 * a + (256 - p) / 256 * a + 2; printf "%d\n", d + 0.999 }' \
    /etc/netns/lab-mylb2/vrrpd/keepalived-backup.conf
}

# wait_until SECONDS CMD…: polls CMD every 0.2 s until it succeeds; fails after SECONDS.
# Sets `waited` to the seconds it took.
wait_until() {
  local start=$SECONDS deadline=$((SECONDS + $1)); shift
  until "$@"; do
    waited=$((SECONDS - start))
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.2
  done
  waited=$((SECONDS - start))
}

# ---------------------------------------------------------------- what the nodes do
vip_holder() {
  local lb
  for lb in "${lbs[@]}"; do
    ip -n "lab-$lb" -4 addr show dev eth0 2>/dev/null | grep -q "inet $vip/" && echo "$lb"
  done
  return 0
}

# The setup (normal, ssl-…) LB's proxyd.cfg is a copy of, or "custom".
current_setup() {
  local dir=/etc/netns/lab-$1/proxyd s
  for s in "${setups[@]}"; do
    cmp -s "$dir/proxyd.cfg" "$dir/proxyd-$s.cfg" && { echo "$s"; return; }
  done
  echo custom
}

# Each server's status as LB's proxyd reports it on its control socket: "NAME STATUS …".
server_statuses() {
  in_ns "$1" sh -c 'echo "show stat" | socat -t 2 stdio UNIX-CONNECT:/run/proxyd/admin.sock' 2>/dev/null \
    | awk -F, '$1 == "app" && $2 != "BACKEND" && $2 != "FRONTEND" { printf "%s %s  ", $2, $18 }'
}

# vrrpd's state on LB from its query socket: "MASTER (priority 101)".
vrrpd_state() {
  local sock=/run/vrrpd-$1.sock
  [ -S "$sock" ] || { echo "not running (no $sock)"; return; }
  local s
  s=$(in_ns "$1" sh -c "echo show | socat -t 2 stdio UNIX-CONNECT:$sock" 2>/dev/null \
    | sed -n 's/.*: state \([A-Z]*\), priority \([0-9]*\).*/\1 (priority \2)/p' | head -1)
  echo "${s:-not answering on $sock}"
}

lab_status() {
  require_lab
  local owner lb web
  if owner=$(lab_owner); then
    echo "lab: up (scripts/lab pid $owner, $(cat "$state/mode" 2>/dev/null || echo '?') mode)"
  else
    echo "lab: up, but the scripts/lab that made it is gone ('scripts/lab down' removes it)"
  fi
  echo "virtual IP $vip: $(vip_holder | tr '\n' ' ' | sed 's/ $//;s/^$/on no node/')"
  for lb in "${lbs[@]}"; do
    printf '%-7s hostname %s; proxyd: %s; setup %s; vrrpd: %s\n' "$lb" "$(in_ns "$lb" hostname)" \
      "$(in_ns "$lb" service proxyd status 2>&1 | head -1 | sed 's/\.$//')" "$(current_setup "$lb")" "$(vrrpd_state "$lb")"
    local servers; servers=$(server_statuses "$lb")
    printf '        servers: %s\n' "${servers:-(proxyd does not answer on /run/proxyd/admin.sock)}"
  done
  for web in "${webs[@]}"; do
    printf '%-7s hostname %s; nginx: %s\n' "$web" "$(in_ns "$web" hostname)" \
      "$(in_ns "$web" service nginx status >/dev/null 2>&1 && echo running || echo stopped)"
  done
  printf '%-7s hostname %s\n' client "$(in_ns client hostname)"
  echo "published on 127.0.0.1: $(for p in "${published[@]}"; do set -- $p; printf '%s→%s:%s ' "$1" "$2" "$3"; done)"
}

# lab_use SETUP: the tutorial's `cp haproxy-SETUP.conf haproxy.cfg` and `service haproxy
# reload`, on both load balancers.
lab_use() {
  local setup=$1 lb rc=0
  for lb in "${lbs[@]}"; do
    in_ns "$lb" sh -c "cp /etc/proxyd/proxyd-$setup.cfg /etc/proxyd/proxyd.cfg && service proxyd reload" \
      | sed "s/^/   $lb: /"
    [ "${PIPESTATUS[0]}" = 0 ] || rc=1
  done
  return $rc
}

# ---------------------------------------------------------------- publishing ports
# A socat per port on 127.0.0.1 of this machine; each connection is carried into the
# node's namespace by a socat run there, to the node's own address as Docker's -p does.
publish_ports() {
  local p hport node port
  for p in "${published[@]}"; do
    set -- $p; hport=$1 node=$2 port=$3
    socat "TCP-LISTEN:$hport,bind=127.0.0.1,fork,reuseaddr" \
      "EXEC:nsenter --net=/run/netns/lab-$node socat STDIO TCP\\:${addr[$node]}\\:$port" \
      </dev/null >/dev/null 2>"$state/logs/publish-$hport.log" &
    echo $! >> "$state/forwarders.pid"
  done
}

# The published ports already taken on this machine (by anything), one per line.
ports_in_use() {
  local p
  for p in "${published[@]}"; do
    set -- $p
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q . && echo "$1"
  done
  return 0
}

# ---------------------------------------------------------------- removing it all
# Idempotent; works on a complete lab, a half-made one, or what a killed run left.
lab_down() {
  set +e
  local h pid pids i
  # The daemons first, as an operator stops them: vrrpd, then proxyd.
  for h in "${lbs[@]}"; do
    [ -e "/run/netns/lab-$h" ] && [ -e "$state/uts/$h" ] || continue
    for pid in $(cat "/run/vrrpd-$h.pid" 2>/dev/null); do kill "$pid" 2>/dev/null; done
    in_ns "$h" service proxyd stop >/dev/null 2>&1
  done
  # The forwarders, and the sleep an interactive run waits on (checked by name: a pid
  # file may outlive its process).
  for pid in $(cat "$state/forwarders.pid" 2>/dev/null); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = socat ] && kill "$pid" 2>/dev/null
  done
  for pid in $(cat "$state/sleeper.pid" 2>/dev/null); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sleep ] && kill "$pid" 2>/dev/null
  done
  # Whatever still runs in a lab namespace (nginx, a shell left open): TERM, then KILL.
  for i in 1 2 3 4 5 6 7 8 9 10 11; do
    pids=$(for h in "${hosts[@]}" sw; do ip netns pids "lab-$h" 2>/dev/null; done)
    [ -z "$pids" ] && break
    if [ $i -lt 11 ]; then kill $pids 2>/dev/null; sleep 0.2; else kill -KILL $pids 2>/dev/null; fi
  done
  for h in "${hosts[@]}" sw; do
    ip netns del "lab-$h" 2>/dev/null
    rm -rf "/etc/netns/lab-$h"
    rm -rf "/run/proxyd.d/lab-$h" "/run/proxyd-lab-$h.pid"
  done
  for h in "${lbs[@]}"; do rm -f "/run/vrrpd-$h.pid" "/run/vrrpd-vrrp-$h.pid" "/run/vrrpd-$h.sock"; done
  for h in "$state"/uts/*; do [ -e "$h" ] && umount "$h" 2>/dev/null; done
  [ -d "$state/log" ] && "$(dirname "${BASH_SOURCE[0]}")/../lab-syslog" stop "$state" >/dev/null 2>&1
  rm -rf "$state"
  set -e
  return 0
}
