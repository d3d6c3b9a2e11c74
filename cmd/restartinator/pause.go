package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"

	"github.com/restartinator/restartinator/collector"
)

// maxPauseBody bounds a pause request's body; maxPauseReason its reason.
const (
	maxPauseBody   = 4 << 10
	maxPauseReason = 500
)

// pauseRequest is the body of POST /api/v1/devices/{name}/pause.
type pauseRequest struct {
	For    string `json:"for"`
	Reason string `json:"reason"`
}

// parsePauseRequest reads a pause request: strict JSON, for a Prometheus
// duration (90m, 1h, 2d), a reason of at most maxPauseReason characters.
func parsePauseRequest(body io.Reader) (time.Duration, string, error) {
	dec := json.NewDecoder(io.LimitReader(body, maxPauseBody+1))
	dec.DisallowUnknownFields()
	var req pauseRequest
	if err := dec.Decode(&req); err != nil {
		return 0, "", fmt.Errorf(`the body must be JSON like {"for":"1h","reason":"…"}: %v`, err)
	}
	if dec.More() {
		return 0, "", errors.New("the body must be one JSON object")
	}
	if req.For == "" {
		return 0, "", errors.New(`"for" is required: how long to pause, e.g. "1h"`)
	}
	d, err := model.ParseDuration(req.For)
	if err != nil || d <= 0 {
		return 0, "", fmt.Errorf(`"for" %q must be a positive duration such as 30m, 1h or 1d`, req.For)
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if !utf8.ValidString(req.Reason) || utf8.RuneCountInString(req.Reason) > maxPauseReason {
		return 0, "", fmt.Errorf(`"reason" must be UTF-8 text of at most %d characters`, maxPauseReason)
	}
	return time.Duration(d), req.Reason, nil
}

// pauseAnswer is the answer to pause and resume.
type pauseAnswer struct {
	Status string     `json:"status"`
	Device string     `json:"device,omitempty"`
	Until  *time.Time `json:"until,omitempty"`
	Reason string     `json:"reason,omitempty"`
	Error  string     `json:"error,omitempty"`
}

func (a *app) pauseDevice(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	dur, reason, err := parsePauseRequest(r.Body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, pauseAnswer{Status: "bad_request", Device: name, Error: err.Error()})
		return
	}
	until, err := a.sup.Pause(name, dur, reason)
	switch {
	case errors.Is(err, collector.ErrUnknownDevice):
		writeJSON(w, http.StatusNotFound, pauseAnswer{Status: "unknown_device", Error: err.Error()})
	case errors.Is(err, collector.ErrPauseTooLong):
		writeJSON(w, http.StatusBadRequest, pauseAnswer{Status: "bad_request", Device: name, Error: err.Error()})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, pauseAnswer{Status: "failed", Device: name, Error: err.Error()})
	default:
		a.logger.Info("device paused through the API", "device", name, "until", until, "reason", reason)
		writeJSON(w, http.StatusOK, pauseAnswer{Status: "paused", Device: name, Until: &until, Reason: reason})
	}
}

func (a *app) resumeDevice(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	err := a.sup.Resume(name)
	switch {
	case errors.Is(err, collector.ErrUnknownDevice):
		writeJSON(w, http.StatusNotFound, pauseAnswer{Status: "unknown_device", Error: err.Error()})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, pauseAnswer{Status: "failed", Device: name, Error: err.Error()})
	default:
		a.logger.Info("device resumed through the API", "device", name)
		writeJSON(w, http.StatusOK, pauseAnswer{Status: "resumed", Device: name})
	}
}
