package config

import (
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"

	commoncfg "github.com/prometheus/common/config"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://cam.local/status", "http://cam.local/status"},
		{"http://admin:pw@cam.local/", "http://admin:xxxxx@cam.local/"},
		{"https://ghp_abc123@cam.local/", "https://xxxxx@cam.local/"},
		{"http://cam.local/?token=abc&page=2", "http://cam.local/?token=xxxxx&page=2"},
		{"http://cam.local/?API_KEY=abc&x=1&access_token=t&sig=s&auth=a&pwd=p", "http://cam.local/?API_KEY=xxxxx&x=1&access_token=xxxxx&sig=xxxxx&auth=xxxxx&pwd=xxxxx"},
		{"http://cam.local/?pass%77ord=abc", "http://cam.local/?pass%77ord=xxxxx"},
		{"http://cam.local/?flag", "http://cam.local/?flag"},
		{"http://a:b@[::1]:8080/p?q=1&secret=2", "http://a:xxxxx@[::1]:8080/p?q=1&secret=xxxxx"},
		{"http://h/%zz?token=abc", "<unparsable URL, redacted>"},
		{"", ""},
	} {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// secretish names a field that reads like a secret; such a field must be a
// commoncfg.Secret (or a URL, redacted), never a plain string.
var secretish = regexp.MustCompile(`(?i)password|secret|token|credential|api_?key|private`)

var plantedCount int

// plant walks v, a config value, and puts a distinct secret into every field
// that can hold one: each commoncfg.Secret, and each URL (string fields
// whose key says url, and commoncfg.URL) gets a password, a user name and a
// ?token=. It returns the planted secrets by where they are.
func plant(t *testing.T, v reflect.Value, path string, planted map[string]string) {
	secretType := reflect.TypeFor[commoncfg.Secret]()
	urlType := reflect.TypeFor[commoncfg.URL]()
	secret := func() string {
		plantedCount++
		return fmt.Sprintf("planted%dsecret", plantedCount) // distinct: none contains another
	}
	withURL := func(path string) string {
		pw, tok := secret(), secret()
		planted[path+" (password)"] = pw
		planted[path+" (?token=)"] = tok
		return "http://user:" + pw + "@h.example/p?token=" + tok
	}
	switch {
	case v.Type() == secretType:
		s := secret()
		planted[path] = s
		v.SetString(s)
		return
	case v.Type() == urlType:
		u, err := url.Parse(withURL(path))
		if err != nil {
			t.Fatal(err)
		}
		v.Set(reflect.ValueOf(commoncfg.URL{URL: u}))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.Type().Elem().Kind() != reflect.Struct || strings.HasPrefix(v.Type().Elem().PkgPath(), "regexp") {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		plant(t, v.Elem(), path, planted)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || tag == "-" {
				continue
			}
			key := tag
			if key == "" {
				key = strings.ToLower(f.Name)
			}
			p := path + "." + key
			fv := v.Field(i)
			if fv.Kind() == reflect.String && fv.Type() != secretType {
				switch {
				case (strings.Contains(key, "url") && !strings.HasSuffix(key, "_file")) || key == "broker":
					fv.SetString(withURL(p))
				case secretish.MatchString(key) && !strings.HasSuffix(key, "_file") && !strings.HasSuffix(key, "_ref") && !strings.HasSuffix(key, "_id"):
					t.Errorf("%s looks like a secret but is a plain string: make it a commoncfg.Secret so it is redacted", p)
				}
				continue
			}
			plant(t, fv, p, planted)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		s := reflect.MakeSlice(v.Type(), 1, 1)
		plant(t, s.Index(0), path+"[0]", planted)
		v.Set(s)
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return
		}
		m := reflect.MakeMap(v.Type())
		e := reflect.New(v.Type().Elem()).Elem()
		plant(t, e, path+"[k]", planted)
		m.SetMapIndex(reflect.ValueOf("k").Convert(v.Type().Key()), e)
		v.Set(m)
	}
}

// Every config field that can hold a secret — found by walking the config
// types, including prometheus/common's http_client_config — is redacted
// when the config is shown (/config, logs), and kept by config convert.
func TestMarshalRedactsEverySecretField(t *testing.T) {
	var c Config
	planted := map[string]string{}
	plant(t, reflect.ValueOf(&c).Elem(), "config", planted)
	// Each plug type's own keys (yaml:"-" in PlugConfig, marshalled inline).
	for _, name := range PlugTypeNames() {
		pt, _ := LookupPlugType(name)
		if pt.Settings == nil {
			continue
		}
		p := PlugConfig{Name: name, Type: name, Settings: pt.Settings()}
		plant(t, reflect.ValueOf(p.Settings).Elem(), "config.plugs["+name+"]", planted)
		c.Plugs = append(c.Plugs, p)
	}
	if len(planted) < 10 {
		t.Fatalf("the walk planted only %d secrets: %v", len(planted), planted)
	}
	shown, err := c.Marshal(false)
	if err != nil {
		t.Fatal(err)
	}
	for where, s := range planted {
		if strings.Contains(string(shown), s) {
			t.Errorf("%s: its secret is shown", where)
		}
	}
	// The walk found real places: with secrets on, the Secret fields show.
	kept, err := c.Marshal(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"config.plugs[0].password", "config.webhook.bearer_token", "config.notifications.email.smtp_password"} {
		if s, ok := planted[key]; !ok || !strings.Contains(string(kept), s) {
			t.Errorf("%s was not planted or not kept by Marshal(true); planted: %v", key, planted)
		}
	}
	if s := planted["config.devices[0].probe.url (?token=)"]; s == "" || !strings.Contains(string(kept), s) {
		t.Error("the probe URL's token was not planted or not kept by Marshal(true)")
	}
	t.Logf("%d secret places checked", len(planted))
}

// A broker URL refused for carrying credentials names its line and key but
// not the password.
func TestBrokerURLErrorHidesPassword(t *testing.T) {
	_, err := Load([]byte("mqtt:\n  broker: mqtt://ha:broker-pw-zz@127.0.0.1\n"), "r.yml")
	if err == nil || !strings.Contains(err.Error(), "line 2: broker:") || !strings.Contains(err.Error(), "carries credentials") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "broker-pw-zz") {
		t.Errorf("the error shows the password: %v", err)
	}
}
