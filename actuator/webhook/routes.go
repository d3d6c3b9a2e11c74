package webhook

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/alertmanager/matcher/parse"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/template"

	"github.com/restartinator/restartinator/config"
)

// route is a config.WebhookRoute ready to match.
type route struct {
	matchers    labels.Matchers
	action      action
	deviceLabel string
}

// settings is one config generation, swapped as a whole on reload.
type settings struct {
	maxBody      int64
	maxActions   int // alerts acted on per request; the rest are truncated
	episodeQuiet time.Duration
	routes       []route
}

// compile readies a webhook config for matching. Routes normally come parsed
// by config validation; a route built by hand without Parsed is parsed here,
// and a route whose matchers do not parse is left out (logged) rather than
// matching every alert.
func compile(cfg config.WebhookConfig, logger *slog.Logger) *settings {
	s := &settings{maxBody: cfg.MaxBodyBytes, episodeQuiet: cfg.EpisodeQuiet.D(), maxActions: cfg.MaxAlertsPerRequest}
	if s.maxBody <= 0 {
		s.maxBody = config.DefaultMaxBody
	}
	if s.maxActions <= 0 {
		s.maxActions = config.DefaultMaxAlertsPerRequest
	}
	if s.episodeQuiet <= 0 {
		s.episodeQuiet = config.DefaultEpisodeQuiet.D()
	}
	for i, r := range cfg.Routes {
		ms := r.Parsed
		if len(ms) != len(r.Matchers) {
			var err error
			if ms, err = parseMatchers(r.Matchers); err != nil {
				logger.Error("webhook route left out: its matchers do not parse", "route", i, "err", err)
				continue
			}
		}
		var act action
		switch r.Action {
		case config.ActionCycle:
			act = actCycle
		case config.ActionHostReset:
			act = actHostReset
		case config.ActionNotify:
			act = actNotify
		default:
			logger.Error("webhook route left out: unknown action", "route", i, "action", r.Action)
			continue
		}
		dl := r.DeviceLabel
		if dl == "" {
			dl = "device"
		}
		s.routes = append(s.routes, route{matchers: ms, action: act, deviceLabel: dl})
	}
	return s
}

func parseMatchers(in []string) (labels.Matchers, error) {
	out := make(labels.Matchers, 0, len(in))
	for _, m := range in {
		pm, err := parse.Matcher(m)
		if err != nil {
			return nil, fmt.Errorf("matcher %q: %w", m, err)
		}
		out = append(out, pm)
	}
	return out, nil
}

// match returns the first route whose matchers all match the alert's labels
// (which in Alertmanager already include the group labels), or nil. A label
// the alert lacks matches as the empty string, as in Alertmanager.
func (s *settings) match(ls template.KV) *route {
	for i := range s.routes {
		if matches(s.routes[i].matchers, ls) {
			return &s.routes[i]
		}
	}
	return nil
}

// matches is labels.Matchers.Matches over the payload's label map, without
// converting it to a model.LabelSet.
func matches(ms labels.Matchers, ls template.KV) bool {
	for _, m := range ms {
		if !m.Matches(ls[m.Name]) {
			return false
		}
	}
	return true
}
