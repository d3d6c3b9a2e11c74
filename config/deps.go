package config

import (
	"fmt"
	"slices"
	"strings"
)

// checkDependencies checks every depends_on: the names exist, a device
// does not depend on itself, and the graph has no cycle (a cycle would
// block its devices for ever once one of them fails). names are the
// devices defined.
func (c *Config) checkDependencies(names map[string]bool) []error {
	var errs []error
	for i := range c.Devices {
		d := &c.Devices[i]
		seen := map[string]bool{}
		for _, p := range d.DependsOn {
			switch {
			case p == d.Name:
				errs = append(errs, fmt.Errorf("device %q%s: depends_on names the device itself", d.Name, c.deviceLine(d.Name)))
			case !names[p]:
				errs = append(errs, fmt.Errorf("device %q%s: depends_on: device %q is not defined", d.Name, c.deviceLine(d.Name), p))
			case seen[p]:
				errs = append(errs, fmt.Errorf("device %q%s: depends_on names %q twice", d.Name, c.deviceLine(d.Name), p))
			}
			seen[p] = true
		}
	}
	if len(errs) > 0 {
		return errs
	}
	if cyc := c.dependencyCycle(); cyc != nil {
		// cyc runs a -> b -> ... -> a: name the first two devices with their
		// lines, and the whole loop.
		a, b := cyc[0], cyc[1]
		errs = append(errs, fmt.Errorf("device %q%s depends on device %q%s, which depends back on it (%s): depends_on must not form a loop; remove one of these entries",
			a, c.deviceLine(a), b, c.deviceLine(b), strings.Join(cyc, " -> ")))
	}
	return errs
}

// dependencyCycle returns one loop of the depends_on graph as the names
// along it, the first repeated at the end, or nil.
func (c *Config) dependencyCycle() []string {
	deps := map[string][]string{}
	for _, d := range c.Devices {
		deps[d.Name] = d.DependsOn
	}
	const (
		unseen = iota
		onPath
		done
	)
	mark := map[string]int{}
	var path []string
	var visit func(n string) []string
	visit = func(n string) []string {
		mark[n] = onPath
		path = append(path, n)
		for _, p := range deps[n] {
			switch mark[p] {
			case onPath:
				i := slices.Index(path, p)
				return append(slices.Clone(path[i:]), p)
			case unseen:
				if cyc := visit(p); cyc != nil {
					return cyc
				}
			}
		}
		path = path[:len(path)-1]
		mark[n] = done
		return nil
	}
	for _, d := range c.Devices {
		if mark[d.Name] == unseen {
			if cyc := visit(d.Name); cyc != nil {
				return cyc
			}
		}
	}
	return nil
}

// deviceLine is " (line N)" for a device whose place in the file is known.
func (c *Config) deviceLine(name string) string {
	if n := c.deviceLines[name]; n > 0 {
		return fmt.Sprintf(" (line %d)", n)
	}
	return ""
}

// locateDevices finds the line of each device's "name: X" after
// "devices:", in block or flow style.
func (c *Config) locateDevices(data []byte) {
	lines := strings.Split(string(data), "\n")
	start := slices.IndexFunc(lines, func(l string) bool {
		t := strings.TrimSpace(l)
		return strings.HasPrefix(t, "devices:") || strings.HasPrefix(t, `"devices":`)
	})
	if start < 0 {
		return
	}
	c.deviceLines = map[string]int{}
	from := start
	for _, d := range c.Devices {
		for j := from; j < len(lines); j++ {
			if hasNameValue(lines[j], d.Name) {
				c.deviceLines[d.Name], from = j+1, j+1
				break
			}
		}
	}
}

// hasNameValue: the line holds a "name: v" pair (block or flow style, the
// key and value quoted or not).
func hasNameValue(line, v string) bool {
	for _, part := range strings.Split(line, ",") {
		k, val, ok := strings.Cut(part, ":")
		if !ok {
			continue
		}
		k = strings.Trim(strings.TrimSpace(k), `"'{[- `)
		val = strings.Trim(strings.TrimSpace(val), `"'}]`)
		if k == "name" && val == v {
			return true
		}
	}
	return false
}
