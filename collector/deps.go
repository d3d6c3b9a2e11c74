package collector

import (
	"slices"
	"strings"
)

// depGraph is the config's depends_on, resolved to the running devices:
// for each device, the devices it depends on directly or through others
// (ancestors) and those that depend on it (descendants).
type depGraph struct {
	ancestors   map[*device][]*device
	descendants map[*device][]*device
}

// newDepGraph resolves depends_on over devs (each name's device in byName).
func newDepGraph(devs []*device, byName map[string]*device) *depGraph {
	g := &depGraph{ancestors: map[*device][]*device{}, descendants: map[*device][]*device{}}
	for _, d := range devs {
		seen := map[*device]bool{}
		var walk func(x *device)
		walk = func(x *device) {
			for _, name := range x.cfg.DependsOn {
				p := byName[name]
				if p == nil || seen[p] || p == d {
					continue // validated at load; a loop cannot hang us here
				}
				seen[p] = true
				g.ancestors[d] = append(g.ancestors[d], p)
				g.descendants[p] = append(g.descendants[p], d)
				walk(p)
			}
		}
		walk(d)
	}
	for _, m := range []map[*device][]*device{g.ancestors, g.descendants} {
		for d, l := range m {
			slices.SortFunc(l, func(a, b *device) int { return strings.Compare(a.cfg.Name, b.cfg.Name) })
			m[d] = l
		}
	}
	return g
}

// upForChildren: a device in this state lets the devices behind it be
// judged on their own. unknown counts as up: a newcomer must not block
// its children before its first probe.
func upForChildren(state string) bool { return state == StateUp || state == StateUnknown }

// parentsDown names d's ancestors that are not up, ", "-separated.
func (s *Supervisor) parentsDown(d *device) string {
	g := s.deps.Load()
	if g == nil {
		return ""
	}
	var down []string
	for _, p := range g.ancestors[d] {
		p.mu.Lock()
		st := p.m.State
		p.mu.Unlock()
		if !upForChildren(st) {
			down = append(down, p.cfg.Name)
		}
	}
	return strings.Join(down, ", ")
}

// dependents names the devices that depend on d, directly or not.
func (s *Supervisor) dependents(d *device) []string {
	g := s.deps.Load()
	if g == nil {
		return nil
	}
	var names []string
	for _, c := range g.descendants[d] {
		names = append(names, c.cfg.Name)
	}
	return names
}

// propagate tells d's descendants (all devices when d is nil) which of
// their parents are down. depMu serialises it, so the last state change
// is the one the children see.
func (s *Supervisor) propagate(d *device) {
	g := s.deps.Load()
	if g == nil {
		return
	}
	var ds []*device
	if d == nil {
		for c := range g.ancestors {
			ds = append(ds, c)
		}
	} else {
		ds = g.descendants[d]
	}
	if len(ds) == 0 {
		return
	}
	s.depMu.Lock()
	defer s.depMu.Unlock()
	for _, c := range ds {
		down := s.parentsDown(c)
		c.mu.Lock()
		same := c.m.ParentsDown == down
		c.mu.Unlock()
		if !same {
			c.stepOnly(ParentsChanged{Down: down})
		}
	}
}
