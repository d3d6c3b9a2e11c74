package main

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestReadStatOfSelf(t *testing.T) {
	st, err := readStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.rssKB == 0 || st.hwmKB < st.rssKB || st.numThreads == 0 {
		t.Fatalf("implausible /proc figures: %+v", st)
	}
}

// A schedule of one probe per interval per port, laid out by hand.
func TestScheduleFigures(t *testing.T) {
	f := &farm{}
	iv := time.Second
	for p := 0; p < 4; p++ {
		r := &portRec{}
		// Port p probes at p*250ms + k*interval; port 3 is 20 ms late once.
		for k := 0; k < 10; k++ {
			ts := time.Duration(p)*250*time.Millisecond + time.Duration(k)*iv
			if p == 3 && k >= 5 {
				ts += 20 * time.Millisecond
			}
			r.ts = append(r.ts, ts)
		}
		f.recs = append(f.recs, r)
	}
	s := f.schedule(4, iv, 2*time.Second, 7*time.Second)
	if s.Scheduled != 20 || s.Achieved != 20 {
		t.Fatalf("scheduled %v achieved %d, want 20 and 20", s.Scheduled, s.Achieved)
	}
	if s.PerSecExpected != 4 || s.PerSecMin != 4 || s.PerSecMax != 4 || s.PerSecStddev != 0 {
		t.Fatalf("per second: %+v", s)
	}
	if s.LateMax != 20*time.Millisecond || s.LateP50 != 0 || s.DevicesWithoutAnyProbe != 0 {
		t.Fatalf("gaps: %+v", s)
	}
	// 20 gaps (each in-window probe has one before it), 20 ms extra in total.
	if s.Gaps != 20 || s.DriftPerPeriod != time.Millisecond {
		t.Fatalf("gaps %d drift %s, want 20 and 1ms", s.Gaps, s.DriftPerPeriod)
	}
}

func TestFarmCountsAccepts(t *testing.T) {
	f, err := newFarm(3)
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	for _, p := range f.ports {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.total() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := f.total(); n != 3 {
		t.Fatalf("counted %d accepts, want 3", n)
	}
}

func TestPaceKeepsRate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var n atomic.Int64
	done := pace(ctx, 200, 2, func(int64) { n.Add(1) })
	// 100 slots in 0.5 s; generous bounds for a loaded machine.
	if done < 20 || done > 102 || done != n.Load() {
		t.Fatalf("ran %d slots in 0.5 s at 200/s", done)
	}
}

func TestWebhookPayloadShape(t *testing.T) {
	b := string(webhookPayload(2))
	for _, want := range []string{`"version":"4"`, `"status":"firing"`, `"device":"dev001"`, `"fingerprint":"`} {
		if !strings.Contains(b, want) {
			t.Fatalf("payload lacks %s: %s", want, b)
		}
	}
}

func TestMetricValue(t *testing.T) {
	body := []byte("# HELP x\nrestartinator_probes_total{type=\"http\"} 3\nrestartinator_probes_total{type=\"tcp\"} 42\n")
	if v := metricValue(body, `restartinator_probes_total{type="tcp"}`); v != 42 {
		t.Fatalf("got %v", v)
	}
	if n := countSeries(body); n != 2 {
		t.Fatalf("series %d", n)
	}
}
