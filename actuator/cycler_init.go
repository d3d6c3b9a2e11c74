package actuator

// InitDevice exports a device's cycle counters at 0 for every trigger, so
// the first cycle or failure shows up as an increase (alerts use increase()).
func (c *Cycler) InitDevice(name string) {
	for _, t := range []string{TriggerAuto, TriggerWebhook, TriggerSchedule, TriggerManual, TriggerFile} {
		c.cycles.WithLabelValues(name, t)
		for _, r := range Reasons {
			c.failures.WithLabelValues(name, t, r)
		}
	}
}
