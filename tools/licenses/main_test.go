package main

import (
	"os"
	"path/filepath"
	"testing"
)

// Debian's copies of the common licenses are the real texts.
func TestRecogniseRealLicenseTexts(t *testing.T) {
	dir := "/usr/share/common-licenses"
	for file, want := range map[string]struct {
		id         string
		compatible bool
	}{
		"Apache-2.0": {"Apache-2.0", true},
		"MPL-2.0":    {"MPL-2.0", true},
		"BSD":        {"BSD-3-Clause", true},
		"GPL-3":      {"GPL", false},
		"GPL-2":      {"GPL", false},
		"LGPL-2.1":   {"LGPL", false},
		"LGPL-3":     {"LGPL", false},
	} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Skipf("no %s: %v (Debian's base-files ships them)", file, err)
		}
		k, ok := recognise(string(b))
		if !ok || k.id != want.id || k.compatible != want.compatible {
			t.Errorf("%s: recognised as %q (compatible %v, found %v), want %q (%v)", file, k.id, k.compatible, ok, want.id, want.compatible)
		}
	}
	if k, ok := recognise("All rights reserved. Do not copy."); ok {
		t.Errorf("a proprietary notice was recognised as %s", k.id)
	}
	mit := `Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal`
	if k, _ := recognise(mit); k.id != "MIT" {
		t.Errorf("MIT recognised as %q", k.id)
	}
}

// Every module linked into the binary today has a recognised, compatible
// license: a new dependency under GPL or without a license file fails here.
func TestLinkedModulesAreCompatible(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list for every release target")
	}
	// go list runs from the module root; t.Chdir goes back after the test,
	// so a second run (-count=2) starts from here again.
	t.Chdir("../..")
	deps, err := linked()
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) < 10 {
		t.Fatalf("only %d linked modules found; the listing is broken", len(deps))
	}
	found := false
	for i := range deps {
		classify(&deps[i])
		if !deps[i].ok {
			t.Errorf("%s %s: %s", deps[i].Path, deps[i].Version, deps[i].problem)
		}
		if deps[i].Path == "github.com/prometheus/common" {
			found = true
			if deps[i].Version != "v0.72.1" {
				t.Errorf("prometheus/common is %s, must stay v0.72.1", deps[i].Version)
			}
		}
	}
	if !found {
		t.Error("prometheus/common is not among the linked modules")
	}
}
