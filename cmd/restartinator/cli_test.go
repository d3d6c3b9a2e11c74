package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/restartinator/restartinator/internal/testtool"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// globalFlags are the flags every command's help may show besides its own.
var globalFlags = []string{"help", "version", "log.level", "log.format"}

// serverFlags must appear only in the help of run, the default command.
var serverFlag = regexp.MustCompile(`--(\[no-\])?(web\.|demo\b|config\.check\b)`)

// helpFlagLine is a flag's first line in kingpin's help: two spaces, then
// "-x, " or four spaces, then the flag.
var helpFlagLine = regexp.MustCompile(`(?m)^  (?:-\w, |    )--(?:\[no-\])?([\w.-]+)`)

// helpOf runs `restartinator ARGS --help` as a user would and returns what
// it prints.
func helpOf(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append(args, "--help"), &stdout, &stderr); code != 0 {
		t.Fatalf("%v --help: exit %d\n%s", args, code, stderr.String())
	}
	return stdout.String()
}

// flagsIn lists the flag names a help text shows.
func flagsIn(help string) []string {
	var names []string
	for _, m := range helpFlagLine.FindAllStringSubmatch(help, -1) {
		names = append(names, m[1])
	}
	return names
}

// Each command's --help lists its own flags (and its parents') and the
// global ones, never the server's.
func TestCommandHelpShowsOnlyItsOwnFlags(t *testing.T) {
	c := newCLI(io.Discard, io.Discard, "test")
	model := c.app.Model()
	for _, cmd := range model.FlattenedCommands() {
		if cmd.Name == "help" {
			continue
		}
		t.Run(cmd.FullCommand, func(t *testing.T) {
			help := helpOf(t, strings.Fields(cmd.FullCommand)...)
			// Its own flags are those of the command and of its parents
			// ("plug status" takes plug's --host).
			own := slices.Clone(globalFlags)
			parts := strings.Fields(cmd.FullCommand)
			cl := c.app.GetCommand(parts[0])
			for i := 1; ; i++ {
				for _, f := range cl.Model().Flags {
					own = append(own, f.Name)
				}
				if i == len(parts) {
					break
				}
				cl = cl.GetCommand(parts[i])
			}
			got := flagsIn(help)
			if len(got) == 0 {
				t.Fatalf("no flags found in the help:\n%s", help)
			}
			for _, f := range got {
				if !slices.Contains(own, f) {
					t.Errorf("--%s is in the help of %q but is not its flag nor a global one\n%s", f, cmd.FullCommand, help)
				}
			}
			if cmd.Default {
				if !slices.Contains(got, "web.listen-address") || !slices.Contains(got, "config.check") {
					t.Errorf("the default command's help lacks the server flags:\n%s", help)
				}
			} else if m := serverFlag.FindString(help); m != "" {
				t.Errorf("the help of %q shows the server flag %s:\n%s", cmd.FullCommand, m, help)
			}
		})
	}
}

// The top-level help names the default command's flags without listing them.
func TestTopLevelHelp(t *testing.T) {
	help := helpOf(t)
	if m := serverFlag.FindString(help); m != "" {
		t.Errorf("top-level help lists the server flag %s:\n%s", m, help)
	}
	if !strings.Contains(help, `restartinator run --help`) {
		t.Errorf("top-level help does not say where the server flags are:\n%s", help)
	}
}

// plug --help, compared with testdata/plug-help.golden. After changing the
// plug command's flags on purpose, rewrite it with
// `go test ./cmd/restartinator -run TestPlugHelpGolden -update`.
func TestPlugHelpGolden(t *testing.T) {
	got := helpOf(t, "plug")
	if strings.Contains(got, "--web.") {
		t.Errorf("plug --help shows a --web. flag:\n%s", got)
	}
	golden := filepath.Join("testdata", "plug-help.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("plug --help changed; if on purpose, rerun with -update.\ngot:\n%s\nwant:\n%s", got, want)
	}
}

// The server's flags, given without a command, still select run; a server
// flag given to another command is refused.
func TestServerFlagsSelectTheDefaultCommand(t *testing.T) {
	for _, args := range [][]string{
		{"--web.listen-address=127.0.0.1:0", "--demo"},
		{"--config.check", "--config.file", "x.yml"},
		{"--log.level=debug", "--web.route-prefix=/r"},
		{},
	} {
		c := newCLI(io.Discard, io.Discard, "test")
		chosen, err := c.app.Parse(args)
		if err != nil || chosen != "run" {
			t.Errorf("%v: chose %q, err %v; want run", args, chosen, err)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"discover", "--web.listen-address=:1"}, &stdout, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), "web.listen-address") {
		t.Errorf("discover --web.listen-address: exit %d, stderr %q; want 2 and an error naming the flag", code, stderr.String())
	}
}

// The bash completion script, sourced into a real bash, completes the
// commands, a command's flags and the completion command's shells.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	bin := binary(t)
	var script bytes.Buffer
	if code := run([]string{"completion", "bash"}, &script, io.Discard); code != 0 {
		t.Fatalf("completion bash: exit %d", code)
	}
	for _, tc := range []struct {
		words []string
		want  []string
		not   []string
	}{
		{[]string{""}, []string{"plug", "discover", "simulate", "completion", "run"}, nil},
		{[]string{"pl"}, []string{"plug"}, []string{"discover"}},
		{[]string{"plug", "--"}, []string{"--host", "--outlet", "--log.level"}, []string{"--web.listen-address", "--demo"}},
		{[]string{"--web.l"}, []string{"--web.listen-address"}, nil},
		{[]string{"completion", ""}, []string{"bash", "zsh", "fish"}, nil},
	} {
		// COMP_WORDS[0] is the program the script asks for completions.
		words := append([]string{bin}, tc.words...)
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + w + "'"
		}
		prog := script.String() + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\nCOMP_CWORD=" +
			strconv.Itoa(len(words)-1) + "\n_restartinator_bash_autocomplete\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
		out, err := exec.Command(bash, "--norc", "--noprofile", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		got := strings.Fields(string(out))
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("completing %q: %v lacks %s", tc.words, got, w)
			}
		}
		for _, w := range tc.not {
			if slices.Contains(got, w) {
				t.Errorf("completing %q: %v offers %s", tc.words, got, w)
			}
		}
	}
}

// The fish script, sourced into a real fish, completes commands, flags and
// the completion command's shells (fish's own `complete -C`).
func TestFishCompletion(t *testing.T) {
	fish := testtool.Need(t, "fish", "fish")
	bin := binary(t)
	script := filepath.Join(t.TempDir(), "restartinator.fish")
	var buf bytes.Buffer
	if code := run([]string{"completion", "fish"}, &buf, io.Discard); code != 0 {
		t.Fatalf("completion fish: exit %d", code)
	}
	os.WriteFile(script, buf.Bytes(), 0o600)
	for line, want := range map[string][]string{
		"restartinator pl":          {"plug"},
		"restartinator plug --ho":   {"--host"},
		"restartinator completion ": {"bash", "fish", "zsh"},
		"restartinator ":            {"plug", "discover", "run"},
	} {
		cmd := exec.Command(fish, "--no-config", "-c", "source "+script+"; complete -C '"+line+"'")
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("fish: %v\n%s", err, out)
		}
		got := strings.Fields(string(out))
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("completing %q: %v lacks %s", line, got, w)
			}
		}
	}
}

// Every shell gets a script that asks the program itself.
func TestCompletionScripts(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		var out bytes.Buffer
		if code := run([]string{"completion", sh}, &out, io.Discard); code != 0 {
			t.Fatalf("completion %s: exit %d", sh, code)
		}
		if !strings.Contains(out.String(), "--completion-bash") || !strings.Contains(out.String(), "restartinator") {
			t.Errorf("completion %s does not ask restartinator --completion-bash:\n%s", sh, out.String())
		}
	}
	var stderr bytes.Buffer
	if code := run([]string{"completion", "tcsh"}, io.Discard, &stderr); code != 2 {
		t.Errorf("completion tcsh: exit %d, want 2 (%s)", code, stderr.String())
	}
}

// --help-man is a man page groff renders without a warning, with each
// command's own flags under it.
func TestManPage(t *testing.T) {
	bin := binary(t)
	page, err := exec.Command(bin, "--help-man").Output()
	if err != nil {
		t.Fatalf("--help-man: %v", err)
	}
	if !bytes.HasPrefix(page, []byte(".TH RESTARTINATOR 1 ")) {
		t.Errorf("the man page does not start with its .TH line: %.80q", page)
	}
	if bytes.Contains(page, []byte("build user")) {
		t.Errorf("the man page carries the multi-line --version text:\n%.300s", page)
	}
	groff := testtool.Need(t, "groff-base", "groff")
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww")
	cmd.Stdin = bytes.NewReader(page)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	text, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("groff: %v\n%s", err, stderr.String())
	}
	plain := regexp.MustCompile(".\b").ReplaceAllString(string(text), "")
	// Each command's flags are under it, the parents' (plug --host) too.
	sections := map[string][]string{
		"\n   run [<flags>]\n":                        {"--web.listen-address", "--config.check", "--demo"},
		"\n   plug --host=HOST [<flags>] <command>\n": {"--host", "--outlet"},
		"\n   plug cycle [<flags>]\n":                 {"--off-time"},
	}
	for head, flags := range sections {
		i := strings.Index(plain, head)
		if i < 0 {
			t.Errorf("the rendered page lacks the section %q:\n%s", head, plain)
			continue
		}
		body := plain[i+len(head):]
		if end := regexp.MustCompile(`\n   \S`).FindStringIndex(body); end != nil {
			body = body[:end[0]]
		}
		for _, f := range flags {
			if !strings.Contains(body, f) {
				t.Errorf("%s is not under %q in the man page:\n%s", f, strings.TrimSpace(head), body)
			}
		}
		if strings.Contains(head, "plug") && strings.Contains(body, "--web.") {
			t.Errorf("a server flag is under %q in the man page", strings.TrimSpace(head))
		}
	}
}
