package shelly

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/restartinator/restartinator/actuator"
)

// gen2 is the Gen2+ JSON-RPC API over HTTP POST /rpc, with digest auth.
type gen2 struct {
	c     *Client
	info  Info
	names map[int]string // switch id -> configured name, read once
	id    atomic.Int64
}

func newGen2(c *Client, info Info) api { return &gen2{c: c, info: info} }

// call runs one RPC. Without a password it sends no credentials; with one
// it answers the device's 401 challenge once. A second 401 is a rejection.
func (g *gen2) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	frame := map[string]any{"id": g.id.Add(1), "src": "restartinator", "method": method}
	if params != nil {
		frame["params"] = params
	}
	body, _ := json.Marshal(frame)
	resp, b, err := g.c.roundTrip(ctx, http.MethodPost, "/rpc", body, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		if g.c.cfg.Password == "" {
			return nil, ErrAuthRequired
		}
		ch, ok := parseChallenge(resp.Header.Get("WWW-Authenticate"))
		if !ok {
			if ch, ok = challengeFromBody(b); !ok {
				return nil, errNoChallenge
			}
		}
		resp, b, err = g.c.roundTrip(ctx, http.MethodPost, "/rpc", body, func(r *http.Request) error {
			h, err := ch.authorization(g.c.cfg.Username, g.c.cfg.Password, r.Method, r.URL.RequestURI(), 1)
			r.Header.Set("Authorization", h)
			return err
		})
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusUnauthorized {
			return nil, ErrAuthRejected
		}
	}
	b, err = checkAnswer(method, resp, b)
	if err != nil {
		return nil, err
	}
	return DecodeFrame(method, b)
}

func (g *gen2) status(ctx context.Context) (actuator.Status, error) {
	res, err := g.call(ctx, "Shelly.GetStatus", nil)
	if err != nil {
		return actuator.Status{}, err
	}
	st, err := Gen2Status(g.info, res, g.names)
	if err != nil || g.names != nil {
		return st, err
	}
	// Names live in each switch's config; read them once.
	names := map[int]string{}
	for _, o := range st.Outlets {
		id := atoi(o.ID)
		r, err := g.call(ctx, "Switch.GetConfig", map[string]any{"id": id})
		if err != nil {
			return actuator.Status{}, err
		}
		var cfg struct {
			Name *string `json:"name"`
		}
		if err := decodeInto("Switch.GetConfig", r, &cfg); err != nil {
			return actuator.Status{}, err
		}
		if cfg.Name != nil {
			names[id] = *cfg.Name
		}
	}
	g.names = names
	return Gen2Status(g.info, res, names)
}

func (g *gen2) set(ctx context.Context, id int, on bool, flipBack time.Duration) (bool, error) {
	p := map[string]any{"id": id, "on": on}
	if flipBack > 0 {
		p["toggle_after"] = timerSeconds(flipBack)
	}
	if _, err := g.call(ctx, "Switch.Set", p); err != nil {
		return false, err
	}
	now, timer, err := g.relay(ctx, id)
	if err != nil {
		return false, err
	}
	if now != on {
		return timer, &RPCError{Method: "Switch.Set", Message: "switch reports output " + onOff(now) + " after on=" + onOff(on)}
	}
	return timer, nil
}

func (g *gen2) relay(ctx context.Context, id int) (bool, bool, error) {
	r, err := g.call(ctx, "Switch.GetStatus", map[string]any{"id": id})
	if err != nil {
		return false, false, err
	}
	s, err := decodeGen2Switch(r)
	if err != nil {
		return false, false, err
	}
	return *s.Output, s.TimerStartedAt != nil, nil
}
