package main

import (
	"os"
	"strings"
	"testing"

	"github.com/restartinator/restartinator/actuator"
)

// Every registered plug type is in the README's table, the example config
// and plug --help, and nothing else is in the table: the registry is the one
// list.
func TestPlugTypesListedEverywhere(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Supported plugs\n")
	if !ok {
		t.Fatal("README has no Supported plugs section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	example, err := os.ReadFile("../../examples/restartinator.yml")
	if err != nil {
		t.Fatal(err)
	}
	help := helpOf(t, "plug")
	var rows int
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "| `") {
			rows++
		}
	}
	if names := actuator.DriverNames(); rows != len(names) {
		t.Errorf("README table has %d plug types, the registry %d (%v)", rows, len(names), names)
	}
	for _, d := range actuator.Drivers() {
		if !strings.Contains(section, "\n| `"+d.Name+"` |") {
			t.Errorf("README Supported plugs lacks a row for %s", d.Name)
		}
		if !strings.Contains(string(example), "type: "+d.Name) {
			t.Errorf("examples/restartinator.yml has no plug of type %s", d.Name)
		}
		if !strings.Contains(help, d.Name) {
			t.Errorf("plug --help does not name %s", d.Name)
		}
	}
}
