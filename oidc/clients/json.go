package clients

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/caido-cloud/caido-cloud/input"
)

// maxBody bounds a registration body: the real ones are a few hundred bytes.
const maxBody = 64 << 10

// oauthError is the RFC 6749 §5.2 / RFC 7591 §3.2.2 error body, the same
// shape as api.Error.
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// decodeJSON reads one JSON object from the body into v. On bad input it
// answers (400 invalid_request for a body that is not a JSON object of
// application/json, 400 invalid_client_metadata for a field of the wrong
// type or a string input.CheckJSON refuses, 413 for a body too large) and
// returns false.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/json")
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var bad *input.Error
	if err == nil {
		// Every string of client metadata is one line of UTF-8, ignored
		// members too: none is free text.
		if err = input.CheckJSON(body); err == nil {
			dec := json.NewDecoder(bytes.NewReader(body))
			// Unknown fields are allowed: RFC 7591 §2 has the server ignore
			// metadata it does not understand.
			err = dec.Decode(v)
			if err == nil && dec.Decode(&json.RawMessage{}) != io.EOF {
				err = errors.New("trailing data")
			}
		}
	}
	if err == nil {
		return true
	}
	var tooLarge *http.MaxBytesError
	var wrongType *json.UnmarshalTypeError
	switch {
	case errors.As(err, &bad):
		writeOAuthError(w, http.StatusBadRequest, "invalid_client_metadata", bad.Error())
	case errors.As(err, &tooLarge):
		writeOAuthError(w, http.StatusRequestEntityTooLarge, "invalid_request",
			fmt.Sprintf("the body is larger than %d KiB", maxBody>>10))
	case errors.As(err, &wrongType) && wrongType.Field != "":
		field, _, _ := strings.Cut(wrongType.Field, ".")
		writeOAuthError(w, http.StatusBadRequest, "invalid_client_metadata",
			fmt.Sprintf("%s must be %s, not a JSON %s", field, fieldType(field), wrongType.Value))
	default:
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the body must be one JSON object")
	}
	return false
}

func fieldType(field string) string {
	switch field {
	case "grant_types":
		return "an array of strings"
	case "instance_registration_key":
		return "a string or null"
	default:
		return "a string"
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	// RFC 7591 §3.2.1: answers carry credentials and must not be cached.
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}

func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, oauthError{Code: code, Description: description})
}
