package device

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzNormaliseUserCode: whatever a user types, the normalised code is
// empty or 8 letters of the alphabet; normalising is idempotent; the shown
// form XXXX-XXXX normalises back to the code (and is itself a fixed point
// of FormatUserCode); what is not a code is shown unchanged.
func FuzzNormaliseUserCode(f *testing.F) {
	for _, s := range []string{
		"BCDF-GHJK", "bcdf-ghjk", "BCDFGHJK", " bcdf ghjk ", "bC-dF-gH-jK", "\tBCDF\tGHJK\t",
		"BCDF-GHJ", "BCDF-GHJKL", "BCDF-GHJA", "BCDF-GHJ1", "BCDF_GHJK", "ſCDF-GHJK", "",
		"----", "BCDF-GHJK-", "BCDFGHJKBCDFGHJK", "ＢＣＤＦ-ＧＨＪＫ", "bcdf\u00a0ghjk", "BCDF\x00GHJK",
		"\xff\xfe", "BCD\xc3", "bcdfghjk\n", newUserCode(), strings.ToLower(newUserCode()),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, typed string) {
		code, ok := normaliseUserCode(typed)
		shown := FormatUserCode(typed)
		if !ok {
			if code != "" {
				t.Fatalf("normaliseUserCode(%q) = %q, false: want an empty code", typed, code)
			}
			if shown != typed {
				t.Fatalf("FormatUserCode(%q) = %q: what is not a code must come back unchanged", typed, shown)
			}
			return
		}
		if len(code) != userCodeLength || strings.Trim(code, UserCodeAlphabet) != "" {
			t.Fatalf("normaliseUserCode(%q) = %q: not %d letters of %s", typed, code, userCodeLength, UserCodeAlphabet)
		}
		// Only separators and ASCII case may differ between typed and code.
		rest := strings.Map(func(r rune) rune {
			if r == '-' || r == ' ' || r == '\t' {
				return -1
			}
			if 'a' <= r && r <= 'z' {
				return r - ('a' - 'A')
			}
			return r
		}, typed)
		if rest != code {
			t.Fatalf("normaliseUserCode(%q) = %q: want %q (separators dropped, ASCII upper-cased)", typed, code, rest)
		}
		if again, ok := normaliseUserCode(code); !ok || again != code {
			t.Fatalf("normalising %q again gave %q, %v: not idempotent", code, again, ok)
		}
		if want := code[:4] + "-" + code[4:]; shown != want {
			t.Fatalf("FormatUserCode(%q) = %q, want %q", typed, shown, want)
		}
		if back, ok := normaliseUserCode(shown); !ok || back != code {
			t.Fatalf("the shown form %q normalises to %q, %v; want %q", shown, back, ok, code)
		}
		if FormatUserCode(shown) != shown || !utf8.ValidString(shown) {
			t.Fatalf("FormatUserCode(%q) = %q: the shown form is not a fixed point", shown, FormatUserCode(shown))
		}
		if lower, ok := normaliseUserCode(strings.ToLower(shown)); !ok || lower != code {
			t.Fatalf("the lower-case form of %q normalises to %q, %v", shown, lower, ok)
		}
	})
}

// FuzzCleanScopes: the scopes a device flow stores are scope tokens
// without repeats, in the order first asked; cleaning is idempotent, and it
// refuses exactly the lists that hold something that is not a scope token.
func FuzzCleanScopes(f *testing.F) {
	for _, s := range []string{
		"profile:read", "profile:read\nassistant\noffline", "openid\nopenid", "", "\n", "a b",
		"\"quoted\"", "back\\slash", "tab\t", "del\x7f", "é", "\x00", "!#[]~",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		asked := strings.Split(joined, "\n")
		out, err := cleanScopes(asked)
		bad := slices.ContainsFunc(asked, func(s string) bool { return !isScopeToken(s) })
		if (err != nil) != bad {
			t.Fatalf("cleanScopes(%q) error %v; a non-token in it: %v", asked, err, bad)
		}
		if err != nil {
			return
		}
		if out == nil {
			t.Fatal("cleanScopes gave nil: the column is NOT NULL")
		}
		var want []string
		for _, s := range asked {
			if !slices.Contains(want, s) {
				want = append(want, s)
			}
		}
		if !slices.Equal(out, want) {
			t.Fatalf("cleanScopes(%q) = %q, want %q", asked, out, want)
		}
		for _, s := range out {
			if s == "" || strings.ContainsAny(s, " \"\\") || !utf8.ValidString(s) {
				t.Fatalf("cleanScopes(%q) kept %q", asked, s)
			}
		}
		if again, err := cleanScopes(out); err != nil || !slices.Equal(again, out) {
			t.Fatalf("cleanScopes(%q) = %q, %v: not idempotent", out, again, err)
		}
	})
}
