package public

// Fuzz targets for the parsers of /api/v1 input that need no database:
// the JSON body reader, times (unix seconds or RFC 3339), ids and the
// headless approval's scope parameters. The handlers behind the real
// router are fuzzed in api (FuzzAPIBodies).

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// FuzzReadJSON: a body is decoded into the handler's struct, or refused
// with 400 (413 when too large) and an ErrorResponse: never a panic, never
// another status, never a body that is not JSON.
func FuzzReadJSON(f *testing.F) {
	for _, s := range []string{
		`{"name":"ci","team_id":null,"expires_at":1893456000}`,
		`{"name":"ci","expires_at":"2030-01-02T15:04:05Z"}`,
		`{"name":"ci","unknown":1}`, `{"name":1}`, `{"name":"a"} {"name":"b"}`, `{"name":"a"}x`, `{}`, ` { } `,
		`[]`, `null`, ` null `, ``, `   `, `"x"`, `{"name":"\u0000"}`, `{"name":"\ud800"}`, "{\"name\":\"\xff\"}",
		`{"expires_at":` + strings.Repeat("[", 10000), `{"name":"` + strings.Repeat("x", maxBody) + `"}`,
		`{"NAME":"case"}`, `{"name":"a","name":"b"}`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	gin.SetMode(gin.TestMode)
	f.Fuzz(func(t *testing.T, body []byte, strict bool) {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest(http.MethodPost, "/api/v1/personal-access-tokens", bytes.NewReader(body))
		var in struct {
			Name      *string         `json:"name"`
			TeamID    *string         `json:"team_id"`
			ExpiresAt json.RawMessage `json:"expires_at"`
		}
		if readJSON(c, &in, strict) {
			if w.Body.Len() != 0 || c.IsAborted() {
				t.Fatalf("decoded, yet answered %d %s", w.Code, w.Body)
			}
			return
		}
		if w.Code != http.StatusBadRequest && w.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("refused with %d, want 400 or 413: %s", w.Code, w.Body)
		}
		var e headlessError
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || !utf8.Valid(w.Body.Bytes()) {
			t.Fatalf("the answer is not JSON: %v %q", err, w.Body)
		}
		if e.Status != w.Code || e.Code != reasonInvalidInput || e.Message == "" {
			t.Fatalf("the answer is not an ErrorResponse: %s", w.Body)
		}
	})
}

// FuzzParseTime: expires_at is absent, unix seconds or RFC 3339. Whole
// seconds come back as sent (parseTime(n).Unix() == n) over the whole
// range taken, a fraction to the nanosecond; RFC 3339 parses as time.Parse
// does, and a time given in either form reads the same in the other. An
// error names the field, in valid UTF-8.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		``, ` `, `null`, ` null `, `0`, `1`, `1893456000`, `1893456000.5`, `1e9`, `1e11`, `99999999999`, `100000000001`,
		`9223372036`, `9223372037`, `-1`, `-0`, `1.7976931348623157e308`, `"2030-01-02T15:04:05Z"`,
		`"2030-01-02T15:04:05.123456789+02:00"`, `"2030-01-02"`, `"0000-01-01T00:00:00Z"`, `"9999-12-31T23:59:59Z"`,
		`"2030-02-30T00:00:00Z"`, `"2030-01-02T24:00:00Z"`, `""`, `"\u0000"`, "\"\xff\"", `true`, `{}`, `[1]`, `"1893456000"`, "0\v", "\u00851",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		at, err := parseTime("expires_at", raw)
		if err != nil {
			if at != nil || !strings.HasPrefix(err.Error(), "expires_at ") || !utf8.ValidString(err.Error()) {
				t.Fatalf("parseTime(%q) = %v, %q", raw, at, err)
			}
			return
		}
		// As parseTime, around the value: a RawMessage has only JSON's
		// white space there, a caller may have more.
		raw = bytes.TrimSpace(raw)
		if at == nil {
			if len(raw) != 0 && string(raw) != "null" {
				t.Fatalf("parseTime(%q) = no time", raw)
			}
			return
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			want, err := time.Parse(time.RFC3339, s)
			if err != nil || !at.Equal(want) {
				t.Fatalf("parseTime(%q) = %v, time.Parse says %v, %v", raw, at, want, err)
			}
		} else {
			var n float64
			if err := json.Unmarshal(raw, &n); err != nil || n < 0 || n > 1e11 {
				t.Fatalf("parseTime(%q) = %v: not a number in range", raw, at)
			}
			sec, frac := math.Modf(n)
			if at.Unix() != int64(sec) || math.Abs(float64(at.Nanosecond())-frac*1e9) > 1 {
				t.Fatalf("parseTime(%s) = %v (unix %d, %d ns), want unix %d and %.0f ns", raw, at, at.Unix(), at.Nanosecond(), int64(sec), frac*1e9)
			}
		}
		// The other form reads the same: RFC 3339 for a number, whole
		// seconds for a string that has no fraction.
		rfc, _ := json.Marshal(at.Format(time.RFC3339Nano))
		if back, err := parseTime("expires_at", rfc); err != nil || !back.Equal(*at) {
			t.Fatalf("parseTime(%q) = %v, but %s reads %v, %v", raw, at, rfc, back, err)
		}
		if at.Nanosecond() == 0 && at.Unix() >= 0 && at.Unix() <= 1e11 {
			unix := strconv.FormatInt(at.Unix(), 10)
			if back, err := parseTime("expires_at", []byte(unix)); err != nil || !back.Equal(*at) {
				t.Fatalf("parseTime(%q) = %v, but %s reads %v, %v", raw, at, unix, back, err)
			}
		}
	})
}

// FuzzGrantedScopes: the approval's scope parameters, however many and
// however separated, become scopes without repeats, never empty, never
// holding a separator, each a piece of what was sent, in the order sent.
func FuzzGrantedScopes(f *testing.F) {
	for _, s := range []struct{ a, b string }{
		{"profile:read,assistant", ""}, {"profile:read assistant", "offline"}, {"a,,b", "a"}, {"", ""}, {",", " \t "},
		{"profile:read\u00a0offline", "x\x00y"}, {"\xff", "é,é"},
	} {
		f.Add(s.a, s.b)
	}
	gin.SetMode(gin.TestMode)
	f.Fuzz(func(t *testing.T, a, b string) {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest(http.MethodPost, "/?"+url.Values{"scope": {a, b}}.Encode(), nil)
		got := grantedScopes(c)
		var want []string
		for _, v := range []string{a, b} {
			for _, piece := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
				if !slices.Contains(want, piece) {
					want = append(want, piece)
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("grantedScopes(%q, %q) = %q, want %q", a, b, got, want)
		}
		for _, s := range got {
			if s == "" || strings.ContainsAny(s, ", \t") {
				t.Fatalf("grantedScopes(%q, %q) kept %q", a, b, s)
			}
		}
	})
}
