// Package statuspage serves the status page at "/": every device at a
// glance, refreshing itself, with a "Cycle now" button per device.
package statuspage

import (
	"net/http"

	"github.com/restartinator/restartinator/collector"
)

// Source is what the page shows.
type Source interface {
	Snapshot() []collector.DeviceStatus
	// Holding says why the guard holds automatic cycles, or "".
	Holding() string
	DryRun() bool
}

// Options configure the page.
type Options struct {
	Source Source
	// RoutePrefix is where the service is mounted ("" or "/restart").
	RoutePrefix string
	Version     string
}

// New returns the page handler.
func New(opts Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "status page not built yet", http.StatusNotImplemented)
	})
}
