package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// reloadOnSIGHUP reloads the config on every SIGHUP until ctx ends. It
// takes SIGHUP over before it returns: a SIGHUP that came before the
// handler would otherwise end the process (the default action).
func (s *service) reloadOnSIGHUP(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = s.reload() // logs its own outcome
			}
		}
	}()
}
