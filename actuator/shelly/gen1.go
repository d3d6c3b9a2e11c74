package shelly

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/restartinator/restartinator/actuator"
)

// gen1 is the Gen1 HTTP API with optional basic auth.
type gen1 struct {
	c    *Client
	info Info
}

func newGen1(c *Client, info Info) api { return &gen1{c: c, info: info} }

func (g *gen1) get(ctx context.Context, path string) ([]byte, error) {
	return g.c.do(ctx, http.MethodGet, path, nil, func(r *http.Request) error {
		if g.c.cfg.Password != "" {
			r.SetBasicAuth(g.c.cfg.Username, g.c.cfg.Password)
		}
		return nil
	})
}

func (g *gen1) status(ctx context.Context) (actuator.Status, error) {
	st, err := g.get(ctx, "/status")
	if err != nil {
		return actuator.Status{}, err
	}
	set, err := g.get(ctx, "/settings")
	if err != nil {
		return actuator.Status{}, err
	}
	return Gen1Status(g.info, st, set)
}

func (g *gen1) set(ctx context.Context, id int, on bool, flipBack time.Duration) (bool, error) {
	path := "/relay/" + strconv.Itoa(id) + "?turn=" + onOff(on)
	if flipBack > 0 {
		path += "&timer=" + strconv.Itoa(timerSeconds(flipBack))
	}
	b, err := g.get(ctx, path)
	if err != nil {
		return false, err
	}
	r, err := decodeGen1Relay(b)
	if err != nil {
		return false, err
	}
	if *r.IsOn != on {
		return r.HasTimer, &RPCError{Method: "/relay/" + strconv.Itoa(id), Code: 0, Message: "relay reports " + onOff(*r.IsOn) + " after turn=" + onOff(on)}
	}
	return r.HasTimer, nil
}

func (g *gen1) relay(ctx context.Context, id int) (bool, bool, error) {
	b, err := g.get(ctx, "/relay/"+strconv.Itoa(id))
	if err != nil {
		return false, false, err
	}
	r, err := decodeGen1Relay(b)
	if err != nil {
		return false, false, err
	}
	return *r.IsOn, r.HasTimer, nil
}
