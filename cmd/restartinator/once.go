package main

import (
	"context"
	"log/slog"

	"github.com/restartinator/restartinator/actuator/filetrigger"
	"github.com/restartinator/restartinator/actuator/hostreset"
	"github.com/restartinator/restartinator/config"
)

// runOnce is single_run (py-stability-iot's cron mode): check every file
// trigger once, act if its file is there, and exit.
func runOnce(ctx context.Context, logger *slog.Logger, c *config.Config) int {
	r := hostreset.New(c.HostReset, hostreset.Options{DryRun: c.Global.DryRun, Logger: logger})
	w, err := filetrigger.New(c.Triggers.Files, filetrigger.Options{
		HostReset: func(ctx context.Context) error { return r.Reset(ctx, "file") },
		Cycle: func(ctx context.Context, device string) error {
			logger.Error("single run cannot power-cycle devices; run restartinator as a service for cycle triggers", "device", device)
			return nil
		},
		Logger: logger,
	})
	if err != nil {
		logger.Error("file triggers", "err", err)
		return 1
	}
	acted, err := w.CheckOnce(ctx)
	if err != nil {
		logger.Error("single run", "err", err)
		return 1
	}
	logger.Info("single run done", "acted", acted)
	return 0
}
