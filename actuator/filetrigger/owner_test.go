package filetrigger

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/config"
)

// A directory every user may write, without the sticky bit, is refused
// when the triggers load: anyone could create or replace the file there.
func TestWorldWritableDirWithoutStickyRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := New([]config.FileTrigger{hostResetTrigger(filepath.Join(dir, "indicator"), time.Second)}, Options{
		HostReset: func(context.Context) error { return nil },
	})
	if err == nil || !strings.Contains(err.Error(), "is writable by every user and has no sticky bit (mode -rwxrwxrwx)") {
		t.Fatalf("err = %v", err)
	}
	// With the sticky bit (like /tmp) the directory is allowed.
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if _, err := New([]config.FileTrigger{hostResetTrigger(filepath.Join(dir, "indicator"), time.Second)}, Options{
		HostReset: func(context.Context) error { return nil },
	}); err != nil {
		t.Fatalf("sticky directory refused: %v", err)
	}
}

// In a sticky world-writable directory such as /tmp, a file another user
// created does not reset the host: it is removed and the refusal logged.
// The service's own (or root's) file acts.
func TestIndicatorOwnedByAnotherUserIgnored(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a file owned by another user")
	}
	dir := filepath.Join(t.TempDir(), "tmp")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pywatchdog-fault-indicator")
	resets := 0
	w, err := New([]config.FileTrigger{hostResetTrigger(path, time.Second)}, Options{
		HostReset: func(context.Context) error { resets++; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	touch(t, path)
	if err := os.Lchown(path, 65534, 65534); err != nil { // nobody
		t.Fatal(err)
	}
	acted, err := w.CheckOnce(context.Background())
	if acted || resets != 0 {
		t.Fatal("a file owned by another user reset the host")
	}
	if err == nil || !strings.Contains(err.Error(), "is owned by uid 65534, neither root nor this service") || !strings.Contains(err.Error(), "(removed)") {
		t.Fatalf("err = %v", err)
	}
	if exists(path) {
		t.Error("the foreign file was left in place")
	}
	touch(t, path) // root's own
	if acted, err := w.CheckOnce(context.Background()); !acted || err != nil || resets != 1 {
		t.Fatalf("root's indicator: acted %v, err %v, resets %d", acted, err, resets)
	}
}
