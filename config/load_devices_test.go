package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fleetYAML is the shape bench/cmd/benchrun writes: n devices in flow
// style, one a line.
func fleetYAML(n int) []byte {
	var b strings.Builder
	b.WriteString("global:\n  state_file: /tmp/state.json\n  guard: {max_failing_ratio: 1}\n")
	b.WriteString("defaults:\n  check_interval: 10s\n  retry_interval: 10s\n  timeout: 2s\n")
	b.WriteString("devices:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {name: d%06d, host: 127.0.0.1, port: %d, mode: monitor}\n", i+1, 20000+i%10000)
	}
	return []byte(b.String())
}

// byBatch reports whether decodeYAML takes the batch path for data, and
// its result.
func byBatch(data []byte) (*Config, bool) {
	b, ok := cutDeviceBlock(data)
	if !ok || len(b.items) == 0 {
		return nil, false
	}
	return decodeYAMLByBatch(b)
}

// sameAsWhole fails unless decodeYAML and the whole-document decode give
// the same config, or the same error.
func sameAsWhole(t *testing.T, data []byte) {
	t.Helper()
	got, gotErr := decodeYAML(data)
	want, wantErr := decodeWholeYAML(data)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("error by batch:\n  %v\nwhole:\n  %v", gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("configs differ:\nby batch: %+v\nwhole:    %+v", got, want)
	}
}

func TestDevicesByBatchSameAsWhole(t *testing.T) {
	many := func(n int, item string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, item, i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		name, yaml string
		batch      bool // the fast path decodes it
	}{
		{"fleet", string(fleetYAML(deviceBatch*2 + 7)), true},
		{"block entries, nested lists, comments, keys after", `
global: {state_file: s.json}
# the devices
devices:
  - name: modem
    host: 192.168.1.1
    probes:
      - {type: tcp, target: "1.1.1.1:53"}
      - type: tcp
        target: 8.8.8.8:53
    require: any
# a comment at column 0 between entries
  - name: router   # after a value
    host: 10.0.0.1
    depends_on:
    - modem
    schedule: 0 4 * * *
    check_interval: 1m

defaults:
  retries: 5
plugs:
  - {name: p, type: kasa, host: 127.0.0.1}
`, true},
		{"entries at column 0", "devices:\n- name: a\n  host: h\n-   name: b\n    host: h\nwebhook: {max_body_bytes: 10}\n", true},
		{"CRLF", "devices:\r\n  - name: a\r\n    host: h\r\n  - {name: b, host: h}\r\n", true},
		{"literal block inside an entry", "devices:\n  - name: a\n    host: h\n    probe:\n      type: http\n      url: http://h/\n      body_regexp: |\n        ok\n        - not an entry\n", true},
		{"anchor and alias within a batch", "devices:\n  - &x {name: a, host: h}\n  - {name: b, host: h, port: 1}\n", true},
		{"alias across batches falls back", "devices:\n  - {name: a, host: &h h1}\n" + many(deviceBatch+1, "  - {name: x%d, host: *h}\n"), false},
		{"anchor outside the list", "defaults: &d {retries: 2}\ndevices:\n  - {name: a, host: h}\n", true},
		{"alias of an anchor outside the list falls back", "global: {state_file: &h s.json}\ndevices:\n  - {name: a, host: *h}\n", false},
		{"flow list falls back", "devices: [{name: a, host: h}]\n", false},
		{"the key twice falls back", "devices:\n  - {name: a, host: h}\ndevices:\n  - {name: b, host: h}\n", false},
		{"document marker falls back", "---\ndevices:\n  - {name: a, host: h}\n", false},
		{"unknown key falls back", "devices:\n  - {name: a, host: h}\n  - {name: b, hots: h}\n", false},
		{"unknown key late in a long list", string(fleetYAML(deviceBatch+40)) + "  - {name: z, host: h, colour: red}\n", false},
		{"bad indentation falls back", "devices:\n    - {name: a, host: h}\n  - {name: b, host: h}\n", false},
		{"a tab falls back", "devices:\n\t- {name: a, host: h}\n", false},
		{"a lone CR breaks a line: falls back", "devices:\n# x\rglobal: {}\n  - {name: a, host: h}\n", false},
		{"NEL breaks a line: falls back", "devices:\n  - {name: a, host: h}\u0085  - {name: b, host: h}\n", false},
		{"empty list", "devices:\nglobal: {dry_run: true}\n", false},
		{"no devices", "global: {dry_run: true}\n", false},
		{"empty document", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.yaml)
			if _, ok := byBatch(data); ok != tc.batch {
				t.Errorf("decoded by batch: %v, want %v", ok, tc.batch)
			}
			sameAsWhole(t, data)
		})
	}
}

// Every example and test config decodes the same either way.
func TestDevicesByBatchSameAsWholeOnFiles(t *testing.T) {
	var files []string
	for _, glob := range []string{"testdata/*.yml", "../examples/*.yml", filepath.Join(fixtures, "*.yml"), filepath.Join(fixtures, "*.yaml")} {
		m, _ := filepath.Glob(glob)
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d config files", len(files))
	}
	batched := 0
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := byBatch(data); ok {
			batched++
		}
		t.Run(filepath.Base(p), func(t *testing.T) { sameAsWhole(t, data) })
	}
	if batched == 0 {
		t.Error("no config file took the batch path")
	}
}

// A device list error still names the line and the key, wherever the
// entry is in a long list.
func TestDevicesByBatchErrorNamesLine(t *testing.T) {
	data := append(fleetYAML(1500), "  - {name: z, host: h, colour: red}\n"...)
	line := strings.Count(string(data), "\n")
	_, err := Load(data, "fleet.yml")
	want := fmt.Sprintf(`fleet.yml: line %d: unknown key "colour"`, line)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want it to contain %q", err, want)
	}
	data = append(fleetYAML(1500), "  - {name: d000007, host: h}\n"...)
	if _, err := Load(data, "fleet.yml"); err == nil || !strings.Contains(err.Error(), `device "d000007" is defined twice`) {
		t.Fatalf("got %v, want the duplicate named", err)
	}
}

// FuzzDevicesByBatch: whenever the batch path decodes a document, the
// whole-document decode gives the same config.
func FuzzDevicesByBatch(f *testing.F) {
	f.Add(fleetYAML(3))
	f.Add([]byte("devices:\n- name: a\n  probes:\n  - {type: tcp}\n- {name: b}\nglobal: {dry_run: true}\n"))
	f.Add([]byte("devices:\n  - &a {name: a}\n  - *a\n"))
	f.Add([]byte("devices: # c\n  - name: a\n    body: |\n      x\n# c\n  - name: b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := byBatch(data)
		if !ok {
			return
		}
		want, err := decodeWholeYAML(data)
		if err != nil {
			t.Fatalf("decoded by batch, but the whole document fails: %v", err)
		}
		want.Format = ""
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("configs differ:\nby batch: %+v\nwhole:    %+v", got, want)
		}
	})
}

// BenchmarkDecodeFleet decodes benchrun's config shape. Besides time and
// allocations it reports the peak of the heap's live objects during a decode
// (sampled every 200 µs) and what the loaded config keeps, per device.
func BenchmarkDecodeFleet(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		data := fleetYAML(n)
		for _, path := range []struct {
			name string
			load func([]byte) (*Config, error)
		}{
			{"by-batch", decodeYAML},
			{"whole", decodeWholeYAML},
		} {
			b.Run(fmt.Sprintf("%s/devices=%d", path.name, n), func(b *testing.B) {
				var peak, kept uint64
				for b.Loop() {
					runtime.GC()
					base := heapObjects()
					var top atomic.Uint64
					stop := make(chan struct{})
					done := make(chan struct{})
					go func() {
						defer close(done)
						tick := time.NewTicker(200 * time.Microsecond)
						defer tick.Stop()
						for {
							if h := heapObjects(); h > top.Load() {
								top.Store(h)
							}
							select {
							case <-stop:
								return
							case <-tick.C:
							}
						}
					}()
					c, err := path.load(data)
					close(stop)
					<-done
					if err != nil {
						b.Fatal(err)
					}
					runtime.GC()
					peak = max(peak, top.Load()-min(base, top.Load()))
					kept = heapObjects() - min(base, heapObjects())
					runtime.KeepAlive(c)
				}
				b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
				b.ReportMetric(float64(kept)/float64(n), "kept-B/device")
			})
		}
	}
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// Devices that name no probe share one tcp probe, which loading never
// writes (concurrent loads under -race would see it).
func TestDefaultProbeSharedAndUnchanged(t *testing.T) {
	data := []byte("devices:\n  - {name: a, host: h, port: 1, mode: monitor}\n  - {name: b, host: h, port: 2, mode: monitor}\n  - {name: c, host: h, port: 3, mode: monitor, probe: {type: TCP}}\n")
	done := make(chan *Config, 2)
	for range 2 {
		go func() {
			c, err := Load(data, "x")
			if err != nil {
				t.Error(err)
			}
			done <- c // nil on an error: the test stops below
		}()
	}
	for range 2 {
		c := <-done
		if c == nil {
			t.FailNow()
		}
		a, b, own := c.Device("a"), c.Device("b"), c.Device("c")
		if a.Probe != defaultProbe || b.Probe != defaultProbe || own.Probe == defaultProbe {
			t.Errorf("probes %p %p %p, want the first two the shared %p", a.Probe, b.Probe, own.Probe, defaultProbe)
		}
		if own.Probe.Type != ProbeTCP {
			t.Errorf("device c: probe type %q", own.Probe.Type)
		}
	}
	if !reflect.DeepEqual(*defaultProbe, ProbeConfig{Type: ProbeTCP}) {
		t.Errorf("the shared probe was written: %+v", *defaultProbe)
	}
}
