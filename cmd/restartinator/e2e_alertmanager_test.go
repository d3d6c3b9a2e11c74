package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/restartinator/restartinator/internal/testtool"
)

func metricValue(t *testing.T, addr, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1 // a failed poll; callers poll again
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	m := regexp.MustCompile(regexp.QuoteMeta(series) + ` (\S+)`).FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestAlertmanagerCyclesOnceAcrossRepeats runs Debian's real Alertmanager
// against the real binary: a firing alert cycles the plug once, however
// often Alertmanager repeats it, and the resolved notification does nothing.
func TestAlertmanagerCyclesOnceAcrossRepeats(t *testing.T) {
	am := testtool.Need(t, "prometheus-alertmanager", "prometheus-alertmanager")
	r := newCycleRigOff(t, "1s")
	_, addr, logs := startBinary(t, "--config.file", r.cfgPath)

	dir := t.TempDir()
	amCfg := filepath.Join(dir, "alertmanager.yml")
	os.WriteFile(amCfg, []byte(fmt.Sprintf(`route:
  receiver: restartinator
  group_by: [device]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: restartinator
    webhook_configs:
      - url: http://%s/webhook
        send_resolved: true
`, addr)), 0o600)
	cmd := exec.Command(am, "--config.file="+amCfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:0", "--cluster.listen-address=")
	// It binds a port of the kernel's choosing and logs it: no port picked
	// in advance that another process could take first.
	amLog := &lockedBuffer{}
	cmd.Stderr = amLog
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var amURL string
	waitFor(t, "Alertmanager to say where it listens", func() bool {
		m := toolListenRE.FindStringSubmatch(amLog.String())
		if m != nil {
			amURL = "http://" + m[1]
		}
		return m != nil
	})
	waitFor(t, "Alertmanager to be ready", func() bool {
		resp, err := http.Get(amURL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	startsAt := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	postAlert := func(endsAt string) {
		body := fmt.Sprintf(`[{"labels": {"alertname": "RestartinatorDeviceDown", "device": "cam"}, "startsAt": %q%s}]`, startsAt, endsAt)
		resp, err := http.Post(amURL+"/api/v2/alerts", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("posting the alert: %s", resp.Status)
		}
	}
	const cycles = `restartinator_power_cycles_total{device="cam",trigger="webhook"}`
	const requests = `restartinator_webhook_requests_total{status="200"}`
	postAlert("")
	waitFor(t, "the webhook to cycle the plug", func() bool { return metricValue(t, addr, cycles) == 1 })
	// Keep the alert firing through several repeats (Alertmanager resends
	// every repeat_interval); each must be recognised as the same episode.
	seen := metricValue(t, addr, requests)
	for i := 0; metricValue(t, addr, requests) < seen+3; i++ {
		postAlert("")
		waitFor(t, "a repeat notification", func() bool { return metricValue(t, addr, requests) > seen+float64(i) })
	}
	if got := metricValue(t, addr, cycles); got != 1 {
		t.Fatalf("%g cycles across Alertmanager's repeats, want 1\n%s", got, logs.String())
	}
	// Resolve it: the resolved notification arrives and acts on nothing.
	before := metricValue(t, addr, requests)
	postAlert(fmt.Sprintf(`, "endsAt": %q`, time.Now().UTC().Format(time.RFC3339)))
	waitFor(t, "the resolved notification", func() bool { return metricValue(t, addr, requests) > before })
	if got := metricValue(t, addr, cycles); got != 1 {
		t.Errorf("%g cycles after the resolved notification, want 1", got)
	}
	waitFor(t, "the outlet to be on", func() bool { return r.relayOn(t) })
}
