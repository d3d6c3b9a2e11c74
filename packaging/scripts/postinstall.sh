#!/bin/sh
# After the files are in place. dpkg: "configure" and the version configured
# before (empty on a first install); rpm: how many versions are installed now
# (1 on a first install). systemd learns of the unit, but the service is not
# enabled or started: the packaged config watches nothing until edited. An
# upgrade restarts it if it was running, so the new binary runs.
set -e
first=false
case "$1" in
configure) [ -z "$2" ] && first=true ;;
1) first=true ;;
esac
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	if [ "$first" = false ]; then
		systemctl try-restart restartinator.service >/dev/null 2>&1 || true
	fi
fi
if [ "$first" = true ]; then
	cat <<'MSG'
restartinator is installed but not started. Next:
  1. edit /etc/restartinator/restartinator.yml (your plugs and devices)
  2. restartinator --config.check --config.file /etc/restartinator/restartinator.yml
  3. systemctl enable --now restartinator
MSG
fi
exit 0
