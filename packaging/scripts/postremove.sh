#!/bin/sh
# After the files went. dpkg "remove" keeps the configuration and the state;
# "purge" removes them (dpkg itself removes the conffiles), and the service's
# enablement. rpm (0 on erase) has no purge: it keeps a changed config as
# .rpmsave, and the state stays. The system user stays, as files may still
# belong to it.
set -e
case "$1" in
purge)
	rm -rf /etc/restartinator /var/lib/restartinator /var/lib/private/restartinator
	rm -f /etc/systemd/system/multi-user.target.wants/restartinator.service
	;;
esac
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
