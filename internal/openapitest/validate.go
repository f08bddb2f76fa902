package openapitest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// ValidateResponse checks that a response of method on path (a concrete
// path such as /oauth2/register/abc) is documented in doc with status (or
// its range, 4XX) and that body validates against that response's schema.
func ValidateResponse(t testing.TB, doc *openapi3.T, method, path string, status int, body []byte) {
	t.Helper()
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("openapi router: %v", err)
	}
	req := httptest.NewRequest(method, path, nil)
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Errorf("%s %s: not in the document: %v", method, path, err)
		return
	}
	response := route.Operation.Responses.Status(status)
	if response == nil {
		response = route.Operation.Responses.Default()
	}
	if response == nil || response.Value == nil {
		t.Errorf("%s %s: status %d is not documented", method, path, status)
		return
	}
	// The document names the media type; a JSON answer is taken as JSON.
	contentType := "application/json"
	if content := response.Value.Content; len(content) > 0 && content.Get(contentType) == nil {
		for mt := range content {
			contentType = mt
		}
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 http.Header{"Content-Type": {contentType}},
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	input.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		t.Errorf("%s %s %d: the body does not match the document: %v\nbody: %s", method, path, status, err, body)
	}
}
