// Command licenses lists the licenses of the modules linked into the
// restartinator binary, checks that each is compatible with distributing
// the binary under Apache-2.0, and writes the NOTICE its Apache-licensed
// dependencies ask for.
//
//	go run ./tools/licenses -list THIRD_PARTY_LICENSES.md -notice NOTICE
//	go run ./tools/licenses -check
//
// The modules come from `go list -m -json all` (version and directory in
// the module cache); which of them are linked, from `go list -deps` of
// ./cmd/restartinator for every release target. Each module's license is
// read from its LICENSE (or COPYING, LICENCE) file and recognised by the
// license's own wording. Run `go mod download` first.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
)

// targets are the release targets; a module linked into any of them ships.
var targets = [][3]string{ // GOOS, GOARCH, GOARM
	{"linux", "amd64", ""}, {"linux", "arm64", ""}, {"linux", "arm", "7"}, {"linux", "arm", "6"},
	{"darwin", "arm64", ""}, {"windows", "amd64", ""},
}

// kind is a license this tool recognises.
type kind struct {
	id string
	// compatible: code under it may be linked into a binary distributed
	// under Apache-2.0 (the permissive licenses, and MPL-2.0, whose
	// file-level copyleft asks only that those files' source stay
	// available, which the module proxy does for unmodified modules).
	compatible bool
	match      func(text string) bool
}

func has(subs ...string) func(string) bool {
	return func(t string) bool {
		for _, s := range subs {
			if !strings.Contains(t, s) {
				return false
			}
		}
		return true
	}
}

// titled matches a license by its title, in the first words of the text:
// the GNU and Mozilla licenses name each other further down (GPL-3 section
// 13 names the Affero GPL, MPL-2.0 its "Secondary Licenses").
func titled(title string) func(string) bool {
	return func(t string) bool { return strings.Contains(t[:min(len(t), 400)], title) }
}

// kinds, in order: the copyleft ones by title first, then the permissive
// ones by their wording anywhere (some LICENSE files start with a preamble).
var kinds = []kind{
	{"AGPL-3.0", false, titled("gnu affero general public license")},
	{"LGPL", false, titled("gnu lesser general public license")},
	{"LGPL", false, titled("gnu library general public license")},
	{"GPL", false, titled("gnu general public license")},
	{"SSPL", false, titled("server side public license")},
	{"MPL-2.0", true, titled("mozilla public license version 2.0")},
	// EPL-2.0's copyleft is per file, like MPL-2.0's (the ASF's category B:
	// fine in binary form); Eclipse projects also offer EDL-1.0, a BSD-3.
	{"EPL-2.0", true, titled("eclipse public license - v 2.0")},
	{"EDL-1.0 (BSD-3-Clause)", true, titled("eclipse distribution license - v 1.0")},
	{"Apache-2.0", true, has("apache license", "version 2.0")},
	{"MIT", true, has("permission is hereby granted, free of charge, to any person obtaining a copy")},
	{"ISC", true, has("permission to use, copy, modify, and", "distribute this software for any purpose with or without fee is hereby granted")},
	{"BSD-3-Clause", true, func(t string) bool {
		return strings.Contains(t, "redistribution and use in source and binary forms") &&
			(strings.Contains(t, "neither the name") || strings.Contains(t, "may not be used to endorse"))
	}},
	{"BSD-2-Clause", true, has("redistribution and use in source and binary forms")},
	{"Unlicense", true, has("this is free and unencumbered software released into the public domain")},
	{"CC0-1.0", true, has("cc0 1.0 universal")},
}

// module is one entry of `go list -m -json all`.
type module struct {
	Path    string
	Version string
	Dir     string
	Main    bool
	Replace *module
}

// dep is a linked module and what its license files say.
type dep struct {
	module
	files    []string // license file names, relative to Dir
	licenses []string
	notice   string
	ok       bool
	problem  string
}

var licenseFile = regexp.MustCompile(`(?i)^(licen[cs]e|copying|unlicense|edl-v\d+|epl-v\d+)([.-].*)?$`)

func main() {
	list := flag.String("list", "", "write the list of linked modules and their licenses (Markdown) to this file")
	notice := flag.String("notice", "", "write the NOTICE file (the project's notice, then its dependencies' NOTICE files) here")
	check := flag.Bool("check", false, "exit 1 if a linked module's license is missing, unknown or incompatible")
	flag.Parse()
	deps, err := linked()
	if err != nil {
		fmt.Fprintln(os.Stderr, "licenses:", err)
		os.Exit(2)
	}
	for i := range deps {
		classify(&deps[i])
	}
	if *list != "" {
		if err := writeFile(*list, func(w io.Writer) error { return writeList(w, deps) }); err != nil {
			fmt.Fprintln(os.Stderr, "licenses:", err)
			os.Exit(2)
		}
	}
	if *notice != "" {
		if err := writeFile(*notice, func(w io.Writer) error { return writeNotice(w, deps) }); err != nil {
			fmt.Fprintln(os.Stderr, "licenses:", err)
			os.Exit(2)
		}
	}
	bad := 0
	for _, d := range deps {
		if !d.ok {
			bad++
			fmt.Fprintf(os.Stderr, "licenses: %s %s: %s\n", d.Path, d.Version, d.problem)
		}
	}
	if *check {
		if bad > 0 {
			fmt.Fprintf(os.Stderr, "licenses: %d of %d linked modules need a look (above): replace the module, or, after reading its license, teach tools/licenses its wording\n", bad, len(deps))
			os.Exit(1)
		}
		fmt.Printf("licenses: all %d modules linked into restartinator have licenses compatible with Apache-2.0\n", len(deps))
	}
}

// linked returns the modules linked into the binary on any release target,
// sorted by path, without the main module.
func linked() ([]dep, error) {
	out, err := goCmd(nil, "list", "-m", "-json", "all")
	if err != nil {
		return nil, err
	}
	all := map[string]module{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var m module
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list -m -json all: %w", err)
		}
		if m.Replace != nil {
			m.Version, m.Dir = m.Replace.Version, m.Replace.Dir
		}
		all[m.Path] = m
	}
	used := map[string]bool{}
	for _, t := range targets {
		env := []string{"GOOS=" + t[0], "GOARCH=" + t[1], "GOARM=" + t[2], "CGO_ENABLED=0"}
		out, err := goCmd(env, "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", "./cmd/restartinator")
		if err != nil {
			return nil, err
		}
		for _, p := range strings.Fields(string(out)) {
			used[p] = true
		}
	}
	var deps []dep
	for p := range used {
		m, ok := all[p]
		if !ok {
			return nil, fmt.Errorf("module %s is linked but not in go list -m all", p)
		}
		if m.Main {
			continue
		}
		deps = append(deps, dep{module: m})
	}
	sort.Slice(deps, func(i, j int) bool { return deps[i].Path < deps[j].Path })
	return deps, nil
}

func goCmd(env []string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// classify reads d's license and NOTICE files and decides.
func classify(d *dep) {
	if d.Dir == "" {
		d.problem = "not in the module cache: run go mod download"
		return
	}
	entries, err := os.ReadDir(d.Dir)
	if err != nil {
		d.problem = err.Error()
		return
	}
	seen := map[string]bool{}
	allOK := true
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if strings.EqualFold(e.Name(), "NOTICE") || strings.EqualFold(e.Name(), "NOTICE.txt") || strings.EqualFold(e.Name(), "NOTICE.md") {
			b, err := os.ReadFile(filepath.Join(d.Dir, e.Name()))
			if err == nil {
				d.notice = strings.TrimSpace(string(b))
			}
			continue
		}
		if !licenseFile.MatchString(e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d.Dir, e.Name()))
		if err != nil {
			d.problem = err.Error()
			return
		}
		d.files = append(d.files, e.Name())
		k, found := recognise(string(b))
		if !found {
			d.problem = fmt.Sprintf("%s: license not recognised", e.Name())
			allOK = false
			continue
		}
		if !seen[k.id] {
			seen[k.id] = true
			d.licenses = append(d.licenses, k.id)
		}
		if !k.compatible {
			d.problem = fmt.Sprintf("%s: %s is not compatible with distributing the binary under Apache-2.0", e.Name(), k.id)
			allOK = false
		}
	}
	switch {
	case len(d.files) == 0:
		d.problem = "no LICENSE, LICENCE or COPYING file"
	case allOK:
		d.ok = true
	}
}

var spaces = regexp.MustCompile(`[\s*#/>]+`)

// recognise finds the license a text is, by its wording, ignoring case,
// line breaks and comment markers.
func recognise(text string) (kind, bool) {
	t := spaces.ReplaceAllString(strings.ToLower(text), " ")
	for _, k := range kinds {
		if k.match(t) {
			return k, true
		}
	}
	return kind{}, false
}

func writeFile(path string, fn func(io.Writer) error) error {
	var b bytes.Buffer
	if err := fn(&b); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func writeList(w io.Writer, deps []dep) error {
	fmt.Fprintln(w, "# Third-party licenses")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "The Go modules linked into the restartinator binary on its release targets, with the")
	fmt.Fprintln(w, "licenses their license files state. Generated by `make licenses` (tools/licenses) from")
	fmt.Fprintln(w, "`go list -m -json all`, `go list -deps` and each module's files in the module cache;")
	fmt.Fprintln(w, "every one is compatible with distributing the binary under Apache-2.0 (see LICENSE).")
	fmt.Fprintln(w, "Modules used only by tests and tools are not distributed and not listed.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| module | version | license | file |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	fmt.Fprintf(w, "| Go standard library and runtime | %s | BSD-3-Clause | $GOROOT/LICENSE |\n", runtime.Version())
	for _, d := range deps {
		lic := strings.Join(d.licenses, ", ")
		if !d.ok {
			lic += " (" + d.problem + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", d.Path, d.Version, lic, strings.Join(d.files, ", "))
	}
	return nil
}

// noticeHeader is the project's own notice.
const noticeHeader = `restartinator
Copyright 2026 The restartinator Authors

This product includes software developed by the restartinator authors.
Licensed under the Apache License, Version 2.0 (see LICENSE).

The binary links the Go modules listed in THIRD_PARTY_LICENSES.md. The
NOTICE files of those that have one follow, as their licenses ask.
`

func writeNotice(w io.Writer, deps []dep) error {
	fmt.Fprint(w, noticeHeader)
	var with []dep
	for _, d := range deps {
		if d.notice != "" {
			with = append(with, d)
		}
	}
	slices.SortFunc(with, func(a, b dep) int { return strings.Compare(a.Path, b.Path) })
	for _, d := range with {
		fmt.Fprintf(w, "\n--- %s %s ---\n\n%s\n", d.Path, d.Version, d.notice)
	}
	return nil
}
