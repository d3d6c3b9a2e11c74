package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/alertmanager/template"
)

// The driver re-executes itself in these modes for the peers it measures
// next to restartinator, so each runs as its own process with its own CPU
// and memory figures.

// connectLoop is the bare reference: net.DialTimeout and Close, paced at the
// rate restartinator probes, round robin over the same listeners. Like
// restartinator's TCP probe it closes with linger 0 (a reset), so both leave
// the same sockets behind.
func connectLoop(args []string) {
	fs := flag.NewFlagSet("connectloop", flag.ExitOnError)
	portsFile := fs.String("ports-file", "", "file with one port per line")
	rate := fs.Float64("rate", 100, "connects per second; 0: as fast as one goroutine goes")
	workers := fs.Int("workers", 4, "goroutines")
	maxDur := fs.Duration("max-duration", 10*time.Minute, "stop after this long even if nobody says so")
	_ = fs.Parse(args)
	b, err := os.ReadFile(*portsFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var targets []string
	for _, l := range strings.Fields(string(b)) {
		if _, err := strconv.Atoi(l); err == nil {
			targets = append(targets, "127.0.0.1:"+l)
		}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	ctx, cancel2 := context.WithTimeout(ctx, *maxDur)
	defer cancel2()
	var failures atomic.Int64
	connect := func(i int64) {
		c, err := net.DialTimeout("tcp", targets[i%int64(len(targets))], time.Second)
		if err != nil {
			failures.Add(1)
			return
		}
		_ = c.(*net.TCPConn).SetLinger(0)
		_ = c.Close()
	}
	var n int64
	if *rate > 0 {
		n = pace(ctx, *rate, *workers, connect)
	} else { // as fast as it goes, one connect after the other
		for ; ctx.Err() == nil; n++ {
			connect(n)
		}
	}
	fmt.Printf("connects %d failures %d\n", n, failures.Load())
}

// minimalWebhook is the least a webhook receiver does: decode Alertmanager's
// payload and answer 200. The same handler as
// actuator/webhook's BenchmarkMinimalHandler, as a process of its own.
func minimalWebhook(args []string) {
	fs := flag.NewFlagSet("minimal-webhook", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	_ = fs.Parse(args)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhook", func(w http.ResponseWriter, r *http.Request) {
		var d template.Data
		if err := json.NewDecoder(r.Body).Decode(&d); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
		<-ch
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
