package clients

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caido-cloud/caido-cloud/audit"
)

// authMethod is how registered clients authenticate at the token endpoint:
// client_id and client_secret in the form body, as the reference clients do.
const authMethod = "client_secret_post"

// clientPayload is RegisterClientPayload and UpdateClientPayload of the
// reference document (the two are the same shape).
type clientPayload struct {
	ClientID                string   `json:"client_id"`
	ClientSecret            string   `json:"client_secret"`
	ClientIDIssuedAt        int64    `json:"client_id_issued_at"`
	ClientSecretExpiresAt   int64    `json:"client_secret_expires_at"`
	GrantTypes              []string `json:"grant_types"`
	Scope                   string   `json:"scope"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
}

func payload(clientID, secret string, issuedAt time.Time, grantTypes, scopes []string) clientPayload {
	return clientPayload{
		ClientID:                clientID,
		ClientSecret:            secret,
		ClientIDIssuedAt:        issuedAt.Unix(),
		ClientSecretExpiresAt:   0, // never: secrets are rotated by reset, not by expiry
		GrantTypes:              grantTypes,
		Scope:                   strings.Join(scopes, " "),
		TokenEndpointAuthMethod: authMethod,
	}
}

// registerInput is RegisterClientInput. Scope is a pointer so that a missing
// scope reads as no scope, which RFC 7591 allows.
type registerInput struct {
	Scope                   *string  `json:"scope"`
	GrantTypes              []string `json:"grant_types"`
	InstanceRegistrationKey *string  `json:"instance_registration_key"`
}

// updateInput is UpdateClientInput: the client's credentials travel in the
// body, which is how the update authenticates.
type updateInput struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	Scope        *string  `json:"scope"`
	GrantTypes   []string `json:"grant_types"`
}

// Handler serves POST /oauth2/register, and GET, PUT and DELETE on
// /oauth2/register/{id} (RFC 7592), each authenticated by the client's own
// credentials: HTTP Basic, or (PUT, DELETE) client_id and client_secret in
// the JSON body as the reference's UpdateClientInput has them.
// clientIP tells the address a request came from (behind a proxy, the
// caller knows which header to trust); nil means the connection's address.
func (s *Service) Handler(clientIP func(*http.Request) string) http.Handler {
	if clientIP == nil {
		clientIP = remoteIP
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/register", func(w http.ResponseWriter, r *http.Request) {
		var in registerInput
		if !decodeJSON(w, r, &in) {
			return
		}
		reg, err := s.Register(r.Context(), Metadata{
			Scope: deref(in.Scope), GrantTypes: in.GrantTypes, InstanceRegistrationKey: in.InstanceRegistrationKey,
		}, clientIP(r))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, payload(reg.ClientID, reg.Secret, reg.IssuedAt, reg.GrantTypes, reg.Scopes))
	})
	mux.HandleFunc("PUT /oauth2/register/{id}", func(w http.ResponseWriter, r *http.Request) {
		var in updateInput
		if !decodeJSON(w, r, &in) {
			return
		}
		if in.ClientID != r.PathValue("id") {
			s.writeError(w, r, ErrInvalidClient)
			return
		}
		c, err := s.Update(r.Context(), in.ClientID, in.ClientSecret, Metadata{
			Scope: deref(in.Scope), GrantTypes: in.GrantTypes,
		})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		// The secret is only stored hashed: the answer carries the one the
		// client just proved it holds, which stays valid.
		writeJSON(w, http.StatusOK, payload(c.ID, in.ClientSecret, c.IssuedAt, c.GrantTypes, c.Scopes))
	})
	mux.HandleFunc("GET /oauth2/register/{id}", func(w http.ResponseWriter, r *http.Request) {
		c, secret, ok := s.authenticated(w, r, nil)
		if ok {
			writeJSON(w, http.StatusOK, payload(c.ID, secret, c.IssuedAt, c.GrantTypes, c.Scopes))
		}
	})
	allowed := "GET, PUT"
	if s.opts.Deregister != nil {
		allowed += ", DELETE"
		mux.HandleFunc("DELETE /oauth2/register/{id}", func(w http.ResponseWriter, r *http.Request) {
			var in updateInput
			c, _, ok := s.authenticated(w, r, &in)
			if !ok {
				return
			}
			// The audit log names the instance, from its address, as who
			// deleted it.
			ip, _ := netip.ParseAddr(clientIP(r))
			ctx := audit.WithActor(r.Context(), audit.Actor{Label: "instance " + c.ID, IP: ip})
			if err := s.opts.Deregister(ctx, c); err != nil {
				s.writeError(w, r, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
	}
	// Other methods on these paths: the same JSON error body as elsewhere.
	mux.HandleFunc("/oauth2/register", methodNotAllowed(http.MethodPost))
	mux.HandleFunc("/oauth2/register/{id}", methodNotAllowed(allowed))
	return mux
}

// authenticated authenticates the client of the path by HTTP Basic (RFC
// 6749 §2.3.1: each part form-urlencoded) or, when body is given and the
// request has one, by the client_id and client_secret in it. When ok is
// false the answer has been written.
func (s *Service) authenticated(w http.ResponseWriter, r *http.Request, body *updateInput) (Client, string, bool) {
	id, secret, basic := r.BasicAuth()
	if basic {
		var errID, errSecret error
		id, errID = url.QueryUnescape(id)
		secret, errSecret = url.QueryUnescape(secret)
		basic = errID == nil && errSecret == nil
	} else if body != nil && r.ContentLength != 0 {
		if !decodeJSON(w, r, body) {
			return Client{}, "", false
		}
		id, secret = body.ClientID, body.ClientSecret
	}
	if id == "" || id != r.PathValue("id") {
		s.writeError(w, r, ErrInvalidClient)
		return Client{}, "", false
	}
	c, err := s.Authenticate(r.Context(), id, secret)
	if err != nil {
		s.writeError(w, r, err)
		return Client{}, "", false
	}
	return c, secret, true
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeOAuthError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on this path")
	}
}

// writeError maps the service's errors to RFC 7591 / RFC 6749 error answers.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var meta *MetadataError
	var limited *RateLimitError
	switch {
	case errors.As(err, &meta):
		writeOAuthError(w, http.StatusBadRequest, "invalid_client_metadata", meta.Description)
	case errors.Is(err, ErrInvalidClient):
		// RFC 6749 §5.2: a 401 to client authentication names the scheme.
		w.Header().Set("WWW-Authenticate", `Basic realm="caido-cloud"`)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
	case errors.As(err, &limited):
		secs := int64(limited.RetryAfter / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		writeOAuthError(w, http.StatusTooManyRequests, "rate_limited",
			"too many registrations from this address; retry in "+strconv.FormatInt(secs, 10)+" seconds")
	default:
		s.opts.Log.ErrorContext(r.Context(), "client registration failed", "route", r.Pattern, "err", err)
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "an internal error occurred")
	}
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
