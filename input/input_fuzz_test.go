package input_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/caido-cloud/caido-cloud/input"
)

// FuzzCheckJSON: for a body that is JSON, CheckJSON refuses it exactly
// when a string in it (a value or a member's name) is not UTF-8 or holds a
// control character, as decoding it and checking every string says; its
// error names the field in valid UTF-8. A body that is not JSON never
// panics it.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{
		`{"name":"ci"}`, `{"name":"a\u0000b"}`, "{\"name\":\"\xff\"}", `{"name":"a\tb"}`, `{"d":"line\nbreak"}`,
		`{"a\u0001":1}`, `{"os":{"name":"\u007f"}}`, `{"m":[{"content":"\u0085"}]}`, `["\u0000"]`, `"\u0000"`,
		`{"a":"\ud800"}`, `{"a":"é€😀"}`, `{"a":1e400,"b":null,"c":[true,false]}`, `{`, `}`, `{"a":"x"`, `[1,2`,
		`{"a":"b"} {"c":"\u0000"}`, ``, `nul`, "{\"k\xff\":1}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		err := input.CheckJSON(body)
		if err != nil && !utf8.ValidString(err.Error()) {
			t.Fatalf("CheckJSON(%q): %q is not UTF-8", body, err)
		}
		if !json.Valid(body) {
			return
		}
		var v any
		if json.Unmarshal(body, &v) != nil {
			return // deeper than encoding/json goes
		}
		var bad func(any) bool
		bad = func(v any) bool {
			switch v := v.(type) {
			case string:
				return input.Check("f", v, input.Line) != nil
			case []any:
				for _, e := range v {
					if bad(e) {
						return true
					}
				}
			case map[string]any:
				for k, e := range v {
					if bad(k) || bad(e) {
						return true
					}
				}
			}
			return false
		}
		// encoding/json turns what is not UTF-8 into U+FFFD: the raw body
		// tells (in JSON, bytes that are not UTF-8 can only be in strings).
		want := !utf8.Valid(body) || bad(v)
		if (err != nil) != want {
			t.Fatalf("CheckJSON(%q) = %v; a string that may not be there: %v", body, err, want)
		}
	})
}

// FuzzCut: a cut is the start of s, at most max bytes, idempotent; of
// valid UTF-8, between characters and at most 3 bytes short of max.
func FuzzCut(f *testing.F) {
	for _, s := range []struct {
		s   string
		max uint16
	}{{"abc", 2}, {"é", 1}, {"€€", 4}, {"😀", 3}, {"\xff\xfe", 1}, {"", 0}, {"x😀", 1}, {"00\x82\x82\xac\x82", 5}} {
		f.Add(s.s, s.max)
	}
	f.Fuzz(func(t *testing.T, s string, m uint16) {
		max := int(m) % (len(s) + 5)
		got := input.Cut(s, max)
		if !strings.HasPrefix(s, got) || len(s) <= max && got != s || len(got) > max && got != s {
			t.Fatalf("Cut(%q, %d) = %q", s, max, got)
		}
		// Of valid UTF-8 (what passed Check), the cut is valid and loses
		// at most a character's bytes; of anything else it may lose more.
		if utf8.ValidString(s) && (!utf8.ValidString(got) || len(got) < min(max, len(s))-utf8.UTFMax+1) {
			t.Fatalf("Cut(%q, %d) = %q: inside a character, or too short", s, max, got)
		}
		if again := input.Cut(got, max); again != got {
			t.Fatalf("Cut(%q, %d) = %q, then %q", s, max, got, again)
		}
	})
}

// FuzzName: a name taken is the one sent, trimmed: 1 to max bytes, one
// line of UTF-8 without control characters; taking it again gives it back.
func FuzzName(f *testing.F) {
	for _, s := range []string{"laptop", "  Acme  ", "", " ", "two\nlines", "tab\there", "\x00", "\xff", "é", "\u2028", "\u00a0x\u00a0"} {
		f.Add(s, uint8(10))
	}
	f.Fuzz(func(t *testing.T, name string, m uint8) {
		max := int(m)
		clean, ok := input.Name(name, max)
		if !ok {
			if clean != "" {
				t.Fatalf("Name(%q, %d) = %q, false", name, max, clean)
			}
			return
		}
		if clean != strings.TrimSpace(name) || clean == "" || len(clean) > max || input.Check("name", clean, input.Line) != nil {
			t.Fatalf("Name(%q, %d) = %q", name, max, clean)
		}
		if again, ok := input.Name(clean, max); !ok || again != clean {
			t.Fatalf("Name(%q, %d) = %q, %v: not idempotent", clean, max, again, ok)
		}
	})
}

// FuzzID: an id is taken only in its canonical form, lower case.
func FuzzID(f *testing.F) {
	for _, s := range []string{uuid.NewString(), strings.ToUpper(uuid.NewString()), "{" + uuid.NewString() + "}", "", strings.Repeat("-", 36)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !input.ID(s) {
			return
		}
		if u, err := uuid.Parse(s); err != nil || u.String() != s {
			t.Fatalf("ID(%q): taken, but uuid says %v, %v", s, u, err)
		}
	})
}
