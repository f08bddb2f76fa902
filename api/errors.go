// Package api is the HTTP surface: the instance API, the dashboard, the
// public API and the operational endpoints, on gin.
package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// Error is the body of every error answer: a stable machine-readable code
// (RFC 6749 style, so OAuth clients read it too) and a sentence for people.
type Error struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func abort(c *gin.Context, status int, code, description string) {
	c.AbortWithStatusJSON(status, Error{Code: code, Description: description})
}

func notFound(c *gin.Context) {
	abort(c, http.StatusNotFound, "not_found", "no such path: "+c.Request.URL.Path)
}

func methodNotAllowed(c *gin.Context) {
	abort(c, http.StatusMethodNotAllowed, "method_not_allowed", c.Request.Method+" is not allowed on this path")
}
