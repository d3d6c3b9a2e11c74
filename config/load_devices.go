package config

import (
	"bytes"

	"go.yaml.in/yaml/v2"
)

// The device list is decoded a batch of entries at a time.
//
// yaml.UnmarshalStrict builds the node tree of the whole document before it
// decodes anything, and at 100,000 devices that tree is most of a config
// load's peak memory (about 150 MB live for 55 MB of decoded devices). A
// fleet's file is almost all "devices:" entries, so decodeYAML cuts the
// top-level block sequence under "devices:" into batches, decodes each
// batch on its own and the rest of the document once, and so holds one
// batch's tree at a time.
//
// Only what the fast path can decode exactly as the whole document would
// goes through it: one "devices:" key at column 0 followed by a block
// sequence, no document markers. Everything else, and every error, takes the
// whole-document decode, so an error names the same file, line and key as
// before (an anchor in one batch used in another fails the batch and falls
// back the same way).

// deviceBatch is how many device entries are decoded at once: large enough
// that the per-batch overhead vanishes, small enough that a batch's node
// tree is a few hundred kilobytes.
const deviceBatch = 512

// deviceBlock is the top-level "devices:" block sequence of a YAML document,
// cut out of it.
type deviceBlock struct {
	rest  []byte   // the document without the device block
	items [][]byte // each entry's lines, "- " and all
}

// cutDeviceBlock finds the block sequence under a top-level "devices:" key.
// ok is false when the document has none, or has it in a shape the fast
// path does not handle (flow style, the key twice, document markers).
func cutDeviceBlock(data []byte) (b deviceBlock, ok bool) {
	if hasOtherLineBreaks(data) {
		return b, false // the cut counts lines by \n alone
	}
	// Line starts, and the line of the one "devices:" key.
	keyLine := -1
	var starts []int
	for off := 0; off < len(data); {
		starts = append(starts, off)
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			end = len(data) - off
		}
		line := data[off : off+end]
		if bytes.HasPrefix(line, []byte("---")) || bytes.HasPrefix(line, []byte("...")) || bytes.HasPrefix(line, []byte("%")) {
			return b, false // several documents or directives: decode as a whole
		}
		if bytes.HasPrefix(line, []byte("devices:")) {
			if keyLine >= 0 {
				return b, false // the key twice: the whole decode reports it
			}
			after := line[len("devices:"):]
			if len(after) > 0 && after[0] != ' ' && after[0] != '\t' && after[0] != '\r' {
				return b, false // not the key "devices" ("devices:x" is a scalar)
			}
			if v := trimBlank(after); len(v) > 0 && v[0] != '#' {
				return b, false // a flow sequence, an alias or a scalar on the key's line
			}
			// The batches replace this line: whatever it holds besides the
			// key must be what the reader accepts anywhere.
			if !plainASCII(after) {
				return b, false
			}
			keyLine = len(starts) - 1
		}
		off += end + 1
	}
	if keyLine < 0 {
		return b, false
	}
	lineAt := func(i int) []byte {
		end := len(data)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		return data[starts[i]:end]
	}
	// The block runs until the next line that starts at column 0 with
	// something other than an entry's "-" or a comment.
	itemIndent := -1
	first, last := keyLine+1, keyLine+1 // the block's lines [first, last)
	var itemStarts []int
	for i := first; i < len(starts); i++ {
		line := lineAt(i)
		trimmed := bytes.TrimLeft(line, " ")
		content := trimBlank(trimmed)
		if len(content) == 0 || content[0] == '#' {
			if itemIndent < 0 && !droppable(line) {
				return b, false // dropped with the key line: see above
			}
			continue // blank lines and comments belong to whatever surrounds them
		}
		indent := len(line) - len(trimmed)
		if indent == 0 && line[0] != '-' {
			break // the next top-level key (checked below)
		}
		if trimmed[0] == '\t' {
			return b, false // a tab in the indentation: the whole decode says what is wrong
		}
		isItem := trimmed[0] == '-' && (len(trimmed) == 1 || trimmed[1] == ' ' || trimmed[1] == '\n' || trimmed[1] == '\r')
		if itemIndent < 0 {
			if !isItem {
				return b, false // not a block sequence
			}
			itemIndent = indent
		}
		if isItem && indent == itemIndent {
			itemStarts = append(itemStarts, i)
		} else if indent <= itemIndent {
			return b, false // something the fast path does not know
		}
		last = i + 1
	}
	// Outside the block, the document must be a block mapping at column 0
	// with plain or quoted keys, so that the rest means alone what it
	// meant around the block.
	firstContent := true
	for i := range starts {
		if i >= keyLine && i < last {
			firstContent = false
			continue
		}
		line := lineAt(i)
		content := trimBlank(line)
		if len(content) == 0 || content[0] == '#' {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if firstContent {
				return b, false
			}
			continue
		}
		firstContent = false
		if !isKeyStart(line[0]) {
			return b, false
		}
	}
	for n, s := range itemStarts {
		end := last
		if n+1 < len(itemStarts) {
			end = itemStarts[n+1]
		}
		b.items = append(b.items, data[starts[s]:lineEnd(data, starts, end)])
	}
	blockStart, blockEnd := starts[keyLine], lineEnd(data, starts, last)
	b.rest = make([]byte, 0, len(data)-(blockEnd-blockStart))
	b.rest = append(b.rest, data[:blockStart]...)
	b.rest = append(b.rest, data[blockEnd:]...)
	return b, true
}

// lineEnd is the offset where line i starts (the end of line i-1), or the
// end of data.
func lineEnd(data []byte, starts []int, i int) int {
	if i < len(starts) {
		return starts[i]
	}
	return len(data)
}

// decodeYAMLByBatch decodes a document with a device block: the rest of the
// document whole, the devices a batch at a time into one slice of the right
// length. Any error returns ok false: the caller decodes the whole document
// to report it.
func decodeYAMLByBatch(b deviceBlock) (*Config, bool) {
	c := &Config{Global: DefaultGlobal, Defaults: DefaultDeviceSettings}
	if err := yaml.UnmarshalStrict(b.rest, c); err != nil {
		return nil, false
	}
	if len(c.Devices) > 0 {
		return nil, false // a second device list the cut did not see
	}
	devices := make([]DeviceConfig, 0, len(b.items))
	var buf []byte
	for len(b.items) > 0 {
		n := min(deviceBatch, len(b.items))
		buf = append(buf[:0], "devices:\n"...)
		for _, it := range b.items[:n] {
			buf = append(buf, it...)
			if buf[len(buf)-1] != '\n' {
				buf = append(buf, '\n')
			}
		}
		var batch struct {
			Devices []DeviceConfig `yaml:"devices"`
		}
		if err := yaml.UnmarshalStrict(buf, &batch); err != nil || len(batch.Devices) != n {
			return nil, false
		}
		devices = append(devices, batch.Devices...)
		b.items = b.items[n:]
	}
	if len(devices) > 0 {
		c.Devices = devices
	}
	return c, true
}

// isKeyStart: a top-level line starting with c begins a plain or quoted
// key, not an anchor, tag, alias, complex key or flow collection.
func isKeyStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '"' || c == '\''
}

// trimBlank trims what YAML counts as white space (not \v or \f, which its
// reader rejects).
func trimBlank(b []byte) []byte { return bytes.Trim(b, " \t\r\n") }

// plainASCII: b holds only printable ASCII, tabs and line ends, which the
// YAML reader accepts anywhere.
func plainASCII(b []byte) bool {
	for _, c := range b {
		if (c < ' ' || c > '~') && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// droppable: a line between the key and the first entry, which the batches
// leave out, is spaces and at most a comment of printable ASCII.
func droppable(line []byte) bool {
	t := bytes.TrimRight(bytes.TrimLeft(line, " "), "\r\n")
	return (len(t) == 0 || t[0] == '#') && plainASCII(t)
}

// hasOtherLineBreaks: data breaks lines other than by \n or \r\n. YAML
// also breaks them at a lone \r, NEL, LS and PS.
func hasOtherLineBreaks(data []byte) bool {
	for i, c := range data {
		if c == '\r' && (i+1 == len(data) || data[i+1] != '\n') {
			return true
		}
	}
	return bytes.Contains(data, []byte("\u0085")) || bytes.Contains(data, []byte("\u2028")) || bytes.Contains(data, []byte("\u2029"))
}
