package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/filetrigger"
	"github.com/restartinator/restartinator/actuator/hostreset"
	"github.com/restartinator/restartinator/actuator/webhook"
	"github.com/restartinator/restartinator/actuator/wol"
	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/internal/state"
	"github.com/restartinator/restartinator/internal/statuspage"
)

// app wires the parts together: the plug registry, the Cycler, the
// supervisor, the notifier, host reset, file triggers and the webhook. It
// is the one component of the service, so a reload reaches every part in
// a fixed order.
type app struct {
	s      *service
	logger *slog.Logger
	clock  clock.Clock
	ctx    context.Context

	store    *state.Store
	plugs    *actuator.Plugs
	cycler   *actuator.Cycler
	sup      *collector.Supervisor
	notifier *notifier
	// events reaches every channel: the notifier (log, mail) and MQTT.
	events  event.Notifier
	mqtt    *mqttLink
	webhook *webhook.Handler

	resetMetrics *hostreset.Metrics
	waker        *wol.Waker
	mu           sync.Mutex
	resetter     *hostreset.Resetter
	stopTriggers func()
}

// newApp opens the state file named by the first config and builds the
// parts; Apply then starts them.
func newApp(ctx context.Context, s *service, first *config.Config) (*app, error) {
	a := &app{s: s, logger: s.logger, clock: clock.Real{}, ctx: ctx, resetMetrics: hostreset.NewMetrics()}
	store, err := state.Open(first.Global.StateFile, s.logger)
	if err != nil {
		return nil, err
	}
	a.store = store
	store.SetClock(a.clock)
	a.notifier = &notifier{logger: s.logger, store: store, clock: a.clock, externalURL: s.opts.externalURL, ctx: ctx}
	a.mqtt = newMQTTLink(ctx, a, s.logger, a.clock)
	a.events = event.Fanout{a.notifier, a.mqtt}
	a.plugs = actuator.NewPlugs(ctx, actuator.Factory(a.clock, s.logger), first.Defaults.CheckInterval.D(), a.events, a.clock, s.logger)
	// The Supervisor first: the Cycler takes its Listen at construction,
	// and the Supervisor gets the Cycler before anything is applied.
	a.sup = collector.New(ctx, collector.Options{Plugs: a.plugs, State: store, Notifier: a.events, Clock: a.clock, Logger: s.logger,
		StateEnum: s.opts.deviceStateEnum})
	a.cycler = actuator.NewCycler(actuator.CyclerOptions{
		Plugs: a.plugs, State: store, Clock: a.clock, Logger: s.logger,
		MaxConcurrent: first.Global.MaxConcurrentCycles, DryRun: first.Global.DryRun,
		Listener: func(u actuator.Update) { a.sup.Listen(u); a.wake(u) },
		Peer:     peerOptions(first.Global.HA),
	})
	a.sup.UseCycler(a.cycler)
	s.exposition = append(s.exposition, a.sup.WriteMetricsTo)
	a.webhook = webhook.New(webhook.Options{Config: first.Webhook, Actions: a, State: store, Clock: a.clock, Logger: s.logger})
	a.waker = wol.NewWaker(a.clock, s.logger)
	s.reg.MustRegister(a.sup, a.cycler, a.plugs, a.webhook, a.resetMetrics, a.notifier.metrics(), a.mqtt.metrics, a.waker)
	return a, nil
}

// wake sends Wake-on-LAN to the devices of an outlet whose power is back
// (or coming back by the plug's own timer) and that ask for it.
func (a *app) wake(u actuator.Update) {
	if u.Phase != actuator.PhaseBooting {
		return
	}
	for _, name := range u.Request.Devices {
		if d, ok := a.sup.Device(name); ok && d.WakeOnLAN != nil {
			a.waker.Wake(a.ctx, name, *d.WakeOnLAN)
		}
	}
}

// Apply hands a new config to every part. Parts that validate more than
// the config package (mail templates) go first, so a rejected config
// changes nothing.
func (a *app) Apply(c *config.Config) error {
	if err := checkHostDevices(c); err != nil && !c.Global.DryRun {
		return err
	}
	if err := a.notifier.apply(&c.Notifications); err != nil {
		return err
	}
	if err := a.mqtt.check(c.MQTT); err != nil {
		return err
	}
	if err := a.plugs.Apply(c.Plugs); err != nil {
		return err
	}
	a.cycler.SetLimits(c.Global.MaxConcurrentCycles, c.Global.DryRun)
	a.cycler.SetPeer(peerOptions(c.Global.HA))
	if err := a.sup.Apply(c); err != nil {
		return err
	}
	for _, d := range c.Devices {
		if d.Plug != "" {
			a.cycler.InitDevice(d.Name)
		}
		if d.WakeOnLAN != nil {
			a.waker.Init(d.Name)
		}
	}
	warnShortCountdowns(a.logger, c)
	a.webhook.SetConfig(c.Webhook)
	if err := a.mqtt.apply(c.MQTT); err != nil {
		return err
	}
	a.forgetRemovedDevices(c)

	a.mu.Lock()
	defer a.mu.Unlock()
	a.resetter = hostreset.New(c.HostReset, hostreset.Options{DryRun: c.Global.DryRun, Clock: a.clock, Logger: a.logger,
		Notifier: a.events, Metrics: a.resetMetrics})
	if a.stopTriggers != nil {
		a.stopTriggers()
		a.stopTriggers = nil
	}
	if len(c.Triggers.Files) > 0 {
		w, err := filetrigger.New(c.Triggers.Files, a.triggerOptions())
		if err != nil {
			return err
		}
		a.stopTriggers = w.Start(a.ctx)
	}
	return nil
}

// forgetRemovedDevices tells the state file which devices are configured:
// the state of one removed is kept for state.RemovedGrace, then dropped.
func (a *app) forgetRemovedDevices(c *config.Config) {
	names := make([]string, 0, len(c.Devices))
	for _, d := range c.Devices {
		names = append(names, d.Name)
	}
	if err := a.store.SetConfigured(names); err != nil {
		a.logger.Error("cannot write the state file after noting the configured devices; removed devices' state stays until the next save", "err", err)
	}
}

// checkHostDevices checks, without opening anything, that a watchdog named
// by host_reset is a character device: a path that is not would only be
// found out when the host hangs, after waiting out the timeout.
func checkHostDevices(c *config.Config) error {
	h := c.HostReset
	if h == nil || h.Watchdog == nil || (h.Method != config.ResetWatchdog && h.Fallback != config.ResetWatchdog) {
		return nil
	}
	if err := hostreset.CheckWatchdog(h.Watchdog.Device); err != nil {
		return fmt.Errorf("host_reset.watchdog.device: %w", err)
	}
	return nil
}

func (a *app) triggerOptions() filetrigger.Options {
	return filetrigger.Options{
		HostReset: func(ctx context.Context) error { return a.ResetHost(ctx, actuator.TriggerFile) },
		Cycle: func(ctx context.Context, device string) error {
			return a.sup.RequestCycle(device, actuator.TriggerFile)
		},
		Logger: a.logger, Clock: a.clock,
	}
}

// CycleDevice is the webhook's way to cycle: it checks the plug answers
// first, so Alertmanager retries when it does not.
func (a *app) CycleDevice(ctx context.Context, device, trigger string) error {
	d, ok := a.sup.Device(device)
	if !ok {
		return fmt.Errorf("%w: %q", webhook.ErrUnknownDevice, device)
	}
	if d.Plug == "" || d.Mode == config.ModeMonitor {
		// Not retryable: answered 200 with the reason, like an unknown
		// device, so Alertmanager does not retry for ever.
		if d.Plug == "" {
			return fmt.Errorf("%w: device %q has no plug to cycle (mode %s)", webhook.ErrUnknownDevice, device, d.Mode)
		}
		return fmt.Errorf("%w: device %q is in mode monitor: it is never cycled (set mode: alert to let the webhook cycle it)", webhook.ErrUnknownDevice, device)
	}
	if phase, busy := a.cycler.Busy(d.Plug, d.Outlet); busy {
		return fmt.Errorf("%w: device %q is %s", webhook.ErrAlreadyCycling, device, phase)
	}
	// Reading the plug tells whether it answers (else Alertmanager retries)
	// and, in a redundant pair, whether the peer is already cycling it.
	err := a.cycler.CheckPeer(ctx, actuator.Request{Plug: d.Plug, Outlet: d.Outlet, Boot: d.Settings.BootTime.D()})
	switch {
	case errors.Is(err, actuator.ErrCycledByPeer):
		return fmt.Errorf("%w: %w", webhook.ErrCycledByPeer, err)
	case err != nil:
		return fmt.Errorf("%w: %w", webhook.ErrPlugUnreachable, err)
	}
	err = a.sup.RequestCycle(device, trigger)
	if down := a.sup.ParentsDown(device); err == nil && len(down) > 0 {
		a.logger.Warn("cycling on request a device whose parents are down", "device", device, "trigger", trigger, "parents_down", down)
	}
	switch {
	case errors.Is(err, actuator.ErrAlreadyCycling):
		return fmt.Errorf("%w: %w", webhook.ErrAlreadyCycling, err)
	case errors.Is(err, collector.ErrUnknownDevice), errors.Is(err, collector.ErrNoPlug), errors.Is(err, collector.ErrPaused):
		// A reload changed the device meanwhile, or it is paused: not
		// retryable.
		return fmt.Errorf("%w: %w", webhook.ErrUnknownDevice, err)
	}
	return err
}

// DeviceUpSince tells the webhook when a device came back, to close quiet
// alert episodes.
func (a *app) DeviceUpSince(device string) (time.Time, bool) { return a.sup.UpSince(device) }

// ResetHost hard-resets this host, if configured.
func (a *app) ResetHost(ctx context.Context, trigger string) error {
	a.mu.Lock()
	r := a.resetter
	a.mu.Unlock()
	if r == nil || !r.Configured() {
		return webhook.ErrNoHostReset
	}
	// The reset outlives the request: it waits past the watchdog timeout.
	go func() {
		if err := r.Reset(context.WithoutCancel(ctx), trigger); err != nil {
			a.logger.Error("host reset failed", "trigger", trigger, "err", err)
		}
	}()
	return nil
}

// Snapshot, Holding and DryRun feed the status page.
func (a *app) Snapshot() []collector.DeviceStatus { return a.sup.Snapshot() }
func (a *app) Holding() string                    { return a.sup.Holding() }
func (a *app) DryRun() bool                       { return a.cycler.DryRun() }

// Notify sends an event through the notifier.
func (a *app) Notify(e event.Event) { a.events.Notify(e) }

// start finishes cycles a previous run left half done, then runs the
// notifier; call it after the first Apply.
func (a *app) start() {
	a.cycler.Reconcile(a.ctx)
	go a.notifier.run()
	a.mqtt.start()
}

// shutdown finishes in-flight cycles with power back on, then flushes mail.
func (a *app) shutdown(ctx context.Context) error {
	err := a.cycler.Shutdown(ctx)
	a.sup.Stop()
	a.mu.Lock()
	if a.stopTriggers != nil {
		a.stopTriggers()
	}
	a.mu.Unlock()
	a.plugs.Close()
	return errors.Join(err, a.notifier.flush(ctx), a.mqtt.stop(ctx))
}

// routes adds the API and the webhook to the mux.
func (a *app) routes(mux *http.ServeMux, p string, auth *actionAuth) {
	mux.Handle("POST "+p+"/webhook", auth.wrap(a.webhook))
	mux.Handle("GET "+p+"/api/v1/devices", statuspage.Gzip(http.HandlerFunc(a.listDevices))) // the status page's script polls it
	mux.Handle("POST "+p+"/api/v1/devices/{name}/cycle", auth.wrap(http.HandlerFunc(a.cycleDevice)))
	mux.Handle("POST "+p+"/api/v1/devices/{name}/pause", auth.wrap(http.HandlerFunc(a.pauseDevice)))
	mux.Handle("POST "+p+"/api/v1/devices/{name}/resume", auth.wrap(http.HandlerFunc(a.resumeDevice)))
}

type devicesResponse struct {
	Devices []collector.DeviceStatus `json:"devices"`
	Guard   string                   `json:"guard_holding,omitempty"`
	DryRun  bool                     `json:"dry_run"`
	// Channels are the notification channels, for the status page.
	Channels []channelStatus `json:"notification_channels,omitempty"`
}

func (a *app) listDevices(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, devicesResponse{Devices: a.sup.Snapshot(), Guard: a.sup.Holding(), DryRun: a.cycler.DryRun(), Channels: a.channelStatuses()})
}

func (a *app) cycleDevice(w http.ResponseWriter, r *http.Request) {
	ans := a.manualCycle(r.PathValue("name"))
	writeJSON(w, ans.code, ans)
}

// cycleAnswer is the answer to a manual cycle request, over HTTP and MQTT.
type cycleAnswer struct {
	code   int
	Status string `json:"status"`
	Device string `json:"device,omitempty"`
	Next   string `json:"next,omitempty"`
	Error  string `json:"error,omitempty"`
	// ParentsDown: devices this one depends on are down, which may be why
	// it does not answer; the cycle goes ahead, as asked.
	ParentsDown []string `json:"parents_down,omitempty"`
	Note        string   `json:"note,omitempty"`
}

// manualCycle cycles a device on a person's request: the manual API and
// the MQTT button both come here, so they answer alike.
func (a *app) manualCycle(name string) cycleAnswer {
	ans := a.manualCycleOnly(name)
	if ans.code == http.StatusAccepted {
		if down := a.sup.ParentsDown(name); len(down) > 0 {
			ans.ParentsDown = down
			ans.Note = fmt.Sprintf("the devices it depends on are down (%s): it may not answer until they are up, whatever the cycle does", strings.Join(down, ", "))
		}
	}
	return ans
}

func (a *app) manualCycleOnly(name string) cycleAnswer {
	err := a.sup.RequestCycle(name, actuator.TriggerManual)
	switch {
	case err == nil && a.cycler.DryRun():
		return cycleAnswer{code: http.StatusAccepted, Status: "dry_run", Device: name,
			Next: "dry run: the decision is logged and nothing is switched"}
	case err == nil:
		d, _ := a.sup.Device(name)
		return cycleAnswer{code: http.StatusAccepted, Status: "started", Device: name,
			Next: fmt.Sprintf("the outlet goes off for %s, then the device has up to %s to boot", d.Settings.CycleTime, d.Settings.BootTime)}
	case errors.Is(err, collector.ErrUnknownDevice):
		return cycleAnswer{code: http.StatusNotFound, Status: "unknown_device", Error: err.Error()}
	case errors.Is(err, actuator.ErrAlreadyCycling):
		return cycleAnswer{code: http.StatusConflict, Status: "already_cycling", Error: err.Error()}
	case errors.Is(err, collector.ErrNoPlug):
		return cycleAnswer{code: http.StatusConflict, Status: "no_plug", Error: err.Error()}
	default:
		return cycleAnswer{code: http.StatusInternalServerError, Status: "failed", Error: err.Error()}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// peerOptions turns the config's ha section into the Cycler's peer options.
func peerOptions(h config.HAConfig) actuator.PeerOptions {
	return actuator.PeerOptions{Check: h.PeerCheck, Instance: h.InstanceName(), Delay: h.PeerDelay.D()}
}
