package instance

// Fuzz targets for what an instance sends that is parsed without a
// database: its User-Agent (the version) and the liveness body's fields as
// limit keeps them. The whole alive call, through the real router, is
// fuzzed in api (FuzzAPIBodies).

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var versionShape = regexp.MustCompile(`^[0-9A-Za-z.+-]{1,40}$`)

// FuzzCaidoVersion: the version read from a User-Agent is 1 to 40
// characters of [0-9A-Za-z.+-] found in the header; and a version of that
// shape, sent as caido/<version> (or caido-cli, caido-desktop, any case)
// before a comment, is read back as sent.
func FuzzCaidoVersion(f *testing.F) {
	for _, s := range []struct{ ua, version string }{
		{"caido/0.51.0 (linux; x86_64)", "0.51.0"},
		{"Caido-Desktop/1.2.3-beta.1+build.5 Electron/30", "1.2.3-beta.1+build.5"},
		{"caido-cli/2", "2"},
		{"Mozilla/5.0 notcaido/1.0", "1.0"},
		{"xcaido/1.0", "9"},
		{"caido/", ""},
		{"caido/" + strings.Repeat("9", 60), strings.Repeat("9", 40)},
		{"caido/é", "é"},
		{"caido/1.0\x00", "1.0\x00"},
		{"\xffcaido/1", "1"},
		{"CAIDO-CLI/v0.0.0 caido/2.0", "v0.0.0"},
	} {
		f.Add(s.ua, s.version)
	}
	f.Fuzz(func(t *testing.T, ua, version string) {
		if m := caidoVersion.FindStringSubmatch(ua); m != nil {
			if !versionShape.MatchString(m[1]) || !strings.Contains(ua, m[1]) {
				t.Fatalf("User-Agent %q gave the version %q", ua, m[1])
			}
		}
		if !versionShape.MatchString(version) {
			return
		}
		for _, product := range []string{"caido", "Caido-CLI", "caido-desktop"} {
			sent := product + "/" + version + " (linux; x86_64)"
			m := caidoVersion.FindStringSubmatch(sent)
			if m == nil || m[1] != version {
				t.Fatalf("User-Agent %q gave %q, want %q", sent, m, version)
			}
		}
	})
}

// FuzzAliveBody: the liveness body decodes as alive decodes it, or is
// refused; every field kept is at most 200 bytes, the start of what was
// sent, cut between characters (valid UTF-8 stays valid, at most 3 bytes
// short of 200), and an absent field stays absent.
func FuzzAliveBody(f *testing.F) {
	for _, s := range []string{
		`{"os":{"kind":"linux","name":"Debian","version":"12"}}`,
		`{"os":{"kind":null}}`, `{"os":null}`, `{}`, `null`, ``, `{"os":{}}`, `{"os":"linux"}`, `[]`,
		`{"os":{"kind":"` + strings.Repeat("é", 150) + `"}}`, `{"os":{"name":"` + strings.Repeat("€", 100) + `"}}`, `{"os":{"name":"\u0000"}}`, `{"os":{"version":"\ud800"}}`,
		`{"os":{"kind":"linux"},"os":{"name":"x"}}`, `{"OS":{"KIND":"linux"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var body aliveBody
		if len(raw) > 0 && string(raw) != "null" {
			if err := json.Unmarshal(raw, &body); err != nil {
				return // answered 400
			}
		}
		if body.OS == nil {
			return
		}
		for _, field := range []*string{body.OS.Kind, body.OS.Name, body.OS.Version} {
			kept := limit(field)
			if field == nil {
				if kept != nil {
					t.Fatalf("an absent field became %q", *kept)
				}
				continue
			}
			if kept == nil || len(*kept) > 200 || !strings.HasPrefix(*field, *kept) || len(*field) <= 200 && *kept != *field {
				t.Fatalf("limit(%q) = %v", *field, kept)
			}
			if utf8.ValidString(*field) && (!utf8.ValidString(*kept) || len(*kept) < min(200, len(*field))-utf8.UTFMax+1) {
				t.Fatalf("limit(%q) = %q: cut inside a character, or too short", *field, *kept)
			}
		}
	})
}
