// Package notify owns outgoing notifications: SMTP email, its templates and
// the delivery queue.
package notify
