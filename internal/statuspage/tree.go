package statuspage

import "github.com/restartinator/restartinator/collector"

// treeOrder puts each device right after the first device it depends on
// (its children indented under it), keeping the name order among
// siblings; it returns the order and each device's depth. A device whose
// parents are all unknown is a root. static/statuspage.js has the same
// function: change both together.
func treeOrder(ds []collector.DeviceStatus) ([]int, []int) {
	index := map[string]int{}
	for i, d := range ds {
		index[d.Name] = i
	}
	children := map[int][]int{}
	var roots []int
	for i, d := range ds {
		parent := -1
		for _, p := range d.DependsOn {
			if j, ok := index[p]; ok {
				parent = j
				break
			}
		}
		if parent < 0 {
			roots = append(roots, i)
		} else {
			children[parent] = append(children[parent], i)
		}
	}
	order := make([]int, 0, len(ds))
	depth := make([]int, len(ds))
	seen := make([]bool, len(ds))
	var walk func(i, dep int)
	walk = func(i, dep int) {
		if seen[i] {
			return
		}
		seen[i], depth[i] = true, dep
		order = append(order, i)
		for _, c := range children[i] {
			walk(c, dep+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	for i := range ds { // a loop the config check would have refused
		walk(i, 0)
	}
	return order, depth
}

// barRun is a run of equal segments of the 24-hour bar.
type barRun struct {
	X, W  int
	Class string
}

// barRuns turns a bar ("uuudd-…", collector.Bar) into runs, so the page
// draws a few rectangles per device instead of 96.
func barRuns(bar string) []barRun {
	var runs []barRun
	for i := 0; i < len(bar); {
		j := i
		for j < len(bar) && bar[j] == bar[i] {
			j++
		}
		runs = append(runs, barRun{X: i, W: j - i, Class: barClass(bar[i])})
		i = j
	}
	return runs
}

func barClass(c byte) string {
	switch c {
	case 'u':
		return "b-up"
	case 'd':
		return "b-down"
	case 'p':
		return "b-part"
	}
	return "b-none"
}
