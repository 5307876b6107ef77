#!/bin/sh
# Trendy's container entrypoint: prepares the web server, then runs the given command.
#
# For the web server (granian, or gunicorn when a deployment runs it instead) it
#   - applies migrations first when RUN_MIGRATIONS=1 (the default for web; set RUN_MIGRATIONS=0
#     on extra web replicas so only one of them migrates), and
#   - points prometheus_client at a shared directory (PROMETHEUS_MULTIPROC_DIR) so /metrics
#     adds up the counters of every worker process instead of reporting whichever one answered.
# Any other command (celery worker, celery beat, manage.py ...) is run as it is.
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
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
  # Files left by a previous run of this container would be counted again: start empty.
  find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -maxdepth 1 -name '*.db' -type f -delete
fi

exec "$@"
