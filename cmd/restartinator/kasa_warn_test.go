package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/testlog"
)

func TestWarnShortCountdowns(t *testing.T) {
	c, err := config.Load([]byte(`plugs:
  - {name: k, host: 192.0.2.1}
  - {name: quiet, host: 192.0.2.2, flip_back: "off"}
devices:
  - {name: fast, host: a, port: 1, plug: k, cycle_time: 2s}
  - {name: slow, host: b, port: 1, plug: k, cycle_time: 10s}
  - {name: nobackup, host: c, port: 1, plug: quiet, cycle_time: 1s}
`), "t.yml")
	if err != nil {
		t.Fatal(err)
	}
	var buf testlog.Buffer
	warnShortCountdowns(slog.New(slog.NewTextHandler(&buf, nil)), c)
	out := buf.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "device=fast") || !strings.Contains(out, "flip_back_timer=5s") {
		t.Fatalf("no warning for the 2 s device:\n%s", out)
	}
	if strings.Contains(out, "device=slow") || strings.Contains(out, "device=nobackup") {
		t.Fatalf("warned about a device it should not:\n%s", out)
	}
}
