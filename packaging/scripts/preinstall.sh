#!/bin/sh
# Before the files are unpacked (dpkg: install|upgrade; rpm: 1|2): the system
# user and group the service runs as, which own the config's group.
set -e
if ! getent group restartinator >/dev/null 2>&1; then
	groupadd --system restartinator
fi
if ! getent passwd restartinator >/dev/null 2>&1; then
	useradd --system --gid restartinator --home-dir /var/lib/restartinator --no-create-home \
		--shell /usr/sbin/nologin --comment "restartinator service" restartinator
fi
exit 0
