package redfish

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrBadAnswer: the service answered JSON that is not what the schema says.
var ErrBadAnswer = errors.New("unexpected answer from the Redfish service")

type link struct {
	ID string `json:"@odata.id"`
}

type collection struct {
	Members []link `json:"Members"`
}

// System is the part of a ComputerSystem we use.
type System struct {
	ODataID      string `json:"@odata.id"`
	ID           string `json:"Id"`
	Name         string `json:"Name"`
	Manufacturer string `json:"Manufacturer"`
	Model        string `json:"Model"`
	SerialNumber string `json:"SerialNumber"`
	PowerState   string `json:"PowerState"`
	Status       struct {
		State  string `json:"State"`
		Health string `json:"Health"`
	} `json:"Status"`
	Actions struct {
		Reset *resetAction `json:"#ComputerSystem.Reset"`
	} `json:"Actions"`
}

type resetAction struct {
	Target     string   `json:"target"`
	Allowable  []string `json:"ResetType@Redfish.AllowableValues"`
	ActionInfo string   `json:"@Redfish.ActionInfo"`
}

type actionInfo struct {
	Parameters []struct {
		Name            string   `json:"Name"`
		AllowableValues []string `json:"AllowableValues"`
	} `json:"Parameters"`
}

// decodeSystem parses a ComputerSystem and checks what we rely on.
func decodeSystem(b []byte) (System, error) {
	var s System
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%w: a ComputerSystem that is not JSON: %w", ErrBadAnswer, err)
	}
	if s.PowerState == "" {
		return s, fmt.Errorf("%w: ComputerSystem %q has no PowerState", ErrBadAnswer, s.ID)
	}
	if s.Actions.Reset == nil || s.Actions.Reset.Target == "" {
		return s, fmt.Errorf("%w: ComputerSystem %q has no #ComputerSystem.Reset action", ErrBadAnswer, s.ID)
	}
	if !strings.HasPrefix(s.Actions.Reset.Target, "/redfish/v1/") {
		return s, fmt.Errorf("%w: the Reset target %q is not under /redfish/v1/", ErrBadAnswer, s.Actions.Reset.Target)
	}
	return s, nil
}

// allowable reads ResetType's allowable values from an ActionInfo.
func decodeActionInfo(b []byte) ([]string, error) {
	var ai actionInfo
	if err := json.Unmarshal(b, &ai); err != nil {
		return nil, fmt.Errorf("%w: an ActionInfo that is not JSON: %w", ErrBadAnswer, err)
	}
	for _, p := range ai.Parameters {
		if p.Name == "ResetType" {
			return p.AllowableValues, nil
		}
	}
	return nil, fmt.Errorf("%w: the Reset ActionInfo has no ResetType parameter", ErrBadAnswer)
}

// redfishError is the error body of DSP0266 9.8 (Base message registry).
type redfishError struct {
	Error struct {
		Code         string `json:"code"`
		Message      string `json:"message"`
		ExtendedInfo []struct {
			MessageID  string `json:"MessageId"`
			Message    string `json:"Message"`
			Resolution string `json:"Resolution"`
		} `json:"@Message.ExtendedInfo"`
	} `json:"error"`
}

// decodeError turns an error body into one sentence: the extended messages
// (with their resolutions), else the general message, else "".
func decodeError(b []byte) string {
	var e redfishError
	if json.Unmarshal(b, &e) != nil {
		return ""
	}
	var parts []string
	for _, x := range e.Error.ExtendedInfo {
		m := strings.TrimSpace(x.Message)
		if m == "" {
			m = x.MessageID
		}
		if r := strings.TrimSpace(x.Resolution); r != "" && r != "None." && r != "None" {
			m += " (" + r + ")"
		}
		if m != "" && !slices.Contains(parts, m) {
			parts = append(parts, m)
		}
	}
	if len(parts) == 0 && e.Error.Message != "" {
		parts = append(parts, e.Error.Message)
	}
	s := strings.Join(parts, "; ")
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return s
}
