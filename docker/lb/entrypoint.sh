#!/bin/sh
# The load balancer container's start. As the tutorial's image: rsyslog (so that `tail -f
# /var/log/syslog` shows vrrpd), a welcome, then the command (a shell). Before that:
#   - the certificate the tutorial's `curl --cert` uses, made once per container:
#     /etc/ssl/certs/my.crt + /etc/ssl/private/my.key (proxyd's own for the
#     ssl-termination setup, /etc/proxyd/ssl/proxyd.pem, is made by `service proxyd start`);
#   - with LB_ROLE=master|backup and VIP=ADDRESS (docker/compose.yaml sets them), what
#     scripts/lab does on each load balancer: the PROXYD_SETUP sample (normal,
#     ssl-termination, ssl-passthrough; default normal) as /etc/proxyd/proxyd.cfg,
#     `service proxyd start`, the keepalived-ROLE.conf sample with the VIP filled in as
#     /etc/vrrpd/keepalived.conf, `service vrrpd start`. Without them, nothing starts:
#     follow the tutorial by hand.
set -e

if [ ! -f /etc/ssl/private/my.key ]; then
  mkdir -p /etc/ssl/private /etc/ssl/certs
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=$(hostname)" \
    -keyout /etc/ssl/private/my.key -out /etc/ssl/certs/my.crt 2>/dev/null
fi

# Debian 12's rsyslog has a systemd unit and no init script: the daemon itself.
rsyslogd >/dev/null 2>&1 || echo "rsyslog did not start: no /var/log/syslog" >&2

if [ -n "${LB_ROLE:-}" ]; then
  case "$LB_ROLE" in
    master|backup) ;;
    *) echo "LB_ROLE must be master or backup (was '$LB_ROLE')" >&2; exit 2 ;;
  esac
  if [ -z "${VIP:-}" ]; then echo "LB_ROLE=$LB_ROLE needs VIP=ADDRESS too" >&2; exit 2; fi
  setup=${PROXYD_SETUP:-normal}
  if [ ! -f "/etc/proxyd/proxyd-$setup.cfg" ]; then
    echo "PROXYD_SETUP must be normal, ssl-termination or ssl-passthrough (was '$setup')" >&2
    exit 2
  fi
  cp "/etc/proxyd/proxyd-$setup.cfg" /etc/proxyd/proxyd.cfg
  # The tutorial's one edit: the virtual IP.
  sed -e "s|<your_virtual_ip>|$VIP|g" -e "s|172\.18\.0\.6|$VIP|g" \
    "/etc/vrrpd/keepalived-$LB_ROLE.conf" > /etc/vrrpd/keepalived.conf
  service proxyd start
  service vrrpd start
fi

[ -f /WELCOME ] && cat /WELCOME
exec "$@"
