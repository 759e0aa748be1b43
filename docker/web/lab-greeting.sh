#!/bin/sh
# Run by nginx's entrypoint before nginx starts: the greeting /healthz serves, and the
# certificate for 443 if the container has none yet (one per container, self-signed).
set -e
echo "<h1>Greeting from $(hostname)</h1>" > /usr/share/nginx/html/healthz.html
if [ ! -f /etc/ssl/private/my.key ]; then
  mkdir -p /etc/ssl/private /etc/ssl/certs
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=$(hostname)" \
    -keyout /etc/ssl/private/my.key -out /etc/ssl/certs/my.crt 2>/dev/null
fi
