package public

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
)

// openAPIYAML is our OpenAPI 3.1 document: a superset of the two reference
// documents, maintained by hand in YAML so that it stays readable.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// openAPIJSON is the document as served: parsed once, validated, and
// marshaled to JSON, so that a broken document fails start-up (and every
// test of this package) rather than the first request.
var openAPIJSON = mustOpenAPIJSON()

func mustOpenAPIJSON() []byte {
	doc, err := OpenAPIDocument()
	if err != nil {
		panic(err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("api: marshal openapi.yaml: %v", err))
	}
	return b
}

// OpenAPIDocument parses the embedded document and checks it against the
// OpenAPI specification. Each call returns a fresh document, which the
// caller may change.
func OpenAPIDocument() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(openAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("api: load openapi.yaml: %w", err)
	}
	// The document's openapi: 3.1.0 turns on the 3.1 rules (JSON Schema
	// 2020-12: type arrays, const, examples).
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("api: openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	return doc, nil
}

// openAPIHandler serves the document as JSON. It changes only with the
// binary, so caches may keep it for an hour.
func openAPIHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=3600")
		c.Data(http.StatusOK, "application/json", openAPIJSON)
	}
}
