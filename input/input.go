// Package input holds the rules every string from outside meets before it
// is stored, mailed, shown or sent on: it is UTF-8, it holds no NUL, and no
// control character unless it is free text (where tabs and line breaks
// belong); it is cut on character boundaries; a name is trimmed, bounded
// and one line. PostgreSQL refuses a NUL in text and invalid UTF-8 (a 500
// where the client was wrong), a line break in a name breaks the mail
// header it lands in, and a cut inside a character makes invalid UTF-8 of
// valid input: the surfaces check their bodies and forms here at the door,
// once, and the domain packages check names with Name.
package input

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind is what a field holds, which decides the control characters it may.
type Kind int

const (
	// Line is one line of text: a name, an email address, an id, a code.
	// It holds no control character at all.
	Line Kind = iota
	// Text is free text (a description, an assistant message): tabs and
	// line breaks (LF, CR) are part of it; other control characters are
	// not.
	Text
)

// Error says which field holds what it may not, in words for the client.
type Error struct {
	// Field names the field as the client sent it: "name", "os.name",
	// "messages[0].content".
	Field   string
	Problem string
}

func (e *Error) Error() string { return e.Field + " " + e.Problem }

// Check refuses s, the value of field, when it is not UTF-8, or holds a
// control character that k does not allow.
func Check(field, s string, k Kind) error {
	if p := problem(s, k); p != "" {
		return &Error{Field: field, Problem: p}
	}
	return nil
}

func problem(s string, k Kind) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	i := strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && !(k == Text && (r == '\t' || r == '\n' || r == '\r'))
	})
	if i < 0 {
		return ""
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	switch {
	case r == 0:
		return "holds a NUL character (U+0000), which no text may hold"
	case k == Text:
		return fmt.Sprintf("holds the control character U+%04X; free text may hold tabs and line breaks, no other control character", r)
	default:
		return fmt.Sprintf("holds the control character U+%04X; it must be one line of text with no control characters", r)
	}
}

// CheckJSON refuses a JSON body holding a string (a value or a member's
// name) that Check refuses: every string is a Line but those at the paths
// text names, which are Text. A path names object members by name and
// array elements by [], as in "description" or "messages[].content".
// CheckJSON does not judge the syntax (the decoder that follows does): a
// body that is not JSON passes as far as it goes.
//
// It reads the raw body, not a decoded value: encoding/json turns bytes
// that are not UTF-8 into U+FFFD without a word, which would store a
// client's corrupt input as if it were what they meant.
func CheckJSON(body []byte, text ...string) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	// frames are the objects and arrays the decoder is in, outermost first.
	type frame struct {
		object bool
		// key is the member being read (object); expectKey says the next
		// string is a member's name.
		key       string
		expectKey bool
		index     int
	}
	var frames []frame
	path := func(frames []frame, pattern bool) string {
		var b strings.Builder
		for _, f := range frames {
			switch {
			case f.object:
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			case pattern:
				b.WriteString("[]")
			default:
				fmt.Fprintf(&b, "[%d]", f.index)
			}
		}
		return b.String()
	}
	// done moves the innermost frame past the value just read.
	done := func() {
		if n := len(frames); n > 0 {
			if frames[n-1].object {
				frames[n-1].expectKey = true
			} else {
				frames[n-1].index++
			}
		}
	}
	start := int64(0)
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // the end, or not JSON: the decoder says which
		}
		end := dec.InputOffset()
		// The bytes since the last token are this token and the
		// separators before it; outside strings, anything not UTF-8 is a
		// syntax error the decoder reports.
		raw := body[start:end]
		start = end
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				frames = append(frames, frame{object: true, expectKey: true})
			case '[':
				frames = append(frames, frame{})
			default:
				frames = frames[:len(frames)-1]
				done()
			}
		case string:
			n := len(frames)
			if n > 0 && frames[n-1].object && frames[n-1].expectKey {
				frames[n-1].expectKey = false
				if p := problem(v, Line); p != "" || !utf8.Valid(raw) {
					where := path(frames[:n-1], false)
					if where == "" {
						where = "the body"
					}
					return &Error{Field: where, Problem: "has a member whose name is not one line of UTF-8 text"}
				}
				frames[n-1].key = v
				continue
			}
			k := Line
			if pattern := path(frames, true); slices.Contains(text, pattern) {
				k = Text
			}
			where := path(frames, false)
			if where == "" {
				where = "the body"
			}
			if !utf8.Valid(raw) {
				return &Error{Field: where, Problem: "is not valid UTF-8"}
			}
			if err := Check(where, v, k); err != nil {
				return err
			}
			done()
		default:
			done()
		}
	}
}

// Cut is s cut to at most max bytes, at a character boundary: cutting
// inside a character would make invalid UTF-8 of valid input.
func Cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}

// Name is name as a thing may be called (an instance, a team, a token, a
// registration key's prefix): trimmed, 1 to max bytes, one line of UTF-8
// with no control character. ok is false otherwise.
func Name(name string, max int) (clean string, ok bool) {
	clean = strings.TrimSpace(name)
	if clean == "" || len(clean) > max || problem(clean, Line) != "" {
		return "", false
	}
	return clean, true
}

// ID reports whether s is an id as we issue them: a UUID in its canonical
// form (lower case, with dashes). Checked before SQL or OpenFGA sees one,
// so that a malformed id is "not found" or "invalid", not a failed query.
func ID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}
