package webhook

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/prometheus/alertmanager/template"
)

// payloadVersion is the only version of Alertmanager's webhook payload this
// receiver understands.
const payloadVersion = "4"

// message is Alertmanager's webhook payload: alertmanager's notify/webhook
// Message with the template data embedded by value, so decoding allocates
// it with the message.
type message struct {
	template.Data

	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// Alert statuses in the payload.
const (
	statusFiring   = "firing"
	statusResolved = "resolved"
)

// decode parses a whole webhook body and checks it. An error means nothing in
// the body may be acted on: a half-valid payload is not half acted on.
func decode(body []byte, m *message) error {
	if err := json.Unmarshal(body, m); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return fmt.Errorf("the body is not valid JSON (at byte %d): %w", syn.Offset, err)
		}
		return fmt.Errorf("the body is not an Alertmanager webhook payload: %w", err)
	}
	if m.Version != payloadVersion {
		return fmt.Errorf("payload version %q is not supported: restartinator understands version %q (Alertmanager 0.x webhook_configs)", m.Version, payloadVersion)
	}
	for i := range m.Alerts {
		if s := m.Alerts[i].Status; s != statusFiring && s != statusResolved {
			return fmt.Errorf("alerts[%d]: status %q is neither %q nor %q", i, s, statusFiring, statusResolved)
		}
	}
	return nil
}
