package web

// Fuzz targets for what the pages read from forms and query strings
// without a database: the return address (next), date fields, and the
// user code typed on the device page.

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/oidc"
)

// FuzzSafeNext: the return address after signing in is the one asked for
// or "/", and always a path on this site: never an absolute URL, never
// scheme-relative (//host, /\host, which browsers read as //host), never
// with control characters (which browsers drop, joining what is around
// them); resolved against the site's URL, it stays on the site.
// safeNext is idempotent.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{
		"/", "/dashboard", "/device?user_code=BCDF-GHJK", "/a/b?c=d#e", "", "dashboard", "https://evil.example/",
		"//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example", "/\t/evil.example", "/\n/evil.example",
		"/%2F%2Fevil.example", "/.//evil.example", "/..//evil.example", "http:/evil.example", "/x:y", "javascript:alert(1)",
		"/@evil.example", "/a@evil.example/", "/\x00", "/\x7f", "/\u00a0", "/\u2028", "/é", "/\xff", "/?next=//evil.example",
		"/ /evil.example", "/%5Cevil.example", "/%09/evil.example",
	} {
		f.Add(s)
	}
	site, _ := url.Parse("https://cloud.example/signin?next=x")
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got != "/" && got != next {
			t.Fatalf("safeNext(%q) = %q: neither the address nor /", next, got)
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\") ||
			strings.ContainsFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("safeNext(%q) = %q: not a plain path", next, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.IsAbs() || u.Host != "" || u.User != nil || u.Opaque != "" {
			t.Fatalf("safeNext(%q) = %q parses as %#v, %v", next, got, u, err)
		}
		if to := site.ResolveReference(u); to.Scheme != site.Scheme || to.Host != site.Host || to.User != nil {
			t.Fatalf("safeNext(%q) = %q leads to %s", next, got, to)
		}
		if again := safeNext(got); again != got {
			t.Fatalf("safeNext(%q) = %q: not idempotent", got, again)
		}
	})
}

// FuzzDashDate: a date field is empty (no date) or YYYY-MM-DD of a day
// not over yet, read as the end of that day, UTC: the day after, at
// midnight, which formats back to the day given. A day from today on is
// taken, one before today is not.
func FuzzDashDate(f *testing.F) {
	for _, s := range []struct {
		v    string
		days int32
	}{
		{"", 0}, {"  ", 1}, {"2099-03-03", -1}, {" 2099-03-03 ", 365}, {"2000-01-01", -3650}, {"2099-02-29", 0},
		{"2096-02-29", 0}, {"2099-13-01", 0}, {"2099-1-1", 0}, {"20990101", 0}, {"2099-01-01T00:00:00Z", 0},
		{"+2099-01-01", 0}, {"9999-12-31", 1 << 20}, {"0000-01-01", -1 << 20}, {"2099-01-01\x00", 0}, {"２０９９-01-01", 0},
	} {
		f.Add(s.v, s.days)
	}
	f.Fuzz(func(t *testing.T, v string, days int32) {
		at, ok := dashDate(v)
		trimmed := strings.TrimSpace(v)
		switch {
		case trimmed == "":
			if at != nil || !ok {
				t.Fatalf("dashDate(%q) = %v, %v: want no date", v, at, ok)
			}
		case ok:
			if at == nil || at.Location() != time.UTC || at.Hour() != 0 || at.Minute() != 0 || at.Second() != 0 || at.Nanosecond() != 0 {
				t.Fatalf("dashDate(%q) = %v: not a midnight UTC", v, at)
			}
			if !at.After(time.Now()) {
				t.Fatalf("dashDate(%q) = %v: over already", v, at)
			}
			if day := at.AddDate(0, 0, -1).Format(time.DateOnly); day != trimmed {
				t.Fatalf("dashDate(%q) = %v, which is the end of %s", v, at, day)
			}
		case at != nil:
			t.Fatalf("dashDate(%q) = %v, false", v, at)
		}
		// A day counted from today: taken from today on, never before.
		now := time.Now().UTC()
		today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		day := today.AddDate(0, 0, int(days))
		if day.Year() < 1 || day.Year() > 9999 {
			return
		}
		at, ok = dashDate(day.Format(time.DateOnly))
		if ok != (days >= 0) || ok && !at.Equal(day.AddDate(0, 0, 1)) {
			t.Fatalf("dashDate(%s) (today %+d days) = %v, %v", day.Format(time.DateOnly), days, at, ok)
		}
	})
}

// FuzzTypedCode: the user code shown back is what was typed (the query's
// on GET, the form's on POST), without the white space around it, cut to
// at most 32 bytes between characters (so valid UTF-8 stays valid); the
// device page's address carries it back unchanged.
func FuzzTypedCode(f *testing.F) {
	for _, s := range []struct {
		code string
		post bool
	}{
		{"BCDF-GHJK", false}, {" bcdf ghjk ", true}, {"", false}, {"   ", true}, {strings.Repeat("B", 40), false},
		{strings.Repeat("é", 20), true}, {strings.Repeat("€", 20), false}, {"x" + strings.Repeat("😀", 10), true}, {strings.Repeat("0", 29) + "\x8d\x8c\xa0\x91", false}, {"a&user_code=b", false}, {"#x", true}, {"\x00", false}, {"\xff", true},
		{"BCDF GHJK" + strings.Repeat(" ", 30) + "x", false},
	} {
		f.Add(s.code, s.post)
	}
	gin.SetMode(gin.TestMode)
	f.Fuzz(func(t *testing.T, typed string, post bool) {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		form := url.Values{"user_code": {typed}}.Encode()
		if post {
			c.Request = httptest.NewRequest(http.MethodPost, oidc.PathDevice+"?user_code=other", strings.NewReader(form))
			c.Request.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			c.Request = httptest.NewRequest(http.MethodGet, oidc.PathDevice+"?"+form, nil)
		}
		code := typedCode(c)
		trimmed := strings.TrimSpace(typed)
		if len(code) > 32 || !strings.HasPrefix(trimmed, code) || len(trimmed) <= 32 && code != trimmed {
			t.Fatalf("typedCode(%q) = %q", typed, code)
		}
		if utf8.ValidString(trimmed) && (!utf8.ValidString(code) || len(code) < min(32, len(trimmed))-utf8.UTFMax+1) {
			t.Fatalf("typedCode(%q) = %q: cut inside a character, or too short", typed, code)
		}
		next, err := url.Parse(deviceNext(code))
		if err != nil || next.Path != oidc.PathDevice || next.Host != "" || next.Query().Get("user_code") != code {
			t.Fatalf("deviceNext(%q) = %q (%v): does not carry the code back", code, deviceNext(code), err)
		}
	})
}
