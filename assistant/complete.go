package assistant

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/caido-cloud/caido-cloud/authz"
)

// Message is one chat message. Its content is passed through, never kept.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Request is what an instance asks for.
type Request struct {
	Model    string
	Messages []Message
	// MaxTokens optionally lowers the model's max output tokens.
	MaxTokens int
}

// Caller is the user asking, at the instance their token is for.
type Caller struct {
	UserID     string
	InstanceID string
}

// Completion is a settled call.
type Completion struct {
	Model string
	// Messages is the answer; empty for a stream, whose content went to emit.
	Messages         []Message
	PromptTokens     int64
	CompletionTokens int64
	Credits          int64
	// Estimated: the upstream reported no usage, tokens were estimated.
	Estimated bool
	// Balance is the user's balance after this call was charged.
	Balance int64
}

// call is an admitted request: its model, its reservation, its bound.
type call struct {
	caller    Caller
	model     Model
	messages  []Message
	maxTokens int
	res       reservation
}

var roles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true}

// begin checks the request and the user's permission and reserves credits.
func (s *Service) begin(ctx context.Context, who Caller, req Request) (call, error) {
	if !s.Configured() {
		return call{}, ErrUnavailable
	}
	if len(req.Messages) == 0 {
		return call{}, fmt.Errorf("messages must not be empty: %w", ErrInvalidRequest)
	}
	for i, m := range req.Messages {
		if !roles[m.Role] {
			return call{}, fmt.Errorf("messages[%d].role must be system, developer, user or assistant: %w", i, ErrInvalidRequest)
		}
	}
	if req.MaxTokens < 0 {
		return call{}, fmt.Errorf("max_tokens must be positive: %w", ErrInvalidRequest)
	}
	allowed, err := s.authz.Check(ctx, authz.UserObject(who.UserID), "can_use_assistant", authz.InstanceObject(who.InstanceID))
	if err != nil {
		return call{}, fmt.Errorf("check assistant permission: %w", err)
	}
	if !allowed {
		return call{}, ErrForbidden
	}
	m, err := s.enabledModel(ctx, req.Model)
	if err != nil {
		return call{}, err
	}
	c := call{caller: who, model: m, messages: req.Messages, maxTokens: m.MaxOutputTokens}
	if req.MaxTokens > 0 {
		c.maxTokens = min(req.MaxTokens, m.MaxOutputTokens)
	}
	c.res, err = s.reserve(ctx, who.UserID, (promptTokenBound(req.Messages)+int64(c.maxTokens))*m.TokenCredit)
	return c, err
}

// promptTokenBound is at least the prompt's token count: a token of a
// byte-level tokenizer covers at least one byte, plus each message's
// framing. Reserving a true bound is what keeps overspending within one
// reservation.
func promptTokenBound(msgs []Message) int64 {
	n := int64(8)
	for _, m := range msgs {
		n += int64(len(m.Role)+len(m.Content)) + 8
	}
	return n
}

// estimateTokens is the usual four characters a token, rounded up, for
// calls whose upstream reported no usage.
func estimateTokens(chars int) int64 { return int64(chars+3) / 4 }

func estimatePrompt(msgs []Message) int64 {
	var n int64 = 3
	for _, m := range msgs {
		n += estimateTokens(len(m.Content)) + 4
	}
	return n
}

// finish settles c with what it used, or releases it when it used nothing;
// it runs on a context of its own so a gone client still pays.
func (s *Service) finish(ctx context.Context, c call, u usage) (Completion, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	u.modelID, u.instanceID, u.tokenCredit = c.model.ID, c.caller.InstanceID, c.model.TokenCredit
	balance, err := s.settle(ctx, c.res, u)
	if err != nil {
		return Completion{}, err
	}
	return Completion{Model: c.model.ID, PromptTokens: u.promptTokens, CompletionTokens: u.completionTokens,
		Credits: min(u.credits(), c.res.credits), Estimated: u.estimated, Balance: balance}, nil
}

// abandon releases c's reservation after a failed call; the call's own
// error matters more than a failed release, which the stale clean-up
// repairs later.
func (s *Service) abandon(ctx context.Context, c call, callErr error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.release(ctx, c.res); err != nil {
		return errors.Join(callErr, err)
	}
	return callErr
}

// Complete answers the messages in one piece.
func (s *Service) Complete(ctx context.Context, who Caller, req Request) (Completion, error) {
	c, err := s.begin(ctx, who, req)
	if err != nil {
		return Completion{}, err
	}
	upCtx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	upCtx, headers := withAnswerHeaders(upCtx)
	resp, err := s.upstream.CreateChatCompletion(upCtx, chatRequest(c.model, c.messages, c.maxTokens))
	if err != nil {
		return Completion{}, s.abandon(ctx, c, classify(err, headers))
	}
	u := usage{promptTokens: int64(resp.Usage.PromptTokens), completionTokens: int64(resp.Usage.CompletionTokens)}
	var answer []Message
	produced := 0
	for _, ch := range resp.Choices {
		answer = append(answer, Message{Role: ch.Message.Role, Content: ch.Message.Content})
		produced += len(ch.Message.Content)
	}
	if resp.Usage.TotalTokens == 0 && u.promptTokens == 0 && u.completionTokens == 0 {
		u = usage{promptTokens: estimatePrompt(c.messages), completionTokens: estimateTokens(produced), estimated: true}
	}
	out, err := s.finish(ctx, c, u)
	out.Messages = answer
	return out, err
}

// Stream answers the messages piece by piece: emit gets each delta as the
// upstream produces it. Errors before the first emit mean nothing was
// charged. Once content has flowed, the call is charged for what the
// upstream produced, from its usage report or, when the stream broke
// before it (the client left, the upstream dropped), estimated; the error
// then says why the stream ended early, next to the settled Completion.
func (s *Service) Stream(ctx context.Context, who Caller, req Request, emit func(Message) error) (Completion, error) {
	c, err := s.begin(ctx, who, req)
	if err != nil {
		return Completion{}, err
	}
	upCtx, cancel := context.WithTimeout(ctx, streamLimit*s.opts.Timeout)
	defer cancel()
	// Timeout bounds each wait, not the whole stream.
	idle := time.AfterFunc(s.opts.Timeout, cancel)
	defer idle.Stop()
	upCtx, headers := withAnswerHeaders(upCtx)
	upReq := chatRequest(c.model, c.messages, c.maxTokens)
	upReq.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	stream, err := s.upstream.CreateChatCompletionStream(upCtx, upReq)
	if err != nil {
		return Completion{}, s.abandon(ctx, c, classify(err, headers))
	}
	defer stream.Close()

	var reported *openai.Usage
	produced := 0
	var broke error
	for broke == nil {
		idle.Reset(s.opts.Timeout)
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			broke = classify(err, headers)
			break
		}
		if chunk.Usage != nil {
			reported = chunk.Usage
		}
		for _, ch := range chunk.Choices {
			if ch.Delta.Content == "" && ch.Delta.Role == "" {
				continue
			}
			produced += len(ch.Delta.Content)
			if err := emit(Message{Role: ch.Delta.Role, Content: ch.Delta.Content}); err != nil {
				broke = fmt.Errorf("assistant stream: the client left: %w", err)
				break
			}
		}
	}
	cancel() // stop the upstream now if the client left

	if reported == nil && produced == 0 {
		if broke == nil {
			broke = &UpstreamError{Retryable: true, err: errors.New("the stream ended with no content")}
		}
		return Completion{}, s.abandon(ctx, c, broke)
	}
	u := usage{estimated: true, promptTokens: estimatePrompt(c.messages), completionTokens: estimateTokens(produced)}
	if reported != nil {
		u = usage{promptTokens: int64(reported.PromptTokens), completionTokens: int64(reported.CompletionTokens)}
	}
	out, err := s.finish(ctx, c, u)
	if err != nil {
		return out, errors.Join(broke, err)
	}
	return out, broke
}
