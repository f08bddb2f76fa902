// Package assistant proxies completions to an OpenAI-compatible model and
// meters them in credits, never storing the messages.
package assistant

// Service is the assistant. (Being written.)
type Service struct{}
