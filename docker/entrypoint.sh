#!/bin/sh
# Runs as root only long enough to honour PUID/PGID (the user that owns the settings volume), then drops
# to that user for good: `ibpilot run` and everything under it run unprivileged.
set -eu
if [ "$(id -u)" = "0" ]; then
    uid="${PUID:-1000}"
    gid="${PGID:-$uid}"
    [ "$(id -g ibpilot)" = "$gid" ] || groupmod -o -g "$gid" ibpilot
    [ "$(id -u ibpilot)" = "$uid" ] || usermod -o -u "$uid" ibpilot
    mkdir -p "${RUN_DIR:-/run/ibpilot}" /home/ibpilot/state
    chown ibpilot:ibpilot "${RUN_DIR:-/run/ibpilot}" /home/ibpilot /home/ibpilot/.ssh
    chown -R ibpilot:ibpilot /home/ibpilot/state
    chmod 0700 "${RUN_DIR:-/run/ibpilot}"
    # The programs already run as this user: supervisord must not switch users again.
    unset PUID PGID
    export HOME=/home/ibpilot USER=ibpilot LOGNAME=ibpilot
    exec setpriv --reuid=ibpilot --regid=ibpilot --init-groups -- "$@"
fi
exec "$@"
