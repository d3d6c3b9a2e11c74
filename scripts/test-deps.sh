#!/usr/bin/env bash
# Installs what the tests need when it is missing: Debian's prometheus
# (promtool) and prometheus-alertmanager for the end-to-end tests, chromium
# for the status page test, mosquitto (the MQTT broker) for the MQTT tests,
# and the npm packages under test/npm. Safe to run
# again: it installs only what is absent.
set -euo pipefail

debs=()
command -v promtool >/dev/null 2>&1 || debs+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || debs+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || debs+=(chromium)
command -v node >/dev/null 2>&1 || debs+=(nodejs npm)
# mosquitto lives in /usr/sbin, often not on a non-root PATH.
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || debs+=(mosquitto)
# curl drives the Shelly simulator with a digest client we did not write.
command -v curl >/dev/null 2>&1 || debs+=(curl)
# make package-test (issue 20): podman builds and exports the OCI image, rpm
# reads the .rpm, qemu-user-static runs the arm builds, systemd-analyze
# verifies the unit, groff renders the man page.
command -v podman >/dev/null 2>&1 || debs+=(podman)
command -v rpm >/dev/null 2>&1 || debs+=(rpm)
command -v qemu-arm-static >/dev/null 2>&1 || debs+=(qemu-user-static)
command -v systemd-analyze >/dev/null 2>&1 || debs+=(systemd)
command -v groff >/dev/null 2>&1 || debs+=(groff-base)
# The fish completion script is tested in a real fish.
command -v fish >/dev/null 2>&1 || debs+=(fish)
# issue 15: snmpsim (a third-party SNMP agent serving recorded PDU walks) and
# Net-SNMP's tools for the PDU driver and simulator.
command -v snmpsimd >/dev/null 2>&1 || debs+=(snmpsim)
command -v snmpget >/dev/null 2>&1 || debs+=(snmp)
# issue 15: ipmitool (lanplus) drives the IPMI BMC simulator.
command -v ipmitool >/dev/null 2>&1 || debs+=(ipmitool)
# issue 15: OpenIPMI's ipmi_sim, a third-party BMC simulator, for the ipmi driver.
command -v ipmi_sim >/dev/null 2>&1 || debs+=(openipmi)

if [ ${#debs[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	if [ -n "$sudo" ] && ! command -v sudo >/dev/null 2>&1; then
		echo "test-deps: need ${debs[*]} but am not root and have no sudo; the tests that need them will skip" >&2
	else
		echo "test-deps: installing Debian packages: ${debs[*]}"
		export DEBIAN_FRONTEND=noninteractive
		$sudo apt-get update -qq
		$sudo apt-get install -y -qq --no-install-recommends "${debs[@]}" >/dev/null
	fi
fi

if [ -f test/npm/package.json ] && [ ! -d test/npm/node_modules ]; then
	echo "test-deps: installing npm packages in test/npm"
	npm ci --prefix test/npm --no-audit --no-fund --loglevel=error
fi
