#!/bin/sh
# Trendy's container entrypoint: prepares the web server, then runs the given command.
#
# For the web server (granian, or gunicorn when a deployment runs it instead) it
#   - applies migrations first when RUN_MIGRATIONS=1 (the default for web; set RUN_MIGRATIONS=0
#     on extra web replicas so only one of them migrates), and
#   - points prometheus_client at a directory (PROMETHEUS_MULTIPROC_DIR) so /metrics adds up the
#     counters of every worker process instead of reporting whichever one answered.
# Every container that has PROMETHEUS_MULTIPROC_DIR (docker-compose.yml shares one directory between the
# web, the stream and the Celery containers) first removes the files its previous run left there.
set -eu

is_web=0
case "${1:-}" in
  granian | */granian | gunicorn | */gunicorn) is_web=1 ;;
esac

if [ "$is_web" = 1 ]; then
  if [ "${RUN_MIGRATIONS:-1}" = 1 ]; then
    echo "docker-entrypoint: applying migrations" >&2
    # Outside the multiprocess registry: the migration run's own metrics are not the server's.
    env -u PROMETHEUS_MULTIPROC_DIR python manage.py migrate --noinput
  fi

  PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/tmp/prometheus-multiproc}"
  export PROMETHEUS_MULTIPROC_DIR
fi

if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
  # docker-compose.yml shares the directory between the web, the stream and the Celery containers, whose files
  # are named <kind>_<host>-<pid>.db (trading_site/metrics.py). A previous run of this container left files under
  # its own host name: removed (they would be counted again, and a gauge of its dead processes would stay); the
  # other containers' files are theirs and stay.
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
  host="$(hostname | tr '_' '-')"
  find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -maxdepth 1 -type f -name "*_${host}-*.db" -delete
fi

exec "$@"
