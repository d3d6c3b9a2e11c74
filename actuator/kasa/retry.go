package kasa

import (
	"context"
	"errors"
	"time"
)

// Retries is how many more times a transient failure is tried, each time on a
// fresh session, as python-kasa's SmartProtocol does (retry_count=3).
const Retries = 3

// SMART answers that mean "this session or this moment failed, try again"
// (python-kasa's SMART_RETRYABLE_ERRORS).
const (
	smartSessionTimeout     = 9999
	smartUnspecific         = -1001
	smartTransportNotAvail  = 1002
	smartHTTPTransportFail  = 1112
	smartSessionExpired     = -40401
	smartInvalidNonce       = -40413
	smartUnknownMethod      = -1002
	smartScheduleFull       = -1802
	smartLoginError         = -1501
	smartCountdownError     = -1901
	smartInvalidPublicKey   = -1010
	smartAESDecodeFail      = -1005
	smartHandshakeFailed    = 1100
	smartLoginFailed        = 1111
	smartUnknownCredentials = 1003
)

var transientCodes = map[int]bool{
	smartSessionTimeout: true, smartUnspecific: true, smartTransportNotAvail: true,
	smartHTTPTransportFail: true, smartSessionExpired: true, smartInvalidNonce: true,
}

// transientAnswer says whether the device (or the session in front of it)
// answered with something a fresh session may cure.
func transientAnswer(err error) bool {
	var de *DeviceError
	if errors.As(err, &de) {
		return transientCodes[de.Code]
	}
	return errors.Is(err, errSessionLost)
}

// transientOrNetwork is transientAnswer, or no usable answer at all (a
// timeout, a reset or refused connection). Only safe to retry where a
// request that did reach the plug changes nothing if repeated.
func transientOrNetwork(err error) bool {
	var ce *connError
	return transientAnswer(err) || errors.As(err, &ce) || isTimeout(err)
}

// retry runs fn, and after a failure retryable says is transient, resets
// the session and tries again, up to Retries more times. After a device's
// transient answer it waits delay first, as python-kasa does; after a
// network failure it tries at once (a timeout has waited already).
// It is the one place retries are written; callers only classify.
func retry(ctx context.Context, delay time.Duration, sleep func(context.Context, time.Duration) error,
	reset func(), retryable func(error) bool, fn func() error) (tries int, err error) {
	for tries = 1; ; tries++ {
		err = fn()
		if err == nil || tries > Retries || !retryable(err) || ctx.Err() != nil {
			return tries, err
		}
		reset()
		if !transientAnswer(err) {
			continue
		}
		if serr := sleep(ctx, delay); serr != nil {
			return tries, errors.Join(err, serr)
		}
	}
}
