package config

import "sync"

// marshalSecretsMu serialises the rare conversions that print secrets, since
// prometheus/common controls that with a package variable.
var marshalSecretsMu sync.RWMutex
