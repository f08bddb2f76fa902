package input_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/caido-cloud/caido-cloud/input"
)

// TestCheckJSON: each string of a body, member names too, is one line of
// UTF-8 but where the caller says it is free text; the error names the
// field as the client sent it.
func TestCheckJSON(t *testing.T) {
	for _, tt := range []struct {
		body  string
		text  []string
		field string // "" when the body passes
		says  string
	}{
		{body: `{"name": "Acme", "n": 1, "ok": true, "none": null, "list": ["a", {"b": "c"}]}`},
		{body: `{"name": "caf\u00e9 \ud83d\ude00 日本"}`},
		{body: `{"name": "a\u0000b"}`, field: "name", says: "NUL"},
		{body: "{\"name\": \"a\xffb\"}", field: "name", says: "not valid UTF-8"},
		{body: "{\"name\": \"\xc3\"}", field: "name", says: "not valid UTF-8"},
		{body: `{"name": "two\nlines"}`, field: "name", says: "U+000A"},
		{body: `{"name": "tab\there"}`, field: "name", says: "U+0009"},
		{body: `{"name": "esc\u001b[0m"}`, field: "name", says: "U+001B"},
		{body: `{"name": "c1\u0085"}`, field: "name", says: "U+0085"},
		{body: `{"name": "del\u007f"}`, field: "name", says: "U+007F"},
		// Free text takes tabs and line breaks, nothing else.
		{body: `{"description": "two\nlines\r\n\tindented"}`, text: []string{"description"}},
		{body: `{"description": "a\u0000"}`, text: []string{"description"}, field: "description", says: "NUL"},
		{body: `{"description": "bell\u0007"}`, text: []string{"description"}, field: "description", says: "U+0007"},
		// Paths: nested members and array elements.
		{body: `{"os": {"kind": "linux", "name": "x\u0000"}}`, field: "os.name", says: "NUL"},
		{body: `{"grant_types": ["client_credentials", "a\u0000"]}`, field: "grant_types[1]", says: "NUL"},
		{body: `{"messages": [{"role": "user", "content": "hi\nthere"}, {"role": "user", "content": "\u0000"}]}`,
			text: []string{"messages[].content"}, field: "messages[1].content", says: "NUL"},
		{body: `{"messages": [{"role": "us\ner", "content": "hi"}]}`, text: []string{"messages[].content"}, field: "messages[0].role", says: "U+000A"},
		{body: `{"expires_at": {"nested": ["\u0000"]}}`, field: "expires_at.nested[0]", says: "NUL"},
		// A member's name, and a body that is a string alone.
		{body: `{"na\u0000me": "x"}`, field: "the body", says: "member whose name"},
		{body: "{\"os\": {\"k\xff\": 1}}", field: "os", says: "member whose name"},
		{body: `"\u0000"`, field: "the body", says: "NUL"},
		// Not JSON: the decoder's to say.
		{body: `{"name": `},
		{body: `nope`},
	} {
		err := input.CheckJSON([]byte(tt.body), tt.text...)
		var ie *input.Error
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%s: %v, want it to pass", tt.body, err)
		case tt.field != "" && (!errors.As(err, &ie) || ie.Field != tt.field || !strings.Contains(ie.Problem, tt.says)):
			t.Errorf("%s: %v, want %s refused for %q", tt.body, err, tt.field, tt.says)
		}
	}
}

// TestCut: never inside a character.
func TestCut(t *testing.T) {
	s := strings.Repeat("é", 60) // 120 bytes
	for max := 0; max <= 125; max++ {
		got := input.Cut(s, max)
		if !utf8.ValidString(got) || len(got) > max || len(got) < max-1 && len(got) != len(s) {
			t.Fatalf("Cut(%d) = %q (%d bytes)", max, got, len(got))
		}
	}
	if got := input.Cut("日本語", 7); got != "日本" {
		t.Fatalf("Cut(日本語, 7) = %q", got)
	}
	if got := input.Cut("abc", 10); got != "abc" {
		t.Fatalf("Cut(abc, 10) = %q", got)
	}
}

// TestName: trimmed, bounded in bytes, one line of UTF-8.
func TestName(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"  Acme Corp ", "Acme Corp", true},
		{"Café 日", "Café 日", true},
		{"", "", false},
		{"   ", "", false},
		{"a\nb", "", false},
		{"a\tb", "", false},
		{"a\x00b", "", false},
		{"a\xffb", "", false},
		{"a\u0085b", "", false},
		{strings.Repeat("x", 10), strings.Repeat("x", 10), true},
		{strings.Repeat("x", 11), "", false},
		{strings.Repeat("é", 5), strings.Repeat("é", 5), true},
		{strings.Repeat("é", 6), "", false},
	} {
		got, ok := input.Name(tt.in, 10)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Name(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestID: canonical UUIDs only.
func TestID(t *testing.T) {
	for s, want := range map[string]bool{
		"0f8fad5b-d9cb-469f-a165-70867728950e":  true,
		"0F8FAD5B-D9CB-469F-A165-70867728950E":  false,
		"0f8fad5bd9cb469fa16570867728950e":      false,
		"0f8fad5b-d9cb-469f-a165-70867728950":   false,
		"0f8fad5b-d9cb-469f-a165-70867728950e0": false,
		"0f8fad5b-d9cb-469f-a165-70867728950g":  false,
		"x y":                                   false,
		"":                                      false,
	} {
		if got := input.ID(s); got != want {
			t.Errorf("ID(%q) = %v, want %v", s, got, want)
		}
	}
}
