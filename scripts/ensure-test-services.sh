#!/usr/bin/env bash
# Makes sure what the test suite talks to is there: PostgreSQL and Redis running, and
# the Debian packages for Dovecot (IMAP tests), Chromium (browser tests) and Node.js with
# npm (tests/api/test_pipedrive_node_client.py runs Pipedrive's official Node client; the
# test installs the pinned client itself with `npm ci`) installed.
# The suite starts its own Dovecot instances; this only installs the binaries.
set -euo pipefail

need_apt=()
command -v dovecot >/dev/null 2>&1 || need_apt+=(dovecot-imapd)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v pg_isready >/dev/null 2>&1 || need_apt+=(postgresql-client)
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
# tests/chaos starts redis-servers of its own (append-only, noeviction) to restart and kill.
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
# tests/production: Caddy in front of gunicorn (tls internal), and certutil to make the
# smoke test's Chromium trust Caddy's internal CA.
command -v caddy >/dev/null 2>&1 || need_apt+=(caddy)
command -v certutil >/dev/null 2>&1 || need_apt+=(libnss3-tools)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "Installing ${need_apt[*]} from Debian packages…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# Debian starts a system-wide Dovecot on install; the tests run their own on other ports.
# Debian's caddy package may start a system Caddy on port 80; the smoke test runs its own
# on free high ports with its own data directory.

# Cyrus IMAP, the matrix's second server (tests/imap/servers/cyrus.py). Debian's cyrus-imapd
# and dovecot-imapd conflict (both provide imap-server): installing it would remove Dovecot.
# So only cyrus-common (master, ctl_cyrusdb) and sasl2-bin (saslpasswd2) are installed, and
# imapd is unpacked from the cyrus-imapd package of the same version into /opt/cyrus-imapd.
# Services are kept from starting during the install (a policy-rc.d of our own, only if
# there is none): the suite starts its own Cyrus, and a system one would take port 143.
CYRUS_ROOT=/opt/cyrus-imapd
if [ ! -x /usr/lib/cyrus/bin/master ] || ! command -v saslpasswd2 >/dev/null 2>&1 \
  || [ ! -x "$CYRUS_ROOT/usr/lib/cyrus/bin/imapd" ]; then
  echo "Installing Cyrus IMAP (cyrus-common, sasl2-bin; imapd unpacked into $CYRUS_ROOT)…"
  export DEBIAN_FRONTEND=noninteractive
  own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends cyrus-common sasl2-bin >/dev/null
  [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
  version="$(dpkg-query -W -f='${Version}' cyrus-common)"
  download="$(mktemp -d)"
  chmod 755 "$download"
  (cd "$download" && apt-get download -qq "cyrus-imapd=$version" 2>/dev/null)
  mkdir -p "$CYRUS_ROOT"
  dpkg-deb -x "$download"/cyrus-imapd_*.deb "$CYRUS_ROOT"
  rm -rf "$download"
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "Starting PostgreSQL…"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "Starting Redis…"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "PostgreSQL or Redis did not come up." >&2
exit 1
