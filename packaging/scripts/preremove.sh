#!/bin/sh
# Before the files go. dpkg: "remove" (or "upgrade" on an upgrade); rpm: 0 when
# the package is erased, 1 on an upgrade. On removal the service stops, which
# finishes a power cycle in progress with the power back on.
set -e
case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl stop restartinator.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
