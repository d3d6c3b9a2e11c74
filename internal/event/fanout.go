package event

// Fanout hands every event to each of its notifiers in turn, so one notifier
// given to the supervisor, the Cycler and the webhook reaches every channel
// (mail, MQTT). Each Notify must not block, so neither does Fanout's.
type Fanout []Notifier

func (f Fanout) Notify(e Event) {
	for _, n := range f {
		if n != nil {
			n.Notify(e)
		}
	}
}
