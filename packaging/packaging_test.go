// Package packaging holds the nfpm configuration, the packaged config and
// unit scripts, and the tests of what `make release` and `make image`
// build. The artifact tests need RESTARTINATOR_DIST (set by `make
// package-test`, which CI runs); without it they skip.
package packaging

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/testtool"
)

// dist is what `make package-test` built, or a skip.
type dist struct {
	dir, version, revision, pkgVersion, image string
}

func needDist(t *testing.T) dist {
	t.Helper()
	d := dist{dir: os.Getenv("RESTARTINATOR_DIST"), version: os.Getenv("RESTARTINATOR_VERSION"),
		revision: os.Getenv("RESTARTINATOR_REVISION"), pkgVersion: os.Getenv("RESTARTINATOR_PKG_VERSION"),
		image: os.Getenv("RESTARTINATOR_IMAGE")}
	if d.dir == "" {
		t.Skip("no release to test: run make package-test")
	}
	if d.version == "" || d.revision == "" || d.pkgVersion == "" {
		t.Fatal("RESTARTINATOR_VERSION, _REVISION and _PKG_VERSION must come with RESTARTINATOR_DIST")
	}
	return d
}

// command runs a program with a deadline and returns its combined output.
func command(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := command(t, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// The packaged config is valid as shipped, and so are the examples in its
// comments once uncommented, so a user who follows them gets a valid file.
func TestPackagedConfig(t *testing.T) {
	if _, err := config.LoadFile("restartinator.yml"); err != nil {
		t.Fatalf("the packaged config is invalid: %v", err)
	}
	b, err := os.ReadFile("restartinator.yml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.LoadFile("restartinator.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Global.DryRun || c.Global.StateFile != "/var/lib/restartinator/state.json" {
		t.Errorf("the packaged config must dry-run and keep state in the unit's StateDirectory: dry_run %v, state_file %q",
			c.Global.DryRun, c.Global.StateFile)
	}
	// The examples are the commented lines under "plugs: []" and
	// "devices: []"; the header's comments stay comments.
	var body []string
	examples := false
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case l == "plugs: []", l == "devices: []":
			examples = true
			body = append(body, strings.TrimSuffix(l, " []"))
		case examples && strings.HasPrefix(l, "#  "):
			body = append(body, l[1:])
		case !strings.HasPrefix(l, "#"):
			body = append(body, l)
		}
	}
	f := filepath.Join(t.TempDir(), "uncommented.yml")
	os.WriteFile(f, []byte(strings.Join(body, "\n")), 0o600)
	c, err = config.LoadFile(f)
	if err != nil {
		t.Fatalf("the commented examples are invalid once uncommented: %v\n%s", err, strings.Join(body, "\n"))
	}
	if len(c.Devices) != 1 || len(c.Plugs) != 1 {
		t.Errorf("uncommented: %d devices, %d plugs; want 1 and 1", len(c.Devices), len(c.Plugs))
	}
}

// The maintainer scripts are valid POSIX shell.
func TestScriptsParse(t *testing.T) {
	for _, s := range []string{"preinstall", "postinstall", "preremove", "postremove"} {
		if out, err := command(t, "sh", "-n", filepath.Join("scripts", s+".sh")); err != nil {
			t.Errorf("%s.sh: %v\n%s", s, err, out)
		}
	}
}

// target is one release target and what its binary must be.
type target struct {
	name   string // OS-ARCH, as in the tarball name
	goarm  string
	check  func(t *testing.T, path string)
	qemu   string // qemu-user-static program that runs it here, if not native
	cpu    string // the oldest Raspberry Pi CPU it is for
	native bool
}

func elfCheck(machine elf.Machine) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		f, err := elf.Open(path)
		if err != nil {
			t.Fatalf("%s is not ELF: %v", path, err)
		}
		defer f.Close()
		if f.Machine != machine {
			t.Errorf("%s: ELF machine %v, want %v", path, f.Machine, machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s is dynamically linked (%v); the release must be static", path, p.Type)
			}
		}
	}
}

var targets = []target{
	{name: "linux-amd64", check: elfCheck(elf.EM_X86_64), native: true},
	{name: "linux-arm64", check: elfCheck(elf.EM_AARCH64), qemu: "qemu-aarch64-static", cpu: "cortex-a53"},
	{name: "linux-armv7", goarm: "7", check: elfCheck(elf.EM_ARM), qemu: "qemu-arm-static", cpu: "cortex-a7"},
	{name: "linux-armv6", goarm: "6", check: elfCheck(elf.EM_ARM), qemu: "qemu-arm-static", cpu: "arm1176"},
	{name: "darwin-arm64", check: func(t *testing.T, path string) {
		f, err := macho.Open(path)
		if err != nil {
			t.Fatalf("%s is not Mach-O: %v", path, err)
		}
		defer f.Close()
		if f.Cpu != macho.CpuArm64 {
			t.Errorf("%s: Mach-O CPU %v, want arm64", path, f.Cpu)
		}
	}},
	{name: "windows-amd64", check: func(t *testing.T, path string) {
		f, err := pe.Open(path)
		if err != nil {
			t.Fatalf("%s is not PE: %v", path, err)
		}
		defer f.Close()
		if f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
			t.Errorf("%s: PE machine %#x, want AMD64", path, f.Machine)
		}
	}},
}

// untar extracts a .tar.gz into dir and returns its entries by name.
func untar(t *testing.T, file, dir string) map[string]*tar.Header {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return readTar(t, gz, dir)
}

func readTar(t *testing.T, r io.Reader, dir string) map[string]*tar.Header {
	t.Helper()
	entries := map[string]*tar.Header{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		entries[name] = h
		if dir == "" || h.Typeflag != tar.TypeReg {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, tr); err != nil {
			t.Fatal(err)
		}
		out.Close()
	}
}

// Every target has a tarball with the binary, the license, the docs and
// the examples; each binary is for its machine, static, built with
// -trimpath and stamped; the Linux ones run here (arm under qemu, on the
// CPU of the oldest Raspberry Pi each is for) and report the version.
func TestReleaseTarballs(t *testing.T) {
	d := needDist(t)
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			name := fmt.Sprintf("restartinator-%s.%s", d.version, tg.name)
			dir := t.TempDir()
			entries := untar(t, filepath.Join(d.dir, name+".tar.gz"), dir)
			exe := "restartinator"
			if strings.HasPrefix(tg.name, "windows") {
				exe += ".exe"
			}
			for _, f := range []string{exe, "LICENSE", "NOTICE", "README.md", "CHANGELOG.md", "THIRD_PARTY_LICENSES.md",
				"restartinator.1", "completions/restartinator.bash", "completions/restartinator.zsh", "completions/restartinator.fish",
				"examples/restartinator.yml", "examples/restartinator-minimal.yml", "examples/restartinator.service", "examples/prometheus.yml"} {
				h, ok := entries[name+"/"+f]
				if !ok {
					t.Errorf("%s.tar.gz lacks %s", name, f)
					continue
				}
				if f == exe && h.Mode&0o111 == 0 {
					t.Errorf("%s is not executable in the tarball (mode %o)", f, h.Mode)
				}
				if h.Uid != 0 || h.Gid != 0 {
					t.Errorf("%s belongs to %d:%d in the tarball, want 0:0", f, h.Uid, h.Gid)
				}
			}
			bin := filepath.Join(dir, name, exe)
			tg.check(t, bin)
			bi, err := buildinfo.ReadFile(bin)
			if err != nil {
				t.Fatalf("build info: %v", err)
			}
			settings := map[string]string{}
			for _, s := range bi.Settings {
				settings[s.Key] = s.Value
			}
			if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
				t.Errorf("built with CGO_ENABLED=%q -trimpath=%q, want 0 and true", settings["CGO_ENABLED"], settings["-trimpath"])
			}
			if tg.goarm != "" && settings["GOARM"] != tg.goarm {
				t.Errorf("GOARM=%q, want %s", settings["GOARM"], tg.goarm)
			}
			// -trimpath keeps -ldflags out of the build info; the stamped
			// revision is in the binary's strings (and --version below).
			if b, _ := os.ReadFile(bin); !bytes.Contains(b, []byte(d.revision)) {
				t.Errorf("the binary does not carry the stamped revision %s", d.revision)
			}
			switch {
			case tg.native:
				checkVersion(t, d, mustRun(t, bin, "--version"))
				checkBuildInfoMetric(t, d, bin)
			case tg.qemu != "":
				qemu := testtool.Need(t, "qemu-user-static", tg.qemu)
				checkVersion(t, d, mustRun(t, qemu, "-cpu", tg.cpu, bin, "--version"))
			}
		})
	}
}

// The ARMv7 build does not run on a Pi Zero's CPU: that is why the armv6
// build exists, and the armhf .deb carries it.
func TestARMv7NeedsARMv7(t *testing.T) {
	d := needDist(t)
	qemu := testtool.Need(t, "qemu-user-static", "qemu-arm-static")
	dir := t.TempDir()
	name := fmt.Sprintf("restartinator-%s.linux-armv7", d.version)
	untar(t, filepath.Join(d.dir, name+".tar.gz"), dir)
	if out, err := command(t, qemu, "-cpu", "arm1176", filepath.Join(dir, name, "restartinator"), "--version"); err == nil {
		t.Errorf("the ARMv7 binary ran on an ARM1176 (Pi Zero); is it really built for ARMv7?\n%s", out)
	}
}

// checkBuildInfoMetric runs the server on loopback with an empty config
// and reads restartinator_build_info from /metrics, as Prometheus would.
func checkBuildInfoMetric(t *testing.T, d dist, bin string) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "restartinator.yml")
	os.WriteFile(cfg, []byte("global:\n  state_file: "+filepath.Join(dir, "state.json")+"\n  dry_run: true\n"), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config.file", cfg, "--web.listen-address", addr)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	const want = `restartinator_build_info{`
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, l := range strings.Split(string(body), "\n") {
				if strings.HasPrefix(l, want) {
					if !strings.Contains(l, `revision="`+d.revision+`"`) || !strings.Contains(l, `version="`+d.version+`"`) {
						t.Errorf("build info metric does not carry the stamped version and revision:\n%s", l)
					}
					return
				}
			}
			t.Fatalf("/metrics has no restartinator_build_info:\n%s", body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not answer on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func checkVersion(t *testing.T, d dist, out string) {
	t.Helper()
	for _, want := range []string{"restartinator, version " + d.version + " ", "revision: " + d.revision + ")"} {
		if !strings.Contains(out, want) {
			t.Errorf("--version lacks %q:\n%s", want, out)
		}
	}
	if regexp.MustCompile(`build date:\s+\n`).MatchString(out) {
		t.Errorf("--version has no build date:\n%s", out)
	}
}

// sha256sums.txt covers every artifact, and each sum is right.
func TestSHA256Sums(t *testing.T) {
	d := needDist(t)
	f, err := os.Open(filepath.Join(d.dir, "sha256sums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, file, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		b, err := os.ReadFile(filepath.Join(d.dir, file))
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		got := sha256.Sum256(b)
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: sha256 %x, listed %s", file, got, sum)
		}
		listed[file] = true
	}
	artifacts, _ := filepath.Glob(filepath.Join(d.dir, "*"))
	n := 0
	for _, a := range artifacts {
		base := filepath.Base(a)
		if strings.HasSuffix(base, ".tar.gz") || strings.HasSuffix(base, ".deb") || strings.HasSuffix(base, ".rpm") {
			n++
			if !listed[base] {
				t.Errorf("%s is not in sha256sums.txt", base)
			}
		}
	}
	// 6 tarballs, 3 .deb, 4 .rpm.
	if n != 13 {
		t.Errorf("%d artifacts in %s, want 13 (6 tarballs, 3 .deb, 4 .rpm)", n, d.dir)
	}
}

// debVersion is how nfpm writes a semver pre-release for dpkg and rpm.
func debVersion(v string) string { return strings.Replace(v, "-", "~", 1) }

// The .rpm packages, read with rpm's own tools: name, version, arch, the
// files with their owners and modes, the config marked noreplace, and the
// scripts.
func TestRPMs(t *testing.T) {
	d := needDist(t)
	rpm := testtool.Need(t, "rpm", "rpm")
	for _, arch := range []string{"x86_64", "aarch64", "armv7hl", "armv6hl"} {
		t.Run(arch, func(t *testing.T) {
			file := filepath.Join(d.dir, fmt.Sprintf("restartinator-%s-1.%s.rpm", debVersion(d.pkgVersion), arch))
			q := func(args ...string) string {
				return mustRun(t, rpm, append([]string{"-qp", "--nosignature"}, append(args, file)...)...)
			}
			if got, want := q("--queryformat", "%{NAME} %{VERSION} %{ARCH} %{LICENSE}"), fmt.Sprintf("restartinator %s %s Apache-2.0", debVersion(d.pkgVersion), arch); got != want {
				t.Errorf("rpm says %q, want %q", got, want)
			}
			files := q("--queryformat", "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]")
			for _, want := range []string{
				"-rwxr-xr-x root root /usr/bin/restartinator",
				"-rw-r--r-- root root /usr/lib/systemd/system/restartinator.service",
				"-rw-r----- root restartinator /etc/restartinator/restartinator.yml",
				"-rw-r--r-- root root /etc/default/restartinator",
				"-rw-r--r-- root root /usr/share/man/man1/restartinator.1.gz",
				"-rw-r--r-- root root /usr/share/bash-completion/completions/restartinator",
				"-rw-r--r-- root root /usr/share/zsh/site-functions/_restartinator",
				"-rw-r--r-- root root /usr/share/fish/vendor_completions.d/restartinator.fish",
				"-rw-r--r-- root root /usr/share/doc/restartinator/LICENSE",
			} {
				if !strings.Contains(files, want+"\n") {
					t.Errorf("the rpm lacks %q:\n%s", want, files)
				}
			}
			if strings.Contains(files, "vendor-completions") || strings.Contains(files, "doc/restartinator/copyright") {
				t.Errorf("the rpm carries Debian-only files:\n%s", files)
			}
			config := q("--configfiles")
			for _, f := range []string{"/etc/restartinator/restartinator.yml", "/etc/default/restartinator"} {
				if !strings.Contains(config, f) {
					t.Errorf("%s is not a config file of the rpm:\n%s", f, config)
				}
			}
			if noreplace := q("--queryformat", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]"); !strings.Contains(noreplace, "cn /etc/restartinator/restartinator.yml") {
				t.Errorf("the config is not %%config(noreplace):\n%s", noreplace)
			}
			scripts := q("--scripts")
			for _, want := range []string{"preinstall scriptlet", "useradd --system", "postinstall scriptlet", "systemctl daemon-reload", "preuninstall scriptlet", "postuninstall scriptlet"} {
				if !strings.Contains(scripts, want) {
					t.Errorf("the rpm's scripts lack %q:\n%s", want, scripts)
				}
			}
			if regexp.MustCompile(`(?m)^\s*systemctl +(enable|start|restart)\b`).MatchString(scripts) {
				t.Errorf("the rpm's scripts enable or start the service:\n%s", scripts)
			}
		})
	}
}

// The armhf .deb carries the ARMv6 build, which runs on a Pi Zero's CPU.
func TestArmhfDebRunsOnAPiZero(t *testing.T) {
	d := needDist(t)
	qemu := testtool.Need(t, "qemu-user-static", "qemu-arm-static")
	dir := t.TempDir()
	deb := filepath.Join(d.dir, fmt.Sprintf("restartinator_%s_armhf.deb", debVersion(d.pkgVersion)))
	mustRun(t, "dpkg-deb", "-x", deb, dir)
	bin := filepath.Join(dir, "usr/bin/restartinator")
	elfCheck(elf.EM_ARM)(t, bin)
	checkVersion(t, d, mustRun(t, qemu, "-cpu", "arm1176", bin, "--version"))
}

// fileMode stats a path and returns its mode and owner names.
func fileMode(t *testing.T, path string) string {
	t.Helper()
	return strings.TrimSpace(mustRun(t, "stat", "-c", "%A %U %G", path))
}

// The amd64 .deb installs on this machine as a user would install it
// (CI runs as root on a throwaway machine): files, user and unit; the
// version; the config check; an edited config survives a reinstall and a
// remove; purge removes it. Everything is purged at the end.
func TestDebInstall(t *testing.T) {
	d := needDist(t)
	dpkg := testtool.Need(t, "dpkg", "dpkg")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("installing the .deb needs root")
		}
		t.Skip("installing the .deb needs root")
	}
	if out, err := command(t, "dpkg-query", "-W", "-f=${Status}", "restartinator"); err == nil && strings.Contains(out, "installed") {
		t.Fatalf("restartinator is already installed here (%s); not touching it: dpkg -P restartinator first", out)
	}
	_, userErr := command(t, "getent", "passwd", "restartinator")
	_, groupErr := command(t, "getent", "group", "restartinator")
	t.Cleanup(func() {
		command(t, dpkg, "--purge", "restartinator")
		if userErr != nil {
			command(t, "userdel", "restartinator")
		}
		if groupErr != nil {
			command(t, "groupdel", "restartinator")
		}
	})
	deb := filepath.Join(d.dir, fmt.Sprintf("restartinator_%s_amd64.deb", debVersion(d.pkgVersion)))
	out := mustRun(t, dpkg, "-i", deb)
	if !strings.Contains(out, "restartinator is installed but not started") {
		t.Errorf("dpkg -i did not say what to do next:\n%s", out)
	}
	if got := mustRun(t, "dpkg-query", "-W", "-f=${Version} ${Status}", "restartinator"); got != debVersion(d.pkgVersion)+" install ok installed" {
		t.Errorf("dpkg-query: %q", got)
	}

	// The user the service runs as: a system account without a login.
	pw := strings.Split(strings.TrimSpace(mustRun(t, "getent", "passwd", "restartinator")), ":")
	if len(pw) != 7 || pw[5] != "/var/lib/restartinator" || !strings.HasSuffix(pw[6], "nologin") {
		t.Errorf("the restartinator user: %v", pw)
	}

	for path, want := range map[string]string{
		"/usr/bin/restartinator":                                  "-rwxr-xr-x root root",
		"/usr/lib/systemd/system/restartinator.service":           "-rw-r--r-- root root",
		"/etc/restartinator":                                      "drwxr-x--- root restartinator",
		"/etc/restartinator/restartinator.yml":                    "-rw-r----- root restartinator",
		"/etc/default/restartinator":                              "-rw-r--r-- root root",
		"/usr/share/man/man1/restartinator.1.gz":                  "-rw-r--r-- root root",
		"/usr/share/bash-completion/completions/restartinator":    "-rw-r--r-- root root",
		"/usr/share/zsh/vendor-completions/_restartinator":        "-rw-r--r-- root root",
		"/usr/share/fish/vendor_completions.d/restartinator.fish": "-rw-r--r-- root root",
		"/usr/share/doc/restartinator/copyright":                  "-rw-r--r-- root root",
		"/usr/share/doc/restartinator/examples/restartinator.yml": "-rw-r--r-- root root",
	} {
		if got := fileMode(t, path); got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
	conffiles := mustRun(t, "dpkg-query", "-W", "-f=${Conffiles}", "restartinator")
	for _, f := range []string{"/etc/restartinator/restartinator.yml", "/etc/default/restartinator"} {
		if !strings.Contains(conffiles, " "+f+" ") {
			t.Errorf("%s is not a conffile:\n%s", f, conffiles)
		}
	}

	// The unit, as systemd reads it (the binary and man page it names exist now).
	unit, _ := os.ReadFile("/usr/lib/systemd/system/restartinator.service")
	for _, want := range []string{"User=restartinator", "StateDirectory=restartinator", "EnvironmentFile=-/etc/default/restartinator",
		"ExecStart=/usr/bin/restartinator --config.file=/etc/restartinator/restartinator.yml $ARGS", "ProtectSystem=strict", "NoNewPrivileges=yes"} {
		if !bytes.Contains(unit, []byte(want+"\n")) {
			t.Errorf("the installed unit lacks %q", want)
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		if out, err := command(t, "systemd-analyze", "verify", "/usr/lib/systemd/system/restartinator.service"); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	} else if os.Getenv("CI") == "true" {
		t.Error("systemd-analyze is missing; scripts/test-deps.sh installs it (Debian systemd)")
	}
	// Not started, not enabled.
	if _, err := os.Lstat("/etc/systemd/system/multi-user.target.wants/restartinator.service"); err == nil {
		t.Error("the package enabled the service before the config was edited")
	}

	checkVersion(t, d, mustRun(t, "/usr/bin/restartinator", "--version"))
	// The service user can read the config (group restartinator, mode 0640)
	// and it passes the check; other users cannot read it.
	if out := mustRun(t, "runuser", "-u", "restartinator", "--", "/usr/bin/restartinator", "--config.check",
		"--config.file", "/etc/restartinator/restartinator.yml"); !strings.HasPrefix(out, "SUCCESS: ") {
		t.Errorf("--config.check as the service user:\n%s", out)
	}
	if out, err := command(t, "runuser", "-u", "nobody", "--", "/usr/bin/restartinator", "--config.check",
		"--config.file", "/etc/restartinator/restartinator.yml"); err == nil {
		t.Errorf("user nobody could read the config, which may hold secrets:\n%s", out)
	}
	if man := mustRun(t, "sh", "-c", "gzip -dc /usr/share/man/man1/restartinator.1.gz | head -1"); !strings.HasPrefix(man, ".TH RESTARTINATOR 1") {
		t.Errorf("the installed man page starts with %q", man)
	}

	// An edited config survives a reinstall (an upgrade to the same
	// version) and a remove.
	const edit = "\n# edited by TestDebInstall\n"
	f, err := os.OpenFile("/etc/restartinator/restartinator.yml", os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(edit)
	f.Close()
	mustRun(t, dpkg, "--force-confold", "-i", deb)
	if b, _ := os.ReadFile("/etc/restartinator/restartinator.yml"); !bytes.Contains(b, []byte(edit)) {
		t.Error("reinstalling the package replaced the edited config")
	}
	os.MkdirAll("/var/lib/restartinator", 0o750)
	os.WriteFile("/var/lib/restartinator/state.json", []byte("{}"), 0o600)

	mustRun(t, dpkg, "-r", "restartinator")
	if _, err := os.Stat("/usr/bin/restartinator"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dpkg -r left the binary: %v", err)
	}
	if b, err := os.ReadFile("/etc/restartinator/restartinator.yml"); err != nil || !bytes.Contains(b, []byte(edit)) {
		t.Errorf("dpkg -r did not keep the edited config: %v", err)
	}
	if _, err := os.Stat("/var/lib/restartinator/state.json"); err != nil {
		t.Errorf("dpkg -r did not keep the state: %v", err)
	}
	if got := mustRun(t, "dpkg-query", "-W", "-f=${Status}", "restartinator"); got != "deinstall ok config-files" {
		t.Errorf("after dpkg -r: %q", got)
	}

	mustRun(t, dpkg, "-P", "restartinator")
	for _, p := range []string{"/etc/restartinator", "/etc/default/restartinator", "/var/lib/restartinator"} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("dpkg -P left %s (%v)", p, err)
		}
	}
}

// The OCI image, as podman built it: created (not run: this machine's
// sandbox refuses podman run) and exported, then read like any tarball.
func TestOCIImage(t *testing.T) {
	d := needDist(t)
	podman := testtool.Need(t, "podman", "podman")
	if d.image == "" {
		t.Fatal("RESTARTINATOR_IMAGE is not set")
	}
	format := "{{.Config.User}}|{{json .Config.Entrypoint}}|{{json .Config.Cmd}}|{{json .Config.ExposedPorts}}|{{json .Config.Volumes}}|{{.Architecture}}|{{index .Config.Labels \"org.opencontainers.image.version\"}}"
	got := strings.TrimSpace(mustRun(t, podman, "image", "inspect", "--format", format, d.image))
	want := `10001:10001|["/usr/bin/restartinator"]|["--config.file=/etc/restartinator/restartinator.yml"]|{"9788/tcp":{}}|{"/var/lib/restartinator":{}}|amd64|` + d.version
	if got != want {
		t.Errorf("image config:\n got %s\nwant %s", got, want)
	}
	id := strings.TrimSpace(mustRun(t, podman, "create", d.image))
	t.Cleanup(func() { command(t, podman, "rm", "-f", id) })
	dir := t.TempDir()
	exported := filepath.Join(dir, "fs.tar")
	mustRun(t, podman, "export", "-o", exported, id)
	f, err := os.Open(exported)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	root := filepath.Join(dir, "root")
	entries := readTar(t, f, root)
	for path, want := range map[string]string{
		"usr/bin/restartinator":               "-rwxr-xr-x 0:0",
		"etc/passwd":                          "-rw-r--r-- 0:0",
		"etc/group":                           "-rw-r--r-- 0:0",
		"etc/ssl/certs/ca-certificates.crt":   "-rw-r--r-- 0:0",
		"etc/restartinator/restartinator.yml": "-rw-r----- 0:10001",
		"var/lib/restartinator":               "drwxr-xr-x 10001:10001",
		"var/lib":                             "drwxr-xr-x 0:0",
	} {
		h, ok := entries[path]
		if !ok {
			t.Errorf("the image lacks /%s", path)
			continue
		}
		if got := fmt.Sprintf("%s %d:%d", h.FileInfo().Mode(), h.Uid, h.Gid); got != want {
			t.Errorf("/%s: %s, want %s", path, got, want)
		}
	}
	if len(entries) > 20 {
		t.Errorf("the image holds %d entries; FROM scratch should hold a handful", len(entries))
	}
	passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if !bytes.Contains(passwd, []byte("\nrestartinator:x:10001:10001:")) {
		t.Errorf("/etc/passwd has no restartinator user with uid 10001:\n%s", passwd)
	}
	bin := filepath.Join(root, "usr/bin/restartinator")
	elfCheck(elf.EM_X86_64)(t, bin)
	checkVersion(t, d, mustRun(t, bin, "--version"))
	// The image's config passes the check, with the image's binary.
	if out := mustRun(t, bin, "--config.check", "--config.file", filepath.Join(root, "etc/restartinator/restartinator.yml")); !strings.HasPrefix(out, "SUCCESS: ") {
		t.Errorf("the image's config fails the check:\n%s", out)
	}
	certs, _ := os.ReadFile(filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"))
	if bytes.Count(certs, []byte("BEGIN CERTIFICATE")) < 50 {
		t.Errorf("the image's CA bundle holds %d certificates", bytes.Count(certs, []byte("BEGIN CERTIFICATE")))
	}
}

// The release's non-Linux targets compile: a Unix-only call outside a
// build-tagged file breaks `make release` (the windows build has no
// syscall.Stat_t, no unix ioctls). Checked here so `go test ./...` catches
// it before landing, not only `make package-test`.
func TestNonLinuxTargetsBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the binary")
	}
	for _, target := range [][2]string{{"windows", "amd64"}, {"darwin", "arm64"}} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", os.DevNull, "./cmd/restartinator")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "GOOS="+target[0], "GOARCH="+target[1], "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("GOOS=%s GOARCH=%s go build ./cmd/restartinator: %v\n%s\nput the platform-specific code in a file with a build tag (foo_unix.go / foo_other.go)",
				target[0], target[1], err, out)
		}
	}
}
