package instance

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/assistant"
	"github.com/caido-cloud/caido-cloud/input"
	"github.com/caido-cloud/caido-cloud/oidc"
)

// maxCompletionBody bounds a completion request: generous for a long
// conversation, small enough that a body cannot exhaust memory.
const maxCompletionBody = 4 << 20

// mountAssistant routes the assistant for user tokens carrying the
// assistant scope. POST /instance/assistant/complete/stream is the
// streaming variant of /complete (see streamCompletion).
func mountAssistant(r gin.IRouter, d Deps) {
	h := assistantHandlers{svc: d.Assistant, log: d.Log}
	g := r.Group("/instance/assistant", requireToken(d.Provider, oidc.KindUser), requireScope(oidc.ScopeAssistant), h.available)
	g.GET("/models", h.models)
	g.GET("/usage", h.usage)
	g.POST("/complete", h.complete)
	g.POST("/complete/stream", h.stream)
}

// requireScope refuses a user token without scope (RFC 6750 §3.1).
func requireScope(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !CallerFrom(c).HasScope(scope) {
			c.Header("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+scope+`"`)
			httpx.Abort(c, http.StatusForbidden, "insufficient_scope", "this endpoint needs the "+scope+" scope; sign in again asking for it")
			return
		}
		c.Next()
	}
}

type assistantHandlers struct {
	svc *assistant.Service
	log *slog.Logger
}

// available answers 503 for completions when no upstream is configured;
// models and usage still answer then, from the database.
func (h assistantHandlers) available(c *gin.Context) {
	completion := c.Request.Method == http.MethodPost
	if completion && !h.svc.Configured() {
		httpx.Abort(c, http.StatusServiceUnavailable, "ASSISTANT_UNAVAILABLE", "the assistant is not configured on this cloud")
		return
	}
	c.Next()
}

// modelsPayload is the reference's AssistantModelsPayload.
type modelsPayload struct {
	Models []modelEntry `json:"models"`
}

type modelEntry struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	TokenCredit int64  `json:"token_credit"`
}

func (h assistantHandlers) models(c *gin.Context) {
	all, err := h.svc.Models(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	out := modelsPayload{Models: []modelEntry{}}
	for _, m := range all {
		if m.Enabled {
			out.Models = append(out.Models, modelEntry{ID: m.ID, Name: m.Name, TokenCredit: m.TokenCredit})
		}
	}
	c.JSON(http.StatusOK, out)
}

// usagePayload is the reference's AssistantUsagePayload.
type usagePayload struct {
	Balance int64 `json:"balance"`
}

func (h assistantHandlers) usage(c *gin.Context) {
	balance, err := h.svc.Balance(c.Request.Context(), CallerFrom(c).Subject)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, usagePayload{Balance: balance})
}

// completionInput is the reference's AssistantCompletionInput, plus an
// optional max_tokens that can only lower the model's cap.
type completionInput struct {
	Model     string              `json:"model"`
	Messages  []assistant.Message `json:"messages"`
	MaxTokens int                 `json:"max_tokens"`
}

// completionPayload is the reference's AssistantCompletionPayload; usage
// also says what the call cost.
type completionPayload struct {
	Model    string              `json:"model"`
	Messages []assistant.Message `json:"messages"`
	Usage    completionUsage     `json:"usage"`
}

type completionUsage struct {
	Balance          int64 `json:"balance"`
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	Credits          int64 `json:"credits"`
	Estimated        bool  `json:"estimated,omitempty"`
}

func usageOf(done assistant.Completion) completionUsage {
	return completionUsage{Balance: done.Balance, PromptTokens: done.PromptTokens,
		CompletionTokens: done.CompletionTokens, Credits: done.Credits, Estimated: done.Estimated}
}

// readCompletion decodes the body; on failure it has answered. The decode
// error is not echoed: it can quote the body. A message's content is free
// text (tabs and line breaks: code, requests, logs); the model and the
// roles are one line, as every other string.
func readCompletion(c *gin.Context) (assistant.Caller, assistant.Request, bool) {
	var in completionInput
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxCompletionBody))
	if err == nil {
		if err := input.CheckJSON(body, "messages[].content"); err != nil {
			// Names the field and the character, never the content.
			httpx.Abort(c, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
			return assistant.Caller{}, assistant.Request{}, false
		}
		err = json.Unmarshal(body, &in)
	}
	if err != nil {
		httpx.Abort(c, http.StatusBadRequest, "INVALID_REQUEST", "the body must be a JSON AssistantCompletionInput of at most 4 MiB")
		return assistant.Caller{}, assistant.Request{}, false
	}
	caller := CallerFrom(c)
	return assistant.Caller{UserID: caller.Subject, InstanceID: caller.InstanceID},
		assistant.Request{Model: in.Model, Messages: in.Messages, MaxTokens: in.MaxTokens}, true
}

func (h assistantHandlers) complete(c *gin.Context) {
	who, req, ok := readCompletion(c)
	if !ok {
		return
	}
	done, err := h.svc.Complete(c.Request.Context(), who, req)
	if err != nil {
		h.fail(c, err)
		return
	}
	messages := done.Messages
	if messages == nil {
		messages = []assistant.Message{}
	}
	c.JSON(http.StatusOK, completionPayload{Model: done.Model, Messages: messages, Usage: usageOf(done)})
}

// fail answers err with its stable code. Only codes and statuses are
// logged: an upstream's message may quote the prompt.
func (h assistantHandlers) fail(c *gin.Context, err error) {
	status, code, description := assistantErrorOf(err)
	var up *assistant.UpstreamError
	if errors.As(err, &up) {
		h.log.WarnContext(c.Request.Context(), "assistant upstream failed",
			"upstream_status", up.Status, "upstream_code", up.Code, "retryable", up.Retryable)
		if up.RetryAfter != "" && status == http.StatusServiceUnavailable {
			c.Header("Retry-After", up.RetryAfter)
		}
	} else if status >= 500 && code != "ASSISTANT_UNAVAILABLE" {
		h.log.ErrorContext(c.Request.Context(), "assistant failed", "error", err.Error())
	}
	if code == "temporarily_unavailable" {
		httpx.Unavailable(c, code, description) // ours (PostgreSQL, OpenFGA): retry past their bounds
		return
	}
	httpx.Abort(c, status, code, description)
}

// assistantErrorOf maps the service's errors to status, code and sentence.
func assistantErrorOf(err error) (int, string, string) {
	var up *assistant.UpstreamError
	switch {
	case errors.Is(err, assistant.ErrQuotaExceeded):
		// 402, not 429: clients retry a 429 after a pause, but this only
		// changes with next month or a plan upgrade.
		return http.StatusPaymentRequired, "QUOTA_EXCEEDED", "your assistant credits for this month are spent"
	case errors.Is(err, assistant.ErrInvalidModel):
		return http.StatusBadRequest, "INVALID_MODEL", "no enabled assistant model has this id; see GET /instance/assistant/models"
	case errors.Is(err, assistant.ErrContextExceeded):
		return http.StatusBadRequest, "CONTEXT_EXCEEDED", "the messages are longer than the model's context; shorten the conversation"
	case errors.Is(err, assistant.ErrInvalidRequest):
		return http.StatusBadRequest, "INVALID_REQUEST", err.Error()
	case errors.Is(err, assistant.ErrForbidden):
		return http.StatusForbidden, "ASSISTANT_FORBIDDEN", "the assistant is switched off on this instance, or you may not use it here"
	case errors.Is(err, assistant.ErrUnavailable):
		return http.StatusServiceUnavailable, "ASSISTANT_UNAVAILABLE", "the assistant is not configured on this cloud"
	case errors.As(err, &up) && up.Retryable:
		return http.StatusServiceUnavailable, "UPSTREAM_UNAVAILABLE", "the model is unavailable or overloaded; nothing was charged, retry later"
	case errors.As(err, &up):
		return http.StatusBadGateway, "UPSTREAM_ERROR", "the model refused the request; nothing was charged"
	}
	return http.StatusServiceUnavailable, "temporarily_unavailable", "the assistant could not be reached; retry"
}
