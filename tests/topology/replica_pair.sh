#!/usr/bin/env bash
# A primary and a streaming standby, as two Postgres clusters of this
# machine's version (Debian's postgresql-common), for the failover test.
#
#   replica_pair.sh up PREFIX PRIMARY_PORT STANDBY_PORT sync|async
#   replica_pair.sh stop-primary PREFIX
#   replica_pair.sh promote PREFIX
#   replica_pair.sh down PREFIX
#
# Trust authentication on 127.0.0.1 only; everything is removed by `down`.
set -euo pipefail
cmd=$1 prefix=$2
version=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
primary="${prefix}_primary" standby="${prefix}_standby"
quiet() { "$@" >/dev/null 2>&1; }

case "$cmd" in
up)
  pport=$3 sport=$4 mode=$5
  quiet pg_dropcluster --stop "$version" "$primary" || true
  quiet pg_dropcluster --stop "$version" "$standby" || true
  quiet pg_createcluster "$version" "$primary" -p "$pport" -- --auth=trust
  conf=/etc/postgresql/$version/$primary
  cat >>"$conf/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
wal_level = replica
max_wal_senders = 5
wal_keep_size = '256MB'
CONF
  if [ "$mode" = sync ]; then
    echo "synchronous_standby_names = '*'" >>"$conf/postgresql.conf"
  fi
  printf 'host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n' \
    >"$conf/pg_hba.conf"
  echo 'local all all trust' >>"$conf/pg_hba.conf"
  quiet pg_ctlcluster "$version" "$primary" start
  quiet pg_createcluster "$version" "$standby" -p "$sport" -- --auth=trust
  sconf=/etc/postgresql/$version/$standby
  cp "$conf/pg_hba.conf" "$sconf/pg_hba.conf"
  cat >>"$sconf/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
hot_standby = on
CONF
  data=/var/lib/postgresql/$version/$standby
  rm -rf "$data"
  install -d -o postgres -g postgres -m 700 "$data"
  runuser -u postgres -- pg_basebackup -h 127.0.0.1 -p "$pport" -U postgres \
    -D "$data" -R -X stream --checkpoint=fast >/dev/null
  # The standby names itself to the primary (for synchronous_standby_names).
  echo "primary_conninfo = 'host=127.0.0.1 port=$pport user=postgres application_name=$standby'" \
    >>"$data/postgresql.auto.conf"
  quiet pg_ctlcluster "$version" "$standby" start
  # Streaming before we go on.
  for _ in $(seq 1 100); do
    n=$(runuser -u postgres -- psql -h 127.0.0.1 -p "$pport" -Atc \
      "select count(*) from pg_stat_replication where state = 'streaming'" postgres)
    [ "$n" = 1 ] && exit 0
    sleep 0.1
  done
  echo "the standby is not streaming" >&2
  exit 1
  ;;
stop-primary)
  pg_ctlcluster "$version" "$primary" stop -m immediate
  ;;
promote)
  pg_ctlcluster "$version" "$standby" promote
  ;;
down)
  quiet pg_dropcluster --stop "$version" "$primary" || true
  quiet pg_dropcluster --stop "$version" "$standby" || true
  ;;
esac
