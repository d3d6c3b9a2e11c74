package reliability

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/kasa"
)

// bound is the real-time safety net of every wait on a real process: a
// bound, not a timing assertion.
const bound = 60 * time.Second

// logs keeps the tail of a process's log lines.
type logs struct {
	mu    sync.Mutex
	lines []string
	n     int // lines seen in all
}

const maxLogLines = 20000

func (l *logs) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	l.lines = append(l.lines, s)
	if len(l.lines) > maxLogLines {
		l.lines = append([]string(nil), l.lines[len(l.lines)-maxLogLines/2:]...)
	}
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// tail is the last n lines, for failure messages.
func (l *logs) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	from := max(0, len(l.lines)-n)
	return strings.Join(l.lines[from:], "\n")
}

// count counts kept lines containing s.
func (l *logs) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			c++
		}
	}
	return c
}

// proc is a running restartinator.
type proc struct {
	cmd  *exec.Cmd
	addr string // host:port of its web server
	logs *logs
	done chan struct{} // closed when it has exited
	err  error         // its exit, once done
}

var listenRE = regexp.MustCompile(`msg=listening address=(\S+)`)

// start runs the real binary in dir on a free loopback port and returns once
// it listens (it has reconciled left-over cycles by then). It is killed
// when the test ends.
func start(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"--web.listen-address=127.0.0.1:0"}, args...)...)
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logs: &logs{}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	addr := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.logs.add(sc.Text())
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		<-scanned // Wait closes the pipe: read it to the end first
		p.err = cmd.Wait()
		close(p.done)
	}()
	select {
	case p.addr = <-addr:
		return p
	case <-p.done:
		t.Fatalf("restartinator exited before listening (%v):\n%s", p.err, p.logs.tail(50))
	case <-time.After(bound):
		t.Fatalf("restartinator did not listen within %s:\n%s", bound, p.logs.tail(50))
	}
	return nil
}

// kill sends SIGKILL and waits for the process to go.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(bound):
	}
}

func (p *proc) url(path string) string { return "http://" + p.addr + path }

// rssKiB is the process's resident set from /proc.
func (p *proc) rssKiB() int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return -1
}

// alive reports whether the process is still running.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

var httpClient = &http.Client{Timeout: 20 * time.Second}

// do sends a request and returns the status and body; a transport error is
// status 0 with the error text as body.
func do(method, url, body string, header ...string) (int, string) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return 0, err.Error()
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// poll waits for cond, checking every step; within is the safety net.
func poll(t *testing.T, what string, within, step time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(step)
	}
}

// metric reads one sample of the process's /metrics by its exact name and
// labels as exposed, e.g. `restartinator_power_cycles_total{device="d1",trigger="webhook"}`;
// missing is -1.
func (p *proc) metric(t *testing.T, series string) float64 {
	t.Helper()
	code, body := do(http.MethodGet, p.url("/metrics"), "")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	return metricIn(body, series)
}

func metricIn(body, series string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// plugProcess is `restartinator simulate`: a plug in a process of its own,
// so it outlives the supervisor the test kills, with a client to read its
// relay.
type plugProcess struct {
	port   int
	client *kasa.Client
}

var simulatingRE = regexp.MustCompile(`^simulating .* on 127\.0\.0\.1:(\d+)$`)

// startPlugProcess runs the simulator on 127.0.0.1:0 and reads the port it
// reports on stdout: no port picked in advance that another process on a
// busy machine could take first.
func startPlugProcess(t *testing.T, model string) *plugProcess {
	t.Helper()
	cmd := exec.Command(binary(t), "simulate", "--model", model, "--listen", "127.0.0.1:0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out := &logs{}
	stderr, _ := cmd.StderrPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			out.add(sc.Text())
		}
	}()
	reported := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.add(sc.Text())
			if m := simulatingRE.FindStringSubmatch(sc.Text()); m != nil {
				port, _ := strconv.Atoi(m[1])
				select {
				case reported <- port:
				default:
				}
			}
		}
	}()
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	var port int
	select {
	case port = <-reported:
	case <-exited:
		t.Fatalf("the plug simulator exited before listening:\n%s", out.String())
	case <-time.After(bound):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("the plug simulator did not report its address within %s:\n%s", bound, out.String())
	}
	c, err := kasa.New(kasa.Options{Host: "127.0.0.1", Port: port, Protocol: "xor", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		cmd.Process.Kill()
		<-exited
	})
	return &plugProcess{port: port, client: c}
}

// relayOn reads the outlet's relay from the plug itself.
func (pp *plugProcess) relayOn(t *testing.T) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := pp.client.Status(ctx)
	if err != nil {
		// One retry: the simulator answers; a lost answer is not the test.
		st, err = pp.client.Status(ctx)
		if err != nil {
			t.Fatalf("reading the plug's relay: %v", err)
		}
	}
	return st.Outlets[0].On
}
