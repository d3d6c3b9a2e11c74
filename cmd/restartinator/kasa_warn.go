package main

import (
	"log/slog"

	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/config"
)

// warnShortCountdowns says, at config load, which devices on Kasa plugs
// have a cycle_time shorter than the countdown firmware runs: their plug's
// flip-back timer is armed at kasa.MinFlipBack instead.
func warnShortCountdowns(logger *slog.Logger, c *config.Config) {
	for _, d := range c.Devices {
		p := c.Plug(d.Plug)
		if p == nil || p.Type != config.PlugKasa || p.FlipBack == config.FlipBackOff {
			continue
		}
		if off := d.Settings.CycleTime.D(); off < kasa.MinFlipBack {
			logger.Warn("cycle_time is shorter than Kasa firmware runs a countdown; the plug's flip-back timer will be armed at the minimum (power still returns at cycle_time, by restartinator)",
				"device", d.Name, "plug", d.Plug, "cycle_time", off, "flip_back_timer", kasa.MinFlipBack)
		}
	}
}
