//go:build !linux

package simdevice

import "errors"

// reservePort is Linux-only: elsewhere a down device does not hold its
// port (the hold is best effort anyway), so the demo still runs.
func reservePort(port int) (int, error) { return 0, errors.ErrUnsupported }

func closeReserved(int) {}
