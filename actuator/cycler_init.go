package actuator

// InitDevice exports a device's cycle counters at 0 for every trigger and
// its failure counters at 0 for every reason, so the first cycle or failure
// shows up as an increase (alerts use increase()). Failures are not split by
// trigger as well: at fleet scale every zero series costs memory here and in
// Prometheus (5 + 7 per device, not 5 + 35).
func (c *Cycler) InitDevice(name string) {
	for _, t := range []string{TriggerAuto, TriggerWebhook, TriggerSchedule, TriggerManual, TriggerFile} {
		c.cycles.WithLabelValues(name, t)
	}
	for _, r := range Reasons {
		c.failures.WithLabelValues(name, r)
	}
}
