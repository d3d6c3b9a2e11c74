// Package config owns restartinator's configuration: the types and their
// defaults, strict decoding, cross-field validation, and the two legacy
// formats (the Restartinator JSON and the py-stability-iot INI) that load as
// they are.
package config

import (
	"regexp"
	"time"

	amlabels "github.com/prometheus/alertmanager/pkg/labels"
	commoncfg "github.com/prometheus/common/config"
)

// Config is the whole configuration.
type Config struct {
	Global        GlobalConfig        `yaml:"global"`
	Defaults      DeviceSettings      `yaml:"defaults"`
	Plugs         []PlugConfig        `yaml:"plugs,omitempty"`
	Devices       []DeviceConfig      `yaml:"devices,omitempty"`
	Notifications NotificationsConfig `yaml:"notifications,omitempty"`
	Webhook       WebhookConfig       `yaml:"webhook,omitempty"`
	HostReset     *HostResetConfig    `yaml:"host_reset,omitempty"`
	Triggers      TriggersConfig      `yaml:"triggers,omitempty"`
	MQTT          *MQTTConfig         `yaml:"mqtt,omitempty"`

	// Format says which format the file was in: "yaml", "restartinator-json"
	// or "py-stability-iot-ini".
	Format string `yaml:"-"`

	// deviceLines is where each device's name stands in the file, for
	// errors about references between devices (0 or absent: unknown).
	deviceLines map[string]int
	// source is the YAML file's text while it is validated, to find the
	// line of a key a plug type's check complains about.
	source []byte
}

// GlobalConfig holds settings for the whole process.
type GlobalConfig struct {
	StateFile           string      `yaml:"state_file"`
	DryRun              bool        `yaml:"dry_run"`
	MaxConcurrentCycles int         `yaml:"max_concurrent_cycles"`
	SingleRun           bool        `yaml:"single_run,omitempty"`
	Guard               GuardConfig `yaml:"guard"`
	HA                  HAConfig    `yaml:"ha,omitempty"`

	// MaxConcurrentProbes bounds the probes running at once; 0 sizes it
	// from the devices (twice the probes that could be waiting on their
	// timeout at once, at least 64).
	MaxConcurrentProbes int `yaml:"max_concurrent_probes,omitempty"`

	// MaxPause caps the "for" of a pause through the API.
	MaxPause Duration `yaml:"max_pause"`
}

// GuardConfig decides when the monitor itself is cut off and must hold every
// cycle instead of power-cycling the whole house.
type GuardConfig struct {
	Targets         []string `yaml:"targets,omitempty"`
	MaxFailingRatio float64  `yaml:"max_failing_ratio"`
	// MinDevices is how many devices must be configured before the ratio
	// counts; a single failing device of two is not an outage.
	MinDevices    int      `yaml:"min_devices"`
	CheckInterval Duration `yaml:"check_interval"`
	Timeout       Duration `yaml:"timeout"`
}

// DeviceSettings are the per-device settings that defaults: supplies and a
// device may override.
type DeviceSettings struct {
	CheckInterval Duration `yaml:"check_interval"`
	RetryInterval Duration `yaml:"retry_interval"`
	Retries       int      `yaml:"retries"`
	Timeout       Duration `yaml:"timeout"`
	CycleTime     Duration `yaml:"cycle_time"`
	BootTime      Duration `yaml:"boot_time"`
	MaxCycles     int      `yaml:"max_cycles"`
	CycleWindow   Duration `yaml:"cycle_window"`
	// Maintenance are windows in which the device is paused: probed and
	// shown, never cycled automatically, no offline notification.
	Maintenance []MaintenanceWindow `yaml:"maintenance,omitempty"`
}

// MaintenanceWindow starts at each time of Schedule (cron, as a device's
// schedule) and lasts Duration.
type MaintenanceWindow struct {
	Schedule string   `yaml:"schedule"`
	Duration Duration `yaml:"duration"`
}

// DeviceOverrides are a device's own values for DeviceSettings; nil means
// "use defaults".
type DeviceOverrides struct {
	CheckInterval *Duration `yaml:"check_interval,omitempty"`
	RetryInterval *Duration `yaml:"retry_interval,omitempty"`
	Retries       *int      `yaml:"retries,omitempty"`
	Timeout       *Duration `yaml:"timeout,omitempty"`
	CycleTime     *Duration `yaml:"cycle_time,omitempty"`
	BootTime      *Duration `yaml:"boot_time,omitempty"`
	MaxCycles     *int      `yaml:"max_cycles,omitempty"`
	CycleWindow   *Duration `yaml:"cycle_window,omitempty"`
	// Maintenance replaces the defaults' windows when given ([] for none).
	Maintenance []MaintenanceWindow `yaml:"maintenance,omitempty"`
}

// Plug types and protocols.
const (
	PlugKasa = "kasa"

	ProtocolAuto = "auto"
	ProtocolXOR  = "xor"
	ProtocolKLAP = "klap"
	ProtocolAES  = "aes"
)

// PlugConfig is one smart plug or strip: the keys every type takes, and
// the type's own keys in Settings (see PlugType).
type PlugConfig struct {
	Name         string           `yaml:"name"`
	Type         string           `yaml:"type"`
	Host         string           `yaml:"host"`
	Port         int              `yaml:"port,omitempty"`
	Username     string           `yaml:"username,omitempty"`
	Password     commoncfg.Secret `yaml:"password,omitempty"`
	PasswordFile string           `yaml:"password_file,omitempty"`
	Timeout      Duration         `yaml:"timeout,omitempty"`
	// FlipBack is auto (default), required or off.
	FlipBack string `yaml:"flip_back,omitempty"`

	// Settings are the keys of this plug's type, e.g. *KasaSettings.
	Settings PlugSettings `yaml:"-"`
}

// Device modes.
const (
	ModeAuto    = "auto"    // cycles on its own when checks fail
	ModeAlert   = "alert"   // only webhook, manual, schedule and file triggers cycle
	ModeMonitor = "monitor" // never cycles; pure exporter
)

// DeviceConfig is one supervised device.
type DeviceConfig struct {
	Name     string       `yaml:"name"`
	Host     string       `yaml:"host,omitempty"`
	Port     int          `yaml:"port,omitempty"`
	Probe    *ProbeConfig `yaml:"probe,omitempty"`
	Plug     string       `yaml:"plug,omitempty"`
	Outlet   string       `yaml:"outlet,omitempty"`
	PlugHost string       `yaml:"plug_host,omitempty"`
	Mode     string       `yaml:"mode,omitempty"`
	Schedule string       `yaml:"schedule,omitempty"`
	// DependsOn names the devices this one is reached through (its
	// modem, its switch): while one of them is not up, this device is
	// blocked, never cycled automatically.
	DependsOn []string `yaml:"depends_on,omitempty"`
	// WakeOnLAN wakes the device once its outlet has power again.
	WakeOnLAN *WakeOnLANConfig `yaml:"wake_on_lan,omitempty"`
	// Probes are several targets judged together (instead of probe);
	// Require says how many must answer for the device to be up: all
	// (the default), any, or a number.
	Probes  []ProbeConfig `yaml:"probes,omitempty"`
	Require string        `yaml:"require,omitempty"`
	// RequireN is Require resolved: how many of Probes must answer.
	RequireN int `yaml:"-"`

	DeviceOverrides `yaml:",inline"`

	// Settings are the defaults with this device's overrides applied.
	Settings DeviceSettings `yaml:"-"`
}

// Probe types.
const (
	ProbeTCP   = "tcp"
	ProbeHTTP  = "http"
	ProbeICMP  = "icmp"
	ProbePower = "power"
	// ProbeBMC asks the device's own BMC (its plug, of a BMC type):
	// chassis power on and, where the BMC reports it, health not Critical.
	ProbeBMC = "bmc"
)

// ProbeConfig says how a device is checked.
type ProbeConfig struct {
	Type string `yaml:"type"`
	// Target overrides the device's host:port (tcp) or host (icmp).
	Target string `yaml:"target,omitempty"`

	// http
	URL              string                      `yaml:"url,omitempty"`
	Method           string                      `yaml:"method,omitempty"`
	ValidStatusCodes []int                       `yaml:"valid_status_codes,omitempty"`
	BodyRegexp       string                      `yaml:"body_regexp,omitempty"`
	HTTPClientConfig *commoncfg.HTTPClientConfig `yaml:"http_client_config,omitempty"`

	// icmp
	Privileged bool `yaml:"privileged,omitempty"`

	// power: a draw outside [min_watts, max_watts] is a failure.
	MinWatts *float64 `yaml:"min_watts,omitempty"`
	MaxWatts *float64 `yaml:"max_watts,omitempty"`

	BodyRE *regexp.Regexp `yaml:"-"`
}

// NotificationsConfig holds the notification channels.
type NotificationsConfig struct {
	Email *EmailConfig `yaml:"email,omitempty"`
	// Channels are push, chat and webhook channels (config/channels.go).
	Channels []ChannelConfig `yaml:"channels,omitempty"`
}

// EmailConfig is SMTP email. The seeds' spellings smtp_server and
// smtp_username are accepted for smtp_host and smtp_user.
type EmailConfig struct {
	SMTPHost         string              `yaml:"smtp_host"`
	SMTPUser         string              `yaml:"smtp_user,omitempty"`
	SMTPPassword     commoncfg.Secret    `yaml:"smtp_password,omitempty"`
	SMTPPasswordFile string              `yaml:"smtp_password_file,omitempty"`
	UseSSL           Bool                `yaml:"use_ssl"`
	StartTLS         string              `yaml:"starttls"`
	TLSConfig        commoncfg.TLSConfig `yaml:"tls_config,omitempty"`
	EmailFrom        string              `yaml:"email_from"`
	EmailTo          StringList          `yaml:"email_to"`
	Timeout          Duration            `yaml:"timeout"`
	// Events limits which events are mailed; empty means all.
	Events          []string `yaml:"events,omitempty"`
	SubjectTemplate string   `yaml:"subject_template,omitempty"`
	BodyTemplate    string   `yaml:"body_template,omitempty"`
	// CoalesceWindow gathers events that arrive close together into one mail.
	CoalesceWindow Duration `yaml:"coalesce_window"`
	QueueSize      int      `yaml:"queue_size"`
}

// STARTTLS policies.
const (
	StartTLSOpportunistic = "opportunistic"
	StartTLSMandatory     = "mandatory"
	StartTLSOff           = "off"
)

// Actions a webhook route or trigger can take.
const (
	ActionCycle     = "cycle"
	ActionHostReset = "host_reset"
	ActionNotify    = "notify"
)

// WebhookConfig is the Alertmanager webhook receiver.
type WebhookConfig struct {
	BearerToken     commoncfg.Secret `yaml:"bearer_token,omitempty"`
	BearerTokenFile string           `yaml:"bearer_token_file,omitempty"`
	MaxBodyBytes    int64            `yaml:"max_body_bytes,omitempty"`
	// MaxAlertsPerRequest bounds the alerts one request acts on; the rest
	// are answered "truncated" with a 503, so Alertmanager's retry acts on them.
	MaxAlertsPerRequest int `yaml:"max_alerts_per_request,omitempty"`
	// EpisodeQuiet closes an alert episode once its device has been up this
	// long, for Alertmanagers that do not send resolved notifications.
	EpisodeQuiet Duration       `yaml:"episode_quiet,omitempty"`
	Routes       []WebhookRoute `yaml:"routes,omitempty"`
}

// WebhookRoute maps alerts that match every matcher to an action.
type WebhookRoute struct {
	Matchers    []string `yaml:"matchers"`
	Action      string   `yaml:"action"`
	DeviceLabel string   `yaml:"device_label,omitempty"`

	Parsed amlabels.Matchers `yaml:"-"`
}

// Host reset methods.
const (
	ResetWatchdog = "watchdog"
	ResetRTC      = "rtc"
)

// HostResetConfig says how this host hard-resets itself.
type HostResetConfig struct {
	Method   string          `yaml:"method"`
	Fallback string          `yaml:"fallback,omitempty"`
	Watchdog *WatchdogConfig `yaml:"watchdog,omitempty"`
	RTC      *RTCConfig      `yaml:"rtc,omitempty"`
}

// WatchdogConfig is a Linux watchdog device.
type WatchdogConfig struct {
	Device  string   `yaml:"device"`
	Timeout Duration `yaml:"timeout"`
}

// RTCConfig is rtcwake on a real-time clock.
type RTCConfig struct {
	Device    string   `yaml:"device"`
	Mode      string   `yaml:"mode"`
	WakeAfter Duration `yaml:"wake_after"`
	RTCWake   string   `yaml:"rtcwake"`
}

// TriggersConfig holds triggers other than the webhook.
type TriggersConfig struct {
	Files []FileTrigger `yaml:"files,omitempty"`
}

// FileTrigger acts when a file appears.
type FileTrigger struct {
	Path          string   `yaml:"path"`
	CheckInterval Duration `yaml:"check_interval"`
	Action        string   `yaml:"action"`
	Device        string   `yaml:"device,omitempty"`
}

// Defaults.
var (
	DefaultGlobal = GlobalConfig{
		StateFile:           "restartinator-state.json",
		MaxConcurrentCycles: 2,
		Guard:               DefaultGuard,
		MaxPause:            Duration(7 * 24 * time.Hour),
	}
	DefaultGuard = GuardConfig{
		MaxFailingRatio: 0.5,
		MinDevices:      4,
		CheckInterval:   Duration(15 * time.Second),
		Timeout:         Duration(3 * time.Second),
	}
	DefaultDeviceSettings = DeviceSettings{
		CheckInterval: Duration(30 * time.Second),
		RetryInterval: Duration(5 * time.Second),
		Retries:       3,
		Timeout:       Duration(5 * time.Second),
		CycleTime:     Duration(10 * time.Second),
		BootTime:      Duration(5 * time.Minute),
		MaxCycles:     3,
		CycleWindow:   Duration(6 * time.Hour),
	}
	DefaultEmail = EmailConfig{
		StartTLS:       StartTLSOpportunistic,
		Timeout:        Duration(30 * time.Second),
		CoalesceWindow: Duration(10 * time.Second),
		QueueSize:      1000,
	}
	DefaultWatchdog = WatchdogConfig{Device: "/dev/watchdog", Timeout: Duration(5 * time.Minute)}
	DefaultRTC      = RTCConfig{Device: "/dev/rtc0", Mode: "off", WakeAfter: Duration(60 * time.Second), RTCWake: "/usr/sbin/rtcwake"}
	DefaultMaxBody  = int64(1 << 20)
	// DefaultEpisodeQuiet: a device up this long after a webhook cycle has
	// come through the outage, even if no resolved notification said so.
	DefaultEpisodeQuiet = Duration(15 * time.Minute)
	// DefaultMaxAlertsPerRequest: each cycle checks its plug first (up to
	// 5 s when it does not answer), so 20 fit the HTTP write timeout.
	DefaultMaxAlertsPerRequest = 20
)
