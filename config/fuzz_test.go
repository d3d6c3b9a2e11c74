package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes through format detection and all three
// decoders: any input must give a config or an error, never a panic, and a
// config that loads must convert and load again.
func FuzzLoad(f *testing.F) {
	for _, glob := range []string{"testdata/*.yml", "testdata/*.json", "testdata/*.ini", filepath.Join(fixtures, "*")} {
		files, _ := filepath.Glob(glob)
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("[general]\nsingle_run = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Load(data, "fuzz")
		if err != nil {
			return
		}
		// Shown redacted (RedactURL on every URL) without error.
		if _, err := c.Marshal(false); err != nil {
			t.Fatalf("loaded config does not marshal redacted: %v", err)
		}
		out, err := c.Marshal(true)
		if err != nil {
			t.Fatalf("loaded config does not marshal: %v", err)
		}
		if _, err := Load(out, "fuzz-converted"); err != nil {
			t.Fatalf("converted config does not load: %v\n%s", err, out)
		}
	})
}
