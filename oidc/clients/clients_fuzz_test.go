package clients

// Fuzz targets for what an instance sends at registration: the metadata's
// grant types and scope string, and the JSON body they come in. No
// database: these are the pure parts.

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzNormalize: the grant types and scopes a client registers are
// supported ones without repeats, in the order first given; normalising
// what normalize returned gives it back; a refusal is a MetadataError whose
// description is valid UTF-8 and does not echo a huge value in full.
func FuzzNormalize(f *testing.F) {
	for _, s := range []struct{ grants, scope string }{
		{GrantClientCredentials, ""},
		{GrantClientCredentials + "\n" + GrantDeviceCode + "\n" + GrantRefreshToken, "profile:read assistant offline openid"},
		{GrantDeviceCode + "\n" + GrantDeviceCode, "offline  offline\topenid"},
		{"", "profile:read"},
		{"password", ""},
		{GrantRefreshToken, "profile:write"},
		{GrantRefreshToken, strings.Repeat("é", 100)},
		{GrantRefreshToken, strings.Repeat("x", 63) + "é"},
		{strings.Repeat("\xff", 80), ""},
		{GrantClientCredentials, "\u00a0openid\u2003offline\x00"},
	} {
		f.Add(s.grants, s.scope)
	}
	f.Fuzz(func(t *testing.T, joined, scope string) {
		var grants []string
		if joined != "" {
			grants = strings.Split(joined, "\n")
		}
		gotGrants, gotScopes, err := normalize(Metadata{GrantTypes: grants, Scope: scope})
		if err != nil {
			var me *MetadataError
			if !errors.As(err, &me) {
				t.Fatalf("normalize(%q, %q): %T %v, want a MetadataError", grants, scope, err, err)
			}
			if !utf8.ValidString(me.Description) {
				t.Fatalf("normalize(%q, %q): description is not UTF-8: %q", grants, scope, me.Description)
			}
			// Two quoted values of at most 64 bytes each (4 bytes an
			// escaped one) plus the sentence and the supported list.
			if len(me.Description) > 2*4*64+300 {
				t.Fatalf("normalize: a %d-byte description echoes the input: %.100q…", len(me.Description), me.Description)
			}
			return
		}
		if gotScopes == nil {
			t.Fatal("scopes nil: an empty array is stored, not NULL")
		}
		check := func(what string, got, given, supported []string) {
			var want []string
			for _, g := range given {
				if !slices.Contains(want, g) {
					want = append(want, g)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: %q from %q, want %q", what, got, given, want)
			}
			for _, g := range got {
				if !slices.Contains(supported, g) {
					t.Fatalf("%s: %q is not supported", what, g)
				}
			}
		}
		check("grant types", gotGrants, grants, supportedGrantTypes)
		check("scopes", gotScopes, strings.Fields(scope), supportedScopes)
		if len(gotGrants) == 0 {
			t.Fatalf("normalize(%q) accepted no grant type", grants)
		}
		again, againScopes, err := normalize(Metadata{GrantTypes: gotGrants, Scope: strings.Join(gotScopes, " ")})
		if err != nil || !slices.Equal(again, gotGrants) || !slices.Equal(againScopes, gotScopes) {
			t.Fatalf("normalize again: %q %q %v, want %q %q", again, againScopes, err, gotGrants, gotScopes)
		}
	})
}

// FuzzDecodeJSON: a registration body either decodes (and nothing is
// written) or is answered 400 or 413 with an OAuth error body: never a
// 5xx, never a body that is not JSON.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []struct{ contentType, body string }{
		{"application/json", `{"grant_types":["client_credentials"],"scope":"profile:read"}`},
		{"application/json; charset=utf-8", `{"scope":null,"grant_types":[],"instance_registration_key":"k"}`},
		{"application/json", `{"grant_types":"client_credentials"}`},
		{"application/json", `{"instance_registration_key":42}`},
		{"application/json", `{"scope":["a"]}`},
		{"application/json", `{"grant_types":[1]}`},
		{"application/json", `{} {}`},
		{"application/json", `{}x`},
		{"application/json", `[]`},
		{"application/json", `null`},
		{"application/json", ``},
		{"application/json", `{"scope":"\u0000\ud800"}`},
		{"application/json", "{\"scope\":\"\xff\"}"},
		{"application/json", `{"a":` + strings.Repeat("[", 10000)},
		{"application/json", `{"scope":"` + strings.Repeat("x", maxBody) + `"}`},
		{"text/plain", `{}`},
		{"", `{}`},
		{"application/json; charset=\"", `{}`},
	} {
		f.Add(s.contentType, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/oauth2/register", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		var in registerInput
		if decodeJSON(w, r, &in) {
			if w.Body.Len() != 0 {
				t.Fatalf("decoded, yet answered %d %s", w.Code, w.Body)
			}
			return
		}
		if w.Code != http.StatusBadRequest && w.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("refused with %d, want 400 or 413: %s", w.Code, w.Body)
		}
		var e oauthError
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || !utf8.Valid(w.Body.Bytes()) {
			t.Fatalf("the answer is not a JSON error: %v %q", err, w.Body)
		}
		if e.Code != "invalid_request" && e.Code != "invalid_client_metadata" || e.Description == "" {
			t.Fatalf("the answer is not an RFC 7591 error: %s", w.Body)
		}
	})
}
