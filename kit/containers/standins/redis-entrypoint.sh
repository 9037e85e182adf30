#!/bin/sh
# The official redis image's start-up contract, for the stand-in (see redis.Dockerfile).
set -eu

case "${1:-}" in
    -*|*.conf) set -- redis-server "$@" ;;
esac

if [ "${1:-}" = redis-server ]; then
    shift
    set -- redis-server "$@" --protected-mode no
    if [ "$(id -u)" = 0 ]; then
        exec setpriv --reuid=redis --regid=redis --init-groups "$@"
    fi
fi

exec "$@"
