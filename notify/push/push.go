// Package push is the push and chat channels (ntfy, Telegram, Pushover,
// Gotify, Discord, Slack, Matrix, a generic webhook and the rest of
// shoutrrr's services) as a notify.Sender: a service URL from the config,
// the short title and message templates, and priority and tags mapped from
// the event kinds where the service has them.
//
// The URL carries the service's token, so it is a secret: errors name the
// service and its host, never the URL, and any part of the URL that shows up
// in a library error is replaced by <secret>.
package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"
	"github.com/nicholas-fedor/shoutrrr/pkg/util/jsonclient"

	"github.com/restartinator/restartinator/notify"
)

// level is how urgent a message is, from the kinds of event it reports.
type level int

const (
	levelLow level = iota
	levelDefault
	levelHigh
)

// urgent kinds make a message high priority; a message reporting only
// recoveries is low.
var urgent = []string{"gave_up", "cycle_failed", "plug_unreachable", "host_reset"}

func levelOf(kinds []string) level {
	for _, k := range kinds {
		if slices.Contains(urgent, k) {
			return levelHigh
		}
	}
	if len(kinds) > 0 && !slices.ContainsFunc(kinds, func(k string) bool { return k != "recovered" && k != "channel_recovered" }) {
		return levelLow
	}
	return levelDefault
}

// tags are ntfy's tags per kind; ntfy shows the ones that name an emoji as
// that emoji.
var tags = map[string]string{
	"offline":           "warning",
	"cycle_started":     "arrows_counterclockwise",
	"recovered":         "white_check_mark",
	"cycle_failed":      "x",
	"gave_up":           "rotating_light",
	"held":              "pause_button",
	"plug_unreachable":  "electric_plug",
	"host_reset":        "computer",
	"notify":            "bell",
	"channel_failing":   "mailbox_with_no_mail",
	"channel_recovered": "mailbox_with_mail",
	notify.KindTest:     "test_tube",
}

// service is what we know of a shoutrrr service beyond its URL: whether it
// takes a title, and its priority values for low, default and high.
type service struct {
	title    bool
	priority [3]string
	tags     bool
	// reuse keeps one initialised service for every message. Others are
	// initialised afresh for each message: shoutrrr's ntfy client adds its
	// headers to one map it keeps, so its second message would carry the
	// first one's title and priority, and params change a service's config
	// for good. Matrix logs in when initialised, so it is reused.
	reuse bool
	// host is the service's own host, for services whose URL puts a key
	// where the host goes (pushover://shoutrrr:TOKEN@USER_KEY): errors and
	// "notify test" name this one instead.
	host string
}

// services lists what each service takes; a shoutrrr service not listed
// gets the title as the message's first line.
var services = map[string]service{
	"ntfy":       {title: true, priority: [3]string{"low", "default", "high"}, tags: true},
	"pushover":   {title: true, priority: [3]string{"-1", "0", "1"}, host: "api.pushover.net"},
	"gotify":     {title: true, priority: [3]string{"2", "5", "8"}},
	"telegram":   {title: true, host: "api.telegram.org"},
	"discord":    {title: true, host: "discord.com"},
	"slack":      {title: true, host: "slack.com"},
	"matrix":     {title: true, reuse: true},
	"generic":    {title: true},
	"teams":      {title: true},
	"mattermost": {title: true},
	"pushbullet": {title: true},
	"bark":       {title: true},
	"join":       {title: true},
	"lark":       {title: true},
}

// Sender sends to one shoutrrr service URL.
type Sender struct {
	name     string
	scheme   string // ntfy, telegram, generic ...
	host     string
	svc      types.Service
	cfgURL   *url.URL
	known    service
	userKeys map[string]bool // query keys the URL sets: never overridden
	tmpl     *notify.TextTemplates
	defaults *notify.TextTemplates
	logger   *slog.Logger
	redact   *strings.Replacer
	// busy holds a token while a request runs. shoutrrr's Send takes no
	// context, so a request that outlives the attempt's timeout is left to
	// finish on its own; until it does the channel makes no new one, so a
	// hanging server costs one goroutine, not one per retry.
	busy chan struct{}
}

var _ notify.Sender = (*Sender)(nil)

// Options configure a Sender.
type Options struct {
	// Name is the channel's name; Where names it in errors
	// (notifications.channels[0] "phone" (line 12)).
	Name, Where string
	// URL is the shoutrrr service URL.
	URL                            string
	TitleTemplate, MessageTemplate string
	Logger                         *slog.Logger
}

// New checks the URL (a known service, a URL the service accepts) and the
// templates, and makes the sender. Errors never contain the URL.
func New(o Options) (*Sender, error) {
	u, err := url.Parse(o.URL)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("%s: url is not a service URL like ntfy://ntfy.sh/topic (check its quoting and special characters)", o.Where)
	}
	s := &Sender{name: o.Name, logger: o.Logger, busy: make(chan struct{}, 1), userKeys: map[string]bool{}}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.scheme = strings.ToLower(strings.SplitN(u.Scheme, "+", 2)[0])
	s.redact = redactor(u, services[s.scheme].host != "")
	var r router.ServiceRouter
	svc, err := r.NewService(s.scheme)
	if err != nil {
		return nil, fmt.Errorf("%s: url: unknown service %q — use one of %s, or the native webhook", o.Where, s.scheme, strings.Join(known(&r), ", "))
	}
	cfgURL := u
	if u.Scheme != s.scheme {
		custom, ok := svc.(types.CustomURLService)
		if !ok {
			return nil, fmt.Errorf("%s: url: %s does not take a %s:// URL", o.Where, s.scheme, u.Scheme)
		}
		if cfgURL, err = custom.GetConfigURLFromCustom(u); err != nil {
			return nil, fmt.Errorf("%s: url: %s", o.Where, s.redact.Replace(err.Error()))
		}
	}
	if err := svc.Initialize(cfgURL, log.New(io.Discard, "", 0)); err != nil {
		return nil, fmt.Errorf("%s: url: %s does not accept it: %s", o.Where, s.scheme, s.redact.Replace(err.Error()))
	}
	s.svc, s.cfgURL, s.known = svc, cfgURL, services[s.scheme]
	for k := range u.Query() {
		s.userKeys[strings.ToLower(k)] = true
	}
	s.host = u.Host
	if h := s.known.host; h != "" {
		s.host = h
	}
	if s.tmpl, err = notify.ParseTextTemplates(o.Where, o.TitleTemplate, o.MessageTemplate); err != nil {
		return nil, err
	}
	if s.defaults, err = notify.ParseTextTemplates(o.Where, "", ""); err != nil {
		return nil, err // a bug, caught by the tests
	}
	return s, nil
}

func known(r *router.ServiceRouter) []string {
	l := r.ListServices()
	slices.Sort(l)
	return l
}

// redactor replaces the parts of u that may be tokens: user, password,
// path segments, query values, and the host when the service puts a key
// there.
func redactor(u *url.URL, hostIsKey bool) *strings.Replacer {
	var secrets []string
	add := func(s string) {
		if len(s) >= 4 {
			secrets = append(secrets, s)
		}
	}
	if hostIsKey {
		add(u.Hostname())
	}
	if u.User != nil {
		add(u.User.Username())
		p, _ := u.User.Password()
		add(p)
	}
	for _, seg := range strings.Split(u.Path, "/") {
		add(seg)
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			add(v)
		}
	}
	// Longest first, so a token is not half replaced by a shorter one.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	var pairs []string
	for _, s := range secrets {
		pairs = append(pairs, s, "<secret>", url.PathEscape(s), "<secret>", url.QueryEscape(s), "<secret>")
	}
	return strings.NewReplacer(pairs...)
}

// Settings: one message per request, a refused one dropped at once.
func (s *Sender) Settings() notify.Settings {
	return notify.Settings{Batch: 1, MaxRejections: 1}
}

// Service is the shoutrrr service, such as ntfy.
func (s *Sender) Service() string { return s.scheme }

// Destination says where a test message goes, without the token.
func (s *Sender) Destination() string {
	return "a test message to " + s.scheme + " (" + s.host + ")"
}

// Compose renders the title and message. A template that fails on real data
// falls back to the defaults.
func (s *Sender) Compose(d *notify.Data) (string, string) {
	title, msg, err := s.tmpl.Render(d)
	if err != nil {
		s.logger.Error("channel template failed; sending this message with the default templates", "channel", s.name, "err", err)
		title, msg, _ = s.defaults.Render(d)
	}
	return title, msg
}

// Params are what a message sends besides its text: the title, and
// priority and tags where the service has them and the URL does not set
// them. Every key is set on every message, since shoutrrr keeps the last
// message's values otherwise.
func (s *Sender) Params(m *notify.Message) (text string, params types.Params) {
	params = types.Params{}
	text = m.Body
	if s.known.title {
		params.SetTitle(m.Title)
	} else if m.Title != "" {
		text = m.Title + "\n" + m.Body
	}
	if p := s.known.priority; p[0] != "" && !s.userKeys["priority"] {
		params["priority"] = p[levelOf(m.Kinds)]
	}
	if s.known.tags && !s.userKeys["tags"] {
		var t []string
		for _, k := range m.Kinds {
			if tag := tags[k]; tag != "" {
				t = append(t, tag)
			}
		}
		params["tags"] = strings.Join(t, ",")
	}
	return text, params
}

// Notify sends msgs one by one (Settings.Batch is 1).
func (s *Sender) Notify(ctx context.Context, msgs []*notify.Message) []notify.Result {
	out := make([]notify.Result, len(msgs))
	for i, m := range msgs {
		out[i] = s.send(ctx, m)
		if out[i].Err != nil {
			for j := i + 1; j < len(msgs); j++ {
				out[j] = notify.Result{Retry: true, Err: errors.New("not tried: an earlier message failed")}
			}
			break
		}
	}
	return out
}

func (s *Sender) send(ctx context.Context, m *notify.Message) notify.Result {
	select {
	case s.busy <- struct{}{}:
	default:
		return notify.Result{Retry: true, Err: &Error{Service: s.scheme, Host: s.host,
			What: "has not answered the previous request yet", Hint: "is the server hanging?"}}
	}
	text, params := s.Params(m)
	done := make(chan error, 1)
	go func() {
		svc, err := s.service()
		if err == nil {
			err = svc.Send(text, &params)
		}
		<-s.busy // before the answer, so the next message finds the sender free
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			return notify.Result{}
		}
		return s.describe(err)
	case <-ctx.Done():
		return notify.Result{Retry: true, Err: &Error{Service: s.scheme, Host: s.host,
			What: "did not answer in time", Hint: "is the server up and reachable? (timeout)"}}
	}
}

// service is the service to send one message with (see service.reuse).
func (s *Sender) service() (types.Service, error) {
	if s.known.reuse {
		return s.svc, nil
	}
	var r router.ServiceRouter
	svc, err := r.NewService(s.scheme)
	if err != nil {
		return nil, err
	}
	if err := svc.Initialize(s.cfgURL, log.New(io.Discard, "", 0)); err != nil {
		return nil, err
	}
	return svc, nil
}

// Error is a failed delivery told in a sentence:
// "ntfy: 401 from 127.0.0.1:8080 — check the token in the URL".
type Error struct {
	Service, Host string
	// Status is the HTTP status, 0 when there was none.
	Status int
	What   string
	Hint   string
}

func (e *Error) Error() string {
	s := e.Service + ": "
	switch {
	case e.Status != 0:
		s += fmt.Sprintf("%d from %s", e.Status, e.Host)
		if e.What != "" {
			s += " (" + e.What + ")"
		}
	default:
		s += e.Host + " " + e.What
	}
	if e.Hint != "" {
		s += " — " + e.Hint
	}
	return s
}

var (
	statusRE = regexp.MustCompile(`(?:^|[^.:\d])([45]\d\d)(?:\d\d)?(?:[^.:\d]|$)`)
	urlRE    = regexp.MustCompile(`"?[a-z][a-z0-9+.-]*://[^\s"]*"?`)
)

// describe turns a shoutrrr error into an Error and says whether to retry:
// 4xx other than 401, 403, 404, 408 and 429 is about the message and is not
// retried; an authentication or address error is, since a reload may fix it.
func (s *Sender) describe(err error) notify.Result {
	text := urlRE.ReplaceAllString(s.redact.Replace(err.Error()), "<url>")
	e := &Error{Service: s.scheme, Host: s.host}
	var je jsonclient.Error
	if errors.As(err, &je) && je.StatusCode != 0 {
		e.Status = je.StatusCode
	} else if m := statusRE.FindStringSubmatch(text); m != nil {
		e.Status, _ = strconv.Atoi(m[1])
	}
	var ne net.Error
	switch {
	case e.Status == 401 || e.Status == 403:
		e.Hint = "check the token or password in the URL"
	case e.Status == 404:
		e.Hint = "check the topic, path or ID in the URL"
	case e.Status == 429:
		e.Hint = "rate limited; will retry"
	case e.Status >= 500:
		e.Hint = "the service failed; will retry"
	case e.Status >= 400:
		e.What = text
		e.Hint = "the service refused this message; it is dropped"
		return notify.Result{Retry: false, Err: e}
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
		e.What, e.Hint = "did not answer in time", "is the server up and reachable?"
	default:
		e.What, e.Hint = "could not be reached ("+text+")", "is the server up and reachable?"
	}
	return notify.Result{Retry: true, Err: e}
}
