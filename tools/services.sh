#!/usr/bin/env bash
# Start the servers the tests use, when they are not already answering (`make services`,
# .ci/run): PostgreSQL at 127.0.0.1:5432 (the PostgreSQL history store's tests) and Redis at
# 127.0.0.1:6379 (the Celery engine's broker) and RabbitMQ at 127.0.0.1:5672 (its other broker).
# Debian's packages (Makefile DEBIAN_PACKAGES).
# A server that answers is left exactly as it is: never restarted, never reconfigured.
#
# On a machine where PostgreSQL was just installed, the tests' login (user postgres over TCP
# from 127.0.0.1, no password, as on the development machines) is refused: then, and only
# then, one `trust` line for that user from 127.0.0.1 goes at the top of the cluster's
# pg_hba.conf and the cluster reloads. A throw-away test machine's setting: say so in review.
set -euo pipefail

say() { echo "services: $*"; }

if [ "$(id -u)" != 0 ]; then
  say "not root: not starting PostgreSQL or Redis (sudo make services); tests that need them skip here and fail in CI"
  exit 0
fi

pg_login() {
  PGPASSWORD= PGCONNECT_TIMEOUT=5 psql -X -q -w "host=127.0.0.1 port=5432 user=postgres dbname=postgres" \
    -Atc "SELECT 1" >/dev/null 2>&1
}

# --------------------------------------------------------------------------- PostgreSQL
if command -v pg_lsclusters >/dev/null; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432 -t 3; then
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$version" ] || [ ! -d "/etc/postgresql/$version/main" ]; then
      version=${version:-$(ls /usr/lib/postgresql | sort -V | tail -n 1)}
      say "creating PostgreSQL $version cluster 'main' on 127.0.0.1:5432"
      pg_createcluster "$version" main >/dev/null
      printf "listen_addresses = '127.0.0.1'\nport = 5432\n" > "/etc/postgresql/$version/main/conf.d/90-auditor-tests.conf"
    fi
    if pg_ctlcluster "$version" main status >/dev/null 2>&1; then
      say "PostgreSQL $version/main runs but not on 127.0.0.1:5432: left as it is" >&2
    else
      say "starting PostgreSQL $version/main"
      pg_ctlcluster --skip-systemctl-redirect "$version" main start
      for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 -t 1 && break; sleep 0.5; done
    fi
  fi
  if pg_isready -q -h 127.0.0.1 -p 5432 -t 3 && ! pg_login; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    if [ -f "$hba" ] && ! grep -q "auditor tests" "$hba"; then
      say "letting user postgres log in from 127.0.0.1 without a password (tests): $hba"
      sed -i "1i host all postgres 127.0.0.1/32 trust  # auditor tests (tools/services.sh)" "$hba"
      pg_ctlcluster --skip-systemctl-redirect "$version" main reload
      sleep 1
    fi
  fi
  if pg_login; then say "PostgreSQL: 127.0.0.1:5432 answers"; else say "PostgreSQL: 127.0.0.1:5432 does NOT answer" >&2; fi
else
  say "PostgreSQL is not installed (Debian package postgresql)" >&2
fi

# --------------------------------------------------------------------------- Redis
if command -v redis-server >/dev/null; then
  if [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" != PONG ]; then
    say "starting Redis on 127.0.0.1:6379"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /tmp --logfile /tmp/auditor-redis-6379.log >/dev/null
    for _ in $(seq 1 40); do [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ] && break; sleep 0.25; done
  fi
  if [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; then say "Redis: 127.0.0.1:6379 answers"; else say "Redis: 127.0.0.1:6379 does NOT answer" >&2; fi
else
  say "Redis is not installed (Debian package redis-server)" >&2
fi

# --------------------------------------------------------------------------- RabbitMQ
# The engine's other broker (amqp://guest:guest@127.0.0.1:5672): its tests skip without it.
rabbit_answers() { timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5672' 2>/dev/null; }
if command -v rabbitmq-server >/dev/null; then
  if ! rabbit_answers; then
    say "starting RabbitMQ on 127.0.0.1:5672"
    rabbitmq-server -detached >/dev/null 2>&1 || true
    for _ in $(seq 1 120); do rabbit_answers && break; sleep 0.5; done
  fi
  if rabbit_answers; then say "RabbitMQ: 127.0.0.1:5672 answers"; else say "RabbitMQ: 127.0.0.1:5672 does NOT answer (its tests skip)" >&2; fi
else
  say "RabbitMQ is not installed (Debian package rabbitmq-server): its tests skip" >&2
fi
