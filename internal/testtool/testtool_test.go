package testtool

import (
	"os"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that notes a skip or a failure and stops the
// goroutine as the real ones do.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.skipped = args[0].(string)
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) {
	r.failed = args[0].(string)
	runtime.Goexit()
}

func need(t *testing.T, pkg string, names ...string) (*recorder, string) {
	r := &recorder{TB: t}
	var path string
	done := make(chan struct{})
	go func() {
		defer close(done)
		path = Need(r, pkg, names...)
	}()
	<-done
	return r, path
}

func TestNeedFindsAProgram(t *testing.T) {
	sh, err := os.Executable() // any program that surely exists: the test binary
	if err != nil {
		t.Fatal(err)
	}
	r, path := need(t, "none", "restartinator-no-such-tool", sh)
	if path != sh || r.skipped != "" || r.failed != "" {
		t.Fatalf("path %q, skipped %q, failed %q; want %q found", path, r.skipped, r.failed, sh)
	}
}

func TestNeedSkipsLocallyAndFailsInCI(t *testing.T) {
	t.Setenv("CI", "")
	r, _ := need(t, "ipmitool", "restartinator-no-such-tool")
	if r.failed != "" || !strings.Contains(r.skipped, "install Debian's ipmitool") {
		t.Fatalf("without CI: skipped %q, failed %q", r.skipped, r.failed)
	}
	t.Setenv("CI", "true")
	r, _ = need(t, "ipmitool", "restartinator-no-such-tool")
	if r.skipped != "" || !strings.Contains(r.failed, "install Debian's ipmitool") {
		t.Fatalf("with CI=true: skipped %q, failed %q", r.skipped, r.failed)
	}
}
