package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// reloadOnSIGHUP reloads the config on every SIGHUP until ctx ends.
func (s *service) reloadOnSIGHUP(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_ = s.reload() // logs its own outcome
		}
	}
}
