package config

import (
	"fmt"
	"os"
	"time"
)

// HAConfig makes this restartinator one of a redundant pair (or more) that
// supervise the same plugs. The plug is the shared state: before switching an
// outlet off, each instance asks the plug whether a peer is already cycling
// it, and skips with the reason cycled_by_peer when one is.
type HAConfig struct {
	// PeerCheck turns the check on. Off by default: a lone instance would
	// take a plug switched on by hand a minute ago for a peer's cycle.
	PeerCheck bool `yaml:"peer_check"`
	// Instance names this restartinator in logs and in the flip-back timers
	// it arms where the plug keeps a name (default: the host name).
	Instance string `yaml:"instance,omitempty"`
	// PeerDelay is how long this instance waits before checking, so that two
	// instances told at the same moment do not both see an idle plug: give
	// the standby a few seconds, the primary none.
	PeerDelay Duration `yaml:"peer_delay,omitempty"`
}

// maxPeerDelay keeps a misconfigured delay from holding cycles for minutes.
const maxPeerDelay = 5 * time.Minute

func (h *HAConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*h = HAConfig{}
	type plain HAConfig
	if err := unmarshal((*plain)(h)); err != nil {
		return err
	}
	if h.PeerDelay < 0 || h.PeerDelay.D() > maxPeerDelay {
		return fmt.Errorf("peer_delay %s: must be between 0s and %s", h.PeerDelay, maxPeerDelay)
	}
	return nil
}

// InstanceName is the configured instance name, or the host name.
func (h HAConfig) InstanceName() string {
	if h.Instance != "" {
		return h.Instance
	}
	if n, err := os.Hostname(); err == nil && n != "" {
		return n
	}
	return "restartinator"
}
