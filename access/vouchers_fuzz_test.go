package access

import (
	"strings"
	"testing"
)

// FuzzNormalizeVoucher: a voucher code is typed by people. Normalising is
// idempotent, and leaves no dash, space or surrounding white space; a
// real code reads the same whatever dashes, spaces and case it is typed
// with, and wherever in it they are.
func FuzzNormalizeVoucher(f *testing.F) {
	for _, s := range []struct {
		typed string
		at    uint8
		sep   string
	}{
		{newVoucherCode(), 0, ""}, {strings.ToLower(newVoucherCode()), 5, " "}, {" CVOU-ABCD ", 3, "-"},
		{"-\tX", 1, "\t"}, {"", 0, " -"}, {"cvou\u00a0abcd", 4, "\u00a0"}, {"\xff", 0, "\x00"}, {"ǆ-ß-ﬀ", 2, "-"},
	} {
		f.Add(s.typed, s.at, s.sep)
	}
	f.Fuzz(func(t *testing.T, typed string, at uint8, sep string) {
		got := normalizeVoucher(typed)
		if strings.ContainsAny(got, "- ") || strings.TrimSpace(got) != got {
			t.Fatalf("normalizeVoucher(%q) = %q", typed, got)
		}
		if again := normalizeVoucher(got); again != got {
			t.Fatalf("normalizeVoucher(%q) = %q, then %q: not idempotent", typed, got, again)
		}
		// A real code, typed otherwise: lower case, and sep (when it is
		// only dashes and spaces) put in at some place.
		code := newVoucherCode()
		i := int(at) % (len(code) + 1)
		variant := strings.ToLower(code[:i]) + sep + code[i:]
		if strings.Trim(sep, "- ") != "" {
			variant = " " + code[:i] + "-" + strings.ToLower(code[i:]) + "\t"
		}
		if a, b := normalizeVoucher(variant), normalizeVoucher(code); a != b {
			t.Fatalf("%q reads %q, but %q reads %q", variant, a, code, b)
		}
	})
}
