package reliability

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// enabled is the gate: the suite takes minutes, so plain `go test ./...`
// skips it.
func enabled(t *testing.T) {
	t.Helper()
	if os.Getenv("RESTARTINATOR_RELIABILITY") != "1" {
		t.Skip("reliability suite: set RESTARTINATOR_RELIABILITY=1 (make reliability)")
	}
}

// scaled is n times $RESTARTINATOR_RELIABILITY_SCALE (default 1, at least
// 1): a quick local run can use 0.1. The summary prints the counts used.
func scaled(n int) int {
	f, err := strconv.ParseFloat(os.Getenv("RESTARTINATOR_RELIABILITY_SCALE"), 64)
	if err != nil || f <= 0 {
		return n
	}
	return max(1, int(float64(n)*f))
}

// figures are what the tests measured, printed together at the end so the
// closing note of issue 9 can quote them.
var figures struct {
	mu    sync.Mutex
	lines map[string][]string
}

// report records one figure line under the test's name and logs it.
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	figures.mu.Lock()
	defer figures.mu.Unlock()
	if figures.lines == nil {
		figures.lines = map[string][]string{}
	}
	name := strings.SplitN(t.Name(), "/", 2)[0]
	figures.lines[name] = append(figures.lines[name], line)
}

func TestMain(m *testing.M) {
	start := time.Now()
	code := m.Run()
	figures.mu.Lock()
	if len(figures.lines) > 0 {
		names := make([]string, 0, len(figures.lines))
		for n := range figures.lines {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Printf("\n=== reliability summary (%s, %s)\n", time.Since(start).Round(time.Second), map[bool]string{true: "PASS", false: "FAIL"}[code == 0])
		for _, n := range names {
			fmt.Printf("%s\n", n)
			for _, l := range figures.lines[n] {
				fmt.Printf("    %s\n", l)
			}
		}
		fmt.Printf("=== end of reliability summary\n")
	}
	figures.mu.Unlock()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binPath   string
	binDir    string
	buildErr  error
)

// binary is the real restartinator, built once with the race detector (or
// $RESTARTINATOR_BIN, to try a prebuilt one).
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("RESTARTINATOR_BIN"); p != "" {
			binPath = p
			return
		}
		binDir, buildErr = os.MkdirTemp("", "restartinator-reliability")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "restartinator")
		start := time.Now()
		out, err := exec.Command("go", "build", "-race", "-o", binPath, "github.com/restartinator/restartinator/cmd/restartinator").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("%v\n%s", err, out)
			return
		}
		fmt.Printf("built %s in %s\n", binPath, time.Since(start).Round(time.Millisecond))
	})
	if buildErr != nil {
		t.Fatalf("building the binary: %v", buildErr)
	}
	return binPath
}
