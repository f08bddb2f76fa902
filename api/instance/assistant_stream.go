package instance

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/assistant"
)

// stream is POST /instance/assistant/complete/stream: the body of
// /complete, answered as Server-Sent Events written and flushed as the
// upstream produces them:
//
//	event: delta   data: {"role":"assistant","content":"…"}   (role only on the first)
//	event: done    data: {"model":"…","usage":{"balance":…,"prompt_tokens":…,"completion_tokens":…,"credits":…}}
//	event: error   data: {"error":"UPSTREAM_UNAVAILABLE","error_description":"…","usage":{…}}
//
// A failure before the first delta is an ordinary JSON error answer with its
// status, and nothing is charged. Once deltas have flowed, the stream ends
// with done, or with error carrying what was charged for the part produced.
// A separate path rather than "stream": true keeps one response type per
// path, as the reference has it.
func (h assistantHandlers) stream(c *gin.Context) {
	who, req, ok := readCompletion(c)
	if !ok {
		return
	}
	started := false
	emit := func(m assistant.Message) error {
		if err := c.Request.Context().Err(); err != nil {
			return err // the client left
		}
		if !started {
			started = true
			c.Header("Content-Type", "text/event-stream")
			c.Header("Cache-Control", "no-cache")
			c.Header("X-Accel-Buffering", "no") // proxies such as nginx must not hold chunks
			c.Status(http.StatusOK)
		}
		return writeEvent(c, "delta", m)
	}
	done, err := h.svc.Stream(c.Request.Context(), who, req, emit)
	if !started {
		if err != nil {
			h.fail(c, err)
			return
		}
		// A stream that settled without a delta: answer the outcome alone.
		c.Header("Content-Type", "text/event-stream")
		c.Status(http.StatusOK)
	}
	if err != nil {
		_, code, description := assistantErrorOf(err)
		ev := streamError{Error: httpx.Error{Code: code, Description: description}}
		if done.Model != "" {
			u := usageOf(done)
			ev.Usage = &u
		}
		h.log.WarnContext(c.Request.Context(), "assistant stream ended early", "code", code)
		_ = writeEvent(c, "error", ev) // the client may be gone: nothing more to do
		return
	}
	_ = writeEvent(c, "done", streamDone{Model: done.Model, Usage: usageOf(done)})
}

type streamDone struct {
	Model string          `json:"model"`
	Usage completionUsage `json:"usage"`
}

type streamError struct {
	httpx.Error
	Usage *completionUsage `json:"usage,omitempty"`
}

// writeEvent writes one SSE event and flushes it to the client at once.
func writeEvent(c *gin.Context, event string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(c.Writer, "event: %s\ndata: %s\n\n", event, raw); err != nil {
		return err
	}
	return http.NewResponseController(c.Writer).Flush()
}
