package webhook_test

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/restartinator/restartinator/actuator/webhook"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/internal/state"
)

// actions stands in for the supervisor, the Cycler and host reset.
type actions struct{}

func (actions) CycleDevice(ctx context.Context, device, trigger string) error { return nil }
func (actions) ResetHost(ctx context.Context, trigger string) error           { return nil }
func (actions) Notify(event.Event)                                            {}
func (actions) DeviceUpSince(string) (time.Time, bool)                        { return time.Time{}, false }

// The wiring in main: one Handler for the life of the process, its counters
// registered once, a reloaded config handed over with SetConfig, and the
// auth middleware in front.
func Example() {
	logger := slog.Default()
	cfg, err := config.Load([]byte(`
webhook:
  routes:
    - matchers: ['alertname="RestartinatorDeviceDown"']
      action: cycle
`), "restartinator.yml")
	if err != nil {
		panic(err)
	}
	st, err := state.Open("", logger) // main passes global.state_file
	if err != nil {
		panic(err)
	}
	h := webhook.New(webhook.Options{
		Config:  cfg.Webhook,
		Actions: actions{},
		State:   st,
		Clock:   clock.Real{},
		Logger:  logger.With("component", "webhook"),
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(h)

	mux := http.NewServeMux()
	mux.Handle("POST /webhook", h) // wrapped in the action auth middleware

	// On SIGHUP or POST /-/reload, after the new config validated:
	h.SetConfig(cfg.Webhook)
	// Output:
}
