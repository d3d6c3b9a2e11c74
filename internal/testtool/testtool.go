// Package testtool finds the third-party programs that tests run against
// (Debian's ipmitool, snmpsim, mosquitto, promtool, chromium, curl …).
//
// Without the program a test skips, with a message that says which Debian
// package to install, except when CI=true: CI installs every one of them
// (scripts/test-deps.sh), so there a missing program is a broken CI and
// fails the test instead of letting it pass by skipping.
package testtool

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Need returns the path of the first of names found (on PATH, or as given
// when a name holds a slash). When none is found it calls Missing with a
// message naming pkg, the Debian package that provides it.
func Need(t testing.TB, pkg string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Missing(t, fmt.Sprintf("%s not found: install Debian's %s (scripts/test-deps.sh installs it)", names[0], pkg))
	return ""
}

// Missing skips t with why, or fails it when CI=true.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why + " [CI=true: a test tool may not be missing]")
	}
	t.Skip(why)
}
