package redfishsim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

const sessionsPath = "/redfish/v1/SessionService/Sessions"

func (b *BMC) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /redfish", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"v1": "/redfish/v1/"})
	})
	// The service root answers without authentication (DSP0266 13.3.1).
	mux.HandleFunc("GET /redfish/v1/{$}", func(w http.ResponseWriter, r *http.Request) { b.get(w, b.root) })
	mux.HandleFunc("GET /redfish/v1", func(w http.ResponseWriter, r *http.Request) { b.get(w, b.root) })
	mux.HandleFunc("POST "+sessionsPath, b.login)
	mux.HandleFunc("/", b.authed)
	return mux
}

// authed serves every resource that needs a session or basic auth.
func (b *BMC) authed(w http.ResponseWriter, r *http.Request) {
	if !b.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="Redfish"`)
		writeError(w, http.StatusUnauthorized, "Base.1.8.NoValidSession",
			"There is no valid session established with the implementation.", "Establish a session before attempting any operations.")
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	b.mu.Lock()
	sysPath, infoPath := b.sysPath, b.infoPath
	b.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && path == "/redfish/v1/Systems":
		b.get(w, b.systems)
	case r.Method == http.MethodGet && path == sysPath:
		b.mu.Lock()
		b.settleLocked()
		doc := maps.Clone(b.system)
		doc["PowerState"] = b.power
		b.mu.Unlock()
		writeJSON(w, http.StatusOK, doc)
	case r.Method == http.MethodGet && infoPath != "" && path == infoPath:
		b.get(w, b.info)
	case r.Method == http.MethodPost && path == sysPath+"/Actions/ComputerSystem.Reset":
		b.reset(w, r)
	case r.Method == http.MethodDelete && strings.HasPrefix(path, sessionsPath+"/"):
		b.logout(w, r, path)
	case r.Method == http.MethodGet && strings.HasPrefix(path, sessionsPath+"/"):
		b.mu.Lock()
		found := slices.Contains(slices.Collect(maps.Values(b.sessions)), path)
		b.mu.Unlock()
		if !found {
			writeError(w, http.StatusNotFound, "Base.1.8.ResourceMissingAtURI", fmt.Sprintf("The resource at the URI '%s' was not found.", path), "")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"@odata.type": "#Session.v1_7_0.Session", "@odata.id": path, "Id": strings.TrimPrefix(path, sessionsPath+"/"), "UserName": b.opt.Username})
	case r.Method != http.MethodGet && (path == "/redfish/v1/Systems" || path == sysPath):
		w.Header().Set("Allow", "GET")
		writeError(w, http.StatusMethodNotAllowed, "Base.1.8.OperationNotAllowed", "The HTTP method is not allowed on this resource.", "")
	default:
		writeError(w, http.StatusNotFound, "Base.1.8.ResourceMissingAtURI", fmt.Sprintf("The resource at the URI '%s' was not found.", r.URL.Path), "")
	}
}

func (b *BMC) get(w http.ResponseWriter, doc map[string]any) {
	b.mu.Lock()
	out := maps.Clone(doc)
	b.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (b *BMC) authorized(r *http.Request) bool {
	if tok := r.Header.Get("X-Auth-Token"); tok != "" {
		b.mu.Lock()
		_, ok := b.sessions[tok]
		b.mu.Unlock()
		return ok
	}
	u, p, ok := r.BasicAuth()
	return ok && b.credentialsOK(u, p)
}

func (b *BMC) credentialsOK(u, p string) bool {
	return subtle.ConstantTimeCompare([]byte(u), []byte(b.opt.Username)) == 1 &&
		subtle.ConstantTimeCompare([]byte(p), []byte(b.opt.Password)) == 1
}

// login creates a session: 201, X-Auth-Token and Location (DSP0266 13.3.4).
func (b *BMC) login(w http.ResponseWriter, r *http.Request) {
	var body struct {
		UserName *string `json:"UserName"`
		Password *string `json:"Password"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "Base.1.8.MalformedJSON", "The request body submitted was malformed JSON and could not be parsed by the receiving service.", "Ensure that the request body is valid JSON and resubmit the request.")
		return
	}
	if body.UserName == nil || body.Password == nil {
		writeError(w, http.StatusBadRequest, "Base.1.8.PropertyMissing", "The property UserName or Password is a required property and must be included in the request.", "Ensure that the property is in the request body and has a valid value and resubmit the request if the operation failed.")
		return
	}
	if !b.credentialsOK(*body.UserName, *body.Password) {
		writeError(w, http.StatusUnauthorized, "Base.1.8.NoValidSession", "There is no valid session established with the implementation.", "Establish a session before attempting any operations.")
		return
	}
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	tok := hex.EncodeToString(raw)
	b.mu.Lock()
	b.nextSess++
	uri := sessionsPath + "/" + strconv.Itoa(b.nextSess)
	b.sessions[tok] = uri
	b.mu.Unlock()
	w.Header().Set("X-Auth-Token", tok)
	w.Header().Set("Location", uri)
	writeJSON(w, http.StatusCreated, map[string]any{"@odata.type": "#Session.v1_7_0.Session", "@odata.id": uri,
		"Id": strconv.Itoa(b.nextSess), "Name": "User Session", "UserName": *body.UserName})
}

func (b *BMC) logout(w http.ResponseWriter, r *http.Request, path string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for tok, uri := range b.sessions {
		if uri == path {
			delete(b.sessions, tok)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	writeError(w, http.StatusNotFound, "Base.1.8.ResourceMissingAtURI", fmt.Sprintf("The resource at the URI '%s' was not found.", path), "")
}

// reset carries out ComputerSystem.Reset.
func (b *BMC) reset(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "Base.1.8.MalformedJSON", "The request body submitted was malformed JSON and could not be parsed by the receiving service.", "Ensure that the request body is valid JSON and resubmit the request.")
		return
	}
	v, present := body["ResetType"]
	if !present {
		writeError(w, http.StatusBadRequest, "Base.1.8.ActionParameterMissing", "The action ComputerSystem.Reset requires the parameter ResetType to be present in the request body.", "Supply the action with the required parameter in the request body when the request is resubmitted.")
		return
	}
	rt, _ := v.(string)
	b.mu.Lock()
	defer b.mu.Unlock()
	if !slices.Contains(b.allowedLocked(), rt) {
		writeError(w, http.StatusBadRequest, "Base.1.8.ActionParameterValueNotInList",
			fmt.Sprintf("The value '%v' for the parameter ResetType in the action ComputerSystem.Reset is not in the list of acceptable values.", v),
			"Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed.")
		return
	}
	if b.fault == RefuseReset {
		writeError(w, http.StatusBadRequest, "Base.1.8.ResourceInUse",
			"The change to the requested resource failed because the resource is in use or in transition.",
			"Remove the condition and resubmit the request if the operation failed.")
		return
	}
	b.settleLocked()
	now := b.opt.Clock.Now()
	switch rt {
	case "On", "ForceOn":
		b.power, b.pending = "On", nil
	case "ForceOff", "GracefulShutdown":
		b.power, b.pending = "Off", nil
	case "PowerCycle":
		// DSP2046: power off, then on, done by the service itself.
		b.power, b.pending = "Off", &powerChange{at: now.Add(b.opt.CycleOff), state: "On"}
	case "PushPowerButton":
		if b.power == "On" {
			b.power = "Off"
		} else {
			b.power = "On"
		}
		b.pending = nil
	}
	b.resets = append(b.resets, rt)
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("OData-Version", "4.0")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeError answers in the shape of DSP0266 9.8: error.code, message and
// @Message.ExtendedInfo from the Base registry.
func writeError(w http.ResponseWriter, status int, id, msg, resolution string) {
	info := map[string]any{"@odata.type": "#Message.v1_1_2.Message", "MessageId": id, "Message": msg, "Severity": "Warning", "MessageSeverity": "Warning"}
	if resolution != "" {
		info["Resolution"] = resolution
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code":                  "Base.1.8.GeneralError",
		"message":               "A general error has occurred. See ExtendedInfo for more information.",
		"@Message.ExtendedInfo": []any{info},
	}})
}
