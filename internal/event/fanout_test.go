package event

import (
	"testing"
	"time"
)

type recorder []Event

func (r *recorder) Notify(e Event) { *r = append(*r, e) }

func TestFanoutReachesEveryNotifierInOrder(t *testing.T) {
	var a, b recorder
	f := Fanout{&a, nil, &b}
	e1 := Event{Kind: Offline, Device: "router", Time: time.Unix(1, 0)}
	e2 := Event{Kind: Recovered, Device: "router", Time: time.Unix(2, 0)}
	f.Notify(e1)
	f.Notify(e2)
	for name, r := range map[string]recorder{"first": a, "second": b} {
		if len(r) != 2 || r[0].Kind != Offline || r[1].Kind != Recovered {
			t.Errorf("%s notifier got %+v, want offline then recovered", name, r)
		}
	}
}
