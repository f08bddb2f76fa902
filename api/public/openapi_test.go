package public

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/internal/openapitest"
)

// referenceDocuments are the published documents ours must be a superset of.
var referenceDocuments = []string{"instance-api.openapi.yaml", "public-api.openapi.yaml"}

// loadReference loads and validates one published reference document.
func loadReference(t testing.TB, name string) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(openapitest.Reference(t, name))
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the reference %s does not validate: %v", name, err)
	}
	return doc
}

func ourDocument(t testing.TB) *openapi3.T {
	t.Helper()
	doc, err := OpenAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestOpenAPIDocumentValidates: the embedded document loads, is OpenAPI 3.1
// and passes kin-openapi's validation with its default options (3.1 rules,
// examples validated against their schemas), and carries the attribution
// the references' licence asks for.
func TestOpenAPIDocumentValidates(t *testing.T) {
	doc := ourDocument(t)
	if !doc.IsOpenAPI31OrLater() || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi: %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CC BY 4.0", "Caido Labs Inc.", "https://creativecommons.org/licenses/by/4.0/", "Changes made"} {
		if !strings.Contains(doc.Info.Description, want) {
			t.Errorf("info.description lacks %q", want)
		}
	}
}

// TestOpenAPISupersetOfReferences: every path and method of both reference
// documents is in ours; each of its response statuses is there with the
// same media types and the same schema once every $ref is inlined (so a
// component renamed for a clash would still compare by content); and the
// whole operation is the reference's, apart from what its
// x-caido-cloud-additions lists. Every reference component schema and
// security scheme is here unchanged too.
func TestOpenAPISupersetOfReferences(t *testing.T) {
	ours := ourDocument(t)
	for _, name := range referenceDocuments {
		t.Run(name, func(t *testing.T) {
			ref := loadReference(t, name)
			for _, path := range ref.Paths.InMatchingOrder() {
				for method, refOp := range ref.Paths.Value(path).Operations() {
					t.Run(method+" "+path, func(t *testing.T) {
						item := ours.Paths.Value(path)
						if item == nil || item.GetOperation(method) == nil {
							t.Fatalf("missing from our document")
						}
						ourOp := item.GetOperation(method)
						for code, refResp := range refOp.Responses.Map() {
							ourResp := ourOp.Responses.Value(code)
							if ourResp == nil {
								t.Errorf("response %s missing", code)
								continue
							}
							for mt, refMedia := range refResp.Value.Content {
								ourMedia := ourResp.Value.Content[mt]
								if ourMedia == nil {
									t.Errorf("response %s: media type %s missing", code, mt)
									continue
								}
								assertSameJSON(t, "response "+code+" "+mt+" schema",
									inlined(t, ours, ourMedia.Schema), inlined(t, ref, refMedia.Schema))
							}
							if len(ourResp.Value.Content) != len(refResp.Value.Content) {
								t.Errorf("response %s: media types differ", code)
							}
						}
						assertSameJSON(t, "operation apart from x-caido-cloud-additions",
							withoutAdditions(t, inlined(t, ours, ourOp)), inlined(t, ref, refOp))
					})
				}
			}
			for name, s := range ref.Components.Schemas {
				if ours.Components.Schemas[name] == nil {
					t.Errorf("component schema %s missing", name)
					continue
				}
				assertSameJSON(t, "component schema "+name,
					inlined(t, ours, ours.Components.Schemas[name]), inlined(t, ref, s))
			}
			for name, s := range ref.Components.SecuritySchemes {
				if ours.Components.SecuritySchemes[name] == nil {
					t.Errorf("security scheme %s missing", name)
					continue
				}
				assertSameJSON(t, "security scheme "+name,
					inlined(t, ours, ours.Components.SecuritySchemes[name]), inlined(t, ref, s))
			}
		})
	}
}

// TestOpenAPIExtensionsAreMarked: what the references do not define carries
// x-caido-cloud: extension (operations, component schemas, responses,
// security schemes); x-caido-cloud-additions appears only on reference
// operations; each endpoint we serve beyond the references is documented;
// and the 4xx/5xx answers of our own operations are the Error body.
func TestOpenAPIExtensionsAreMarked(t *testing.T) {
	ours := ourDocument(t)
	refs := make([]*openapi3.T, 0, len(referenceDocuments))
	for _, name := range referenceDocuments {
		refs = append(refs, loadReference(t, name))
	}
	inReference := func(path, method string) bool {
		for _, ref := range refs {
			if item := ref.Paths.Value(path); item != nil && item.GetOperation(method) != nil {
				return true
			}
		}
		return false
	}
	isExtension := func(ext map[string]any) bool { return ext["x-caido-cloud"] == "extension" }

	for _, path := range ours.Paths.InMatchingOrder() {
		for method, op := range ours.Paths.Value(path).Operations() {
			ref := inReference(path, method)
			if ref == isExtension(op.Extensions) {
				t.Errorf("%s %s: in a reference: %v; marked x-caido-cloud: extension: %v", method, path, ref, ref)
			}
			if _, ok := op.Extensions["x-caido-cloud-additions"]; ok && !ref {
				t.Errorf("%s %s: x-caido-cloud-additions on an operation of ours", method, path)
			}
			if ref {
				continue
			}
			for code, resp := range op.Responses.Map() {
				if code[0] != '4' && code[0] != '5' || path == "/readyz" && code == "503" {
					continue // /readyz answers 503 with its checks
				}
				media := resp.Value.Content.Get("application/json")
				if media == nil || media.Schema.Ref != "#/components/schemas/Error" {
					t.Errorf("%s %s %s: not an Error body", method, path, code)
				}
			}
		}
	}
	for _, want := range []struct{ method, path string }{
		{"GET", "/healthz"}, {"GET", "/readyz"}, {"GET", "/openapi.json"},
		{"GET", "/.well-known/openid-configuration"}, {"GET", "/.well-known/oauth-authorization-server"},
		{"GET", "/.well-known/jwks.json"}, {"POST", "/oauth2/revoke"},
		{"GET", "/oauth2/userinfo"}, {"POST", "/oauth2/userinfo"},
		{"POST", "/instance/assistant/complete/stream"},
	} {
		if item := ours.Paths.Value(want.path); item == nil || item.GetOperation(want.method) == nil {
			t.Errorf("%s %s is not documented", want.method, want.path)
		}
	}
	stream := ours.Paths.Value("/instance/assistant/complete/stream").Post.Responses.Value("200").Value.Content
	if stream.Get("text/event-stream") == nil || !strings.Contains(stream.Get("text/event-stream").Schema.Value.Description+
		ours.Paths.Value("/instance/assistant/complete/stream").Post.Description, "event: done") {
		t.Errorf("the stream is not documented as SSE ending with a done event")
	}

	inRefComponents := func(get func(*openapi3.Components) bool) bool {
		for _, ref := range refs {
			if ref.Components != nil && get(ref.Components) {
				return true
			}
		}
		return false
	}
	for name, s := range ours.Components.Schemas {
		ref := inRefComponents(func(c *openapi3.Components) bool { return c.Schemas[name] != nil })
		if ref == isExtension(s.Value.Extensions) {
			t.Errorf("component schema %s: in a reference: %v, marked: %v", name, ref, ref)
		}
	}
	for name, r := range ours.Components.Responses {
		ref := inRefComponents(func(c *openapi3.Components) bool { return c.Responses[name] != nil })
		if ref == isExtension(r.Value.Extensions) {
			t.Errorf("component response %s: in a reference: %v, marked: %v", name, ref, ref)
		}
	}
	for name, s := range ours.Components.SecuritySchemes {
		ref := inRefComponents(func(c *openapi3.Components) bool { return c.SecuritySchemes[name] != nil })
		if ref == isExtension(s.Value.Extensions) {
			t.Errorf("security scheme %s: in a reference: %v, marked: %v", name, ref, ref)
		}
	}
	errSchema := ours.Components.Schemas["Error"]
	if errSchema == nil || !slices.Equal(errSchema.Value.Required, []string{"error"}) ||
		errSchema.Value.Properties["error_description"] == nil {
		t.Errorf("the Error schema is not {error, error_description}")
	}
}

// TestOpenAPIHandler: GET /openapi.json answers 200 with JSON, a cache
// header, and a body that loads as the same document as openapi.yaml.
func TestOpenAPIHandler(t *testing.T) {
	r := gin.New()
	r.GET("/openapi.json", openAPIHandler())
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
		t.Errorf("Cache-Control %q", cc)
	}
	served, err := openapi3.NewLoader().LoadFromData(rec.Body.Bytes())
	if err != nil {
		t.Fatalf("the served document does not load: %v", err)
	}
	if err := served.Validate(context.Background()); err != nil {
		t.Fatalf("the served document does not validate: %v", err)
	}
	assertSameJSON(t, "served document", jsonValue(t, served), jsonValue(t, ourDocument(t)))
	// The served document describes its own route.
	openapitest.ValidateResponse(t, served, http.MethodGet, "/openapi.json", rec.Code, rec.Body.Bytes())
}

// TestOpenAPIValidateResponse: the helper accepts a body that matches and
// rejects one that does not, an undocumented status and an unknown path.
func TestOpenAPIValidateResponse(t *testing.T) {
	doc := ourDocument(t)
	openapitest.ValidateResponse(t, doc, "GET", "/healthz", 200, []byte(`{"status":"ok"}`))
	openapitest.ValidateResponse(t, doc, "PUT", "/oauth2/register/some-id", 418, []byte(`{"error":"teapot"}`)) // 4XX
	for _, c := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/healthz", 200, `{"status":"fine"}`},
		{"GET", "/healthz", 201, `{"status":"ok"}`},
		{"GET", "/nowhere", 200, `{}`},
		{"POST", "/oauth2/token", 200, `{"access_token":"x","token_type":"Bearer"}`},
		{"POST", "/oauth2/token", 401, `{"error_description":"no code"}`},
	} {
		rec := &recordingTB{TB: t}
		openapitest.ValidateResponse(rec, doc, c.method, c.path, c.status, []byte(c.body))
		if !rec.failed {
			t.Errorf("%s %s %d %s: accepted", c.method, c.path, c.status, c.body)
		}
	}
}

// recordingTB records failures instead of failing the test.
type recordingTB struct {
	testing.TB
	failed bool
}

func (r *recordingTB) Errorf(string, ...any) { r.failed = true }
func (r *recordingTB) Fatalf(string, ...any) { r.failed = true; panic("unreachable in these cases") }
func (r *recordingTB) Helper()               {}

// jsonValue is v as generic JSON.
func jsonValue(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// inlined is v as generic JSON with every local $ref replaced by what it
// names in doc, so that documents compare by content rather than by names.
func inlined(t testing.TB, doc *openapi3.T, v any) any {
	t.Helper()
	root := jsonValue(t, doc)
	var walk func(x any, depth int) any
	walk = func(x any, depth int) any {
		if depth > 64 {
			t.Fatalf("$ref cycle")
		}
		switch x := x.(type) {
		case map[string]any:
			out := map[string]any{}
			if ref, ok := x["$ref"].(string); ok {
				target := root
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := target.(map[string]any)
					target = m[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]
				}
				if target == nil {
					t.Fatalf("unresolved $ref %q", ref)
				}
				maps, _ := walk(target, depth+1).(map[string]any)
				for k, v := range maps {
					out[k] = v
				}
			}
			for k, v := range x {
				if k != "$ref" {
					out[k] = walk(v, depth)
				}
			}
			return out
		case []any:
			out := make([]any, len(x))
			for i, v := range x {
				out[i] = walk(v, depth)
			}
			return out
		}
		return x
	}
	return walk(jsonValue(t, v), 0)
}

// withoutAdditions removes from an operation (generic JSON) what its
// x-caido-cloud-additions lists, and that list.
func withoutAdditions(t testing.TB, op any) any {
	t.Helper()
	m := op.(map[string]any)
	added, _ := m["x-caido-cloud-additions"].([]any)
	delete(m, "x-caido-cloud-additions")
	for _, a := range added {
		switch a := a.(string); {
		case a == "security":
			delete(m, "security")
		case strings.HasPrefix(a, "responses/"):
			responses := m["responses"].(map[string]any)
			code := strings.TrimPrefix(a, "responses/")
			if _, ok := responses[code]; !ok {
				t.Errorf("x-caido-cloud-additions lists %s, which is not there", a)
			}
			delete(responses, code)
		default:
			t.Errorf("x-caido-cloud-additions: unknown entry %q", a)
		}
	}
	return m
}

func assertSameJSON(t testing.TB, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("%s differs from the reference:\nours: %s\nreference: %s", what, g, w)
	}
}
