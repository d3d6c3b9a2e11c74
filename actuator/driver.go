package actuator

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
)

// Driver is one type of plug restartinator can switch: the name users write
// as type:, the keys only that type takes, how to build a client, and a few
// words for --help and the README. Each driver package exports one; the
// program registers them in one list (cmd/restartinator/drivers.go), so
// adding a brand is a package and a line.
type Driver struct {
	// Name is the value of type: in the config and of plug --type.
	Name string
	// Brand, Models and Transport say what it switches and how, for --help
	// and the README.
	Brand, Models, Transport string
	// FlipBack names the device's own timer that switches an outlet back on
	// ("" when the device has none): the safe cycle arms it before power
	// goes off.
	FlipBack string
	// Settings returns the type's own config keys with their defaults (nil:
	// none beyond the common ones). Registering the driver registers them
	// with the config package.
	Settings func() config.PlugSettings
	// New builds a client for one configured plug; it should not connect
	// yet. cfg has passed config validation, so cfg.Settings has the type
	// Settings returns.
	New func(cfg config.PlugConfig, env DriverEnv) (Plug, error)
}

// DriverEnv is what every driver gets besides its config.
type DriverEnv struct {
	// Password is the plug's password, already read from password_file.
	Password string
	Clock    clock.Clock
	Logger   *slog.Logger
}

var drivers = struct {
	sync.RWMutex
	list []Driver
}{}

// Register adds a driver and its config keys. Registering a name twice
// panics: it is a wiring mistake.
func Register(d Driver) {
	if d.New == nil {
		panic(fmt.Sprintf("actuator: driver %q has no New", d.Name))
	}
	drivers.Lock()
	defer drivers.Unlock()
	for _, old := range drivers.list {
		if old.Name == d.Name {
			panic(fmt.Sprintf("actuator: driver %q registered twice", d.Name))
		}
	}
	config.RegisterPlugType(config.PlugType{Name: d.Name, Settings: d.Settings, FlipBack: d.FlipBack != ""})
	drivers.list = append(drivers.list, d)
}

// Drivers lists the registered drivers in the order they were registered,
// which is the order plug --type auto tries them.
func Drivers() []Driver {
	drivers.RLock()
	defer drivers.RUnlock()
	return append([]Driver(nil), drivers.list...)
}

// LookupDriver returns the driver of a plug type.
func LookupDriver(name string) (Driver, bool) {
	drivers.RLock()
	defer drivers.RUnlock()
	for _, d := range drivers.list {
		if d.Name == strings.ToLower(name) {
			return d, true
		}
	}
	return Driver{}, false
}

// DriverNames lists the registered plug types, in registration order.
func DriverNames() []string {
	var names []string
	for _, d := range Drivers() {
		names = append(names, d.Name)
	}
	return names
}

// NewPlug builds the client of a configured plug with its type's driver.
// It is the PlugFactory the service uses.
func NewPlug(cfg config.PlugConfig, env DriverEnv) (Plug, error) {
	d, ok := LookupDriver(cfg.Type)
	if !ok {
		return nil, fmt.Errorf("no driver for plug type %q (known: %s)", cfg.Type, strings.Join(DriverNames(), ", "))
	}
	if cfg.PasswordFile != "" || cfg.Password != "" {
		pw, err := cfg.ReadPassword()
		if err != nil {
			return nil, err
		}
		env.Password = pw
	}
	if env.Clock == nil {
		env.Clock = clock.Real{}
	}
	if env.Logger == nil {
		env.Logger = slog.Default()
	}
	return d.New(cfg, env)
}

// Factory returns a PlugFactory that builds every plug with its type's
// driver, using clk and a logger that names the plug.
func Factory(clk clock.Clock, logger *slog.Logger) PlugFactory {
	return func(cfg config.PlugConfig) (Plug, error) {
		return NewPlug(cfg, DriverEnv{Clock: clk, Logger: logger.With("plug", cfg.Name)})
	}
}
