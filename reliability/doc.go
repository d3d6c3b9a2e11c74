// Package reliability is the fault-injection suite of issue 9: it tries to
// make restartinator lose a device (leave an outlet off), a message or an
// alert, by killing the real binary mid-cycle, cutting the plug, the guard
// target and the mail server off, reloading bad configs under load and
// flooding the webhook.
//
// The tests are slow and run only with RESTARTINATOR_RELIABILITY=1
// (`make reliability`); plain `go test ./...` skips them at once. They print
// a summary of their figures at the end of the run.
package reliability
