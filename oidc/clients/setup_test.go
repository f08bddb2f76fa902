package clients_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caido-cloud/caido-cloud/internal/openapitest"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc/clients"
)

// fixture is a migrated database, a Service on it and its handler behind a
// real HTTP server. The client IP is taken from the X-Test-IP header, so
// that a test can speak from several addresses.
type fixture struct {
	db  *pgxpool.Pool
	svc *clients.Service
	url string
}

func newFixture(t *testing.T, opts clients.Options) *fixture {
	t.Helper()
	db := testenv.MigratedPool(t)
	svc := clients.New(db, opts)
	srv := httptest.NewServer(svc.Handler(func(r *http.Request) string {
		if ip := r.Header.Get("X-Test-IP"); ip != "" {
			return ip
		}
		return "192.0.2.1"
	}))
	t.Cleanup(srv.Close)
	return &fixture{db: db, svc: svc, url: srv.URL}
}

// exchange is one request and its answer, body read.
type exchange struct {
	req     *http.Request
	reqBody []byte
	resp    *http.Response
	body    []byte
}

func (f *fixture) do(t *testing.T, method, path, contentType, body string, header ...string) exchange {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	testenv.Must(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	testenv.Must(t, err)
	return exchange{req: req, reqBody: []byte(body), resp: resp, body: got}
}

func (f *fixture) postJSON(t *testing.T, body string, header ...string) exchange {
	t.Helper()
	return f.do(t, http.MethodPost, "/oauth2/register", "application/json", body, header...)
}

func (f *fixture) putJSON(t *testing.T, id, body string) exchange {
	t.Helper()
	return f.do(t, http.MethodPut, "/oauth2/register/"+id, "application/json", body)
}

// payload is RegisterClientPayload / UpdateClientPayload.
type payload struct {
	ClientID                string   `json:"client_id"`
	ClientSecret            string   `json:"client_secret"`
	ClientIDIssuedAt        int64    `json:"client_id_issued_at"`
	ClientSecretExpiresAt   int64    `json:"client_secret_expires_at"`
	GrantTypes              []string `json:"grant_types"`
	Scope                   string   `json:"scope"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func decode[T any](t *testing.T, x exchange) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(x.body, &v); err != nil {
		t.Fatalf("%s %s: body %q is not JSON: %v", x.req.Method, x.req.URL.Path, x.body, err)
	}
	return v
}

// register registers a client the way a Caido instance does, and checks the
// exchange against the reference document.
func (f *fixture) register(t *testing.T, body string, header ...string) payload {
	t.Helper()
	x := f.postJSON(t, body, header...)
	if x.resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", x.resp.StatusCode, x.body)
	}
	conforms(t, x)
	return decode[payload](t, x)
}

var reference struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

// conforms fails the test unless the request and the answer both validate
// against the reference document: path, method, status, content type and
// body schema.
func conforms(t *testing.T, x exchange) {
	t.Helper()
	reference.once.Do(func() {
		reference.doc, reference.err = openapi3.NewLoader().LoadFromFile(openapitest.Reference(t, "instance-api.openapi.yaml"))
		if reference.err == nil {
			reference.router, reference.err = gorillamux.NewRouter(reference.doc)
		}
	})
	if reference.err != nil {
		t.Fatalf("load the reference: %v", reference.err)
	}
	ctx := context.Background()
	req := x.req.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(x.reqBody))
	route, params, err := reference.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s is not in the reference: %v", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		t.Fatalf("request %s does not match the reference: %v", x.reqBody, err)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: x.resp.StatusCode,
		Header: x.resp.Header, Body: io.NopCloser(bytes.NewReader(x.body)), Options: in.Options}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Fatalf("answer %d %s does not match the reference: %v", x.resp.StatusCode, x.body, err)
	}
}

// rowCounts counts the rows registration may touch, and the registrations
// the rate limit has counted.
func rowCounts(t *testing.T, db *pgxpool.Pool) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for name, query := range map[string]string{
		"instances":              `SELECT count(*) FROM instances`,
		"oauth_clients":          `SELECT count(*) FROM oauth_clients`,
		"authz_outbox":           `SELECT count(*) FROM authz_outbox`,
		"counted registrations":  `SELECT coalesce(sum(registrations), 0) FROM oauth_registration_windows`,
		"client rows as written": `SELECT coalesce(sum(hashtext(t::text)), 0) FROM oauth_clients t`,
	} {
		var n int
		testenv.Must(t, db.QueryRow(context.Background(), query).Scan(&n))
		counts[name] = n
	}
	return counts
}

func sameCounts(t *testing.T, before, after map[string]int) {
	t.Helper()
	for table, n := range before {
		if after[table] != n {
			t.Errorf("%s: %d rows before, %d after", table, n, after[table])
		}
	}
}

const instanceBody = `{"scope":"profile:read assistant offline","grant_types":["client_credentials","urn:ietf:params:oauth:grant-type:device_code","refresh_token"],"instance_registration_key":null}`
