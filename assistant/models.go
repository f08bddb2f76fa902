package assistant

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Model is one row of the operator's model table.
type Model struct {
	// ID is what instances send and see.
	ID   string `json:"id"`
	Name string `json:"name"`
	// UpstreamModel is the name the OpenAI-compatible API knows.
	UpstreamModel string `json:"upstream_model"`
	// TokenCredit is the credits one token costs.
	TokenCredit     int64 `json:"token_credit"`
	MaxOutputTokens int   `json:"max_output_tokens"`
	Enabled         bool  `json:"enabled"`
}

func (m Model) validate() error {
	switch {
	case m.ID == "" || m.Name == "" || m.UpstreamModel == "":
		return fmt.Errorf("model id, name and upstream model are required: %w", ErrInvalidRequest)
	case m.TokenCredit <= 0 || m.MaxOutputTokens <= 0:
		return fmt.Errorf("model %s: token credit and max output tokens must be positive: %w", m.ID, ErrInvalidRequest)
	}
	return nil
}

// Models lists every model, enabled or not, by id.
func (s *Service) Models(ctx context.Context) ([]Model, error) {
	rows, err := s.db.Query(ctx, `SELECT id, name, upstream_model, token_credit, max_output_tokens, enabled
		FROM assistant_models ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list assistant models: %w", err)
	}
	models, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Model])
	if err != nil {
		return nil, fmt.Errorf("list assistant models: %w", err)
	}
	return models, nil
}

// UpsertModel creates the model or replaces the one with its id.
func (s *Service) UpsertModel(ctx context.Context, m Model) error {
	if err := m.validate(); err != nil {
		return err
	}
	_, err := s.db.Exec(ctx, `INSERT INTO assistant_models (id, name, upstream_model, token_credit, max_output_tokens, enabled, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, now())
		ON CONFLICT (id) DO UPDATE SET name = $2, upstream_model = $3, token_credit = $4,
			max_output_tokens = $5, enabled = $6, updated_at = now()`,
		m.ID, m.Name, m.UpstreamModel, m.TokenCredit, m.MaxOutputTokens, m.Enabled)
	if err != nil {
		return fmt.Errorf("save assistant model %s: %w", m.ID, err)
	}
	return nil
}

// DeleteModel removes a model; its usage rows stay. Deleting a model that
// does not exist is not an error (the CLI may be re-run).
func (s *Service) DeleteModel(ctx context.Context, id string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM assistant_models WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete assistant model %s: %w", id, err)
	}
	return nil
}

// enabledModel is the model an instance asks for, or ErrInvalidModel.
func (s *Service) enabledModel(ctx context.Context, id string) (Model, error) {
	rows, err := s.db.Query(ctx, `SELECT id, name, upstream_model, token_credit, max_output_tokens, enabled
		FROM assistant_models WHERE id = $1 AND enabled`, id)
	if err != nil {
		return Model{}, fmt.Errorf("read assistant model: %w", err)
	}
	m, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Model])
	if errors.Is(err, pgx.ErrNoRows) {
		return Model{}, ErrInvalidModel
	}
	if err != nil {
		return Model{}, fmt.Errorf("read assistant model: %w", err)
	}
	return m, nil
}

// ModelChange is what to change of a model; nil leaves a field as it is.
// A model that does not exist yet is created from it, and then needs a
// Name and an UpstreamModel; the rest default to 1 credit a token, 4,096
// output tokens, enabled.
type ModelChange struct {
	ID              string
	Name            *string
	UpstreamModel   *string
	TokenCredit     *int64
	MaxOutputTokens *int
	Enabled         *bool
}

// ErrNewModelIncomplete: a change of a model that does not exist names no
// name or no upstream model to create it with.
var ErrNewModelIncomplete = errors.New("a new model needs a name and an upstream model")

// SetModel changes only what c names, so that renaming a model does not
// reset its price or enable it again.
func (s *Service) SetModel(ctx context.Context, c ModelChange) error {
	if c.Name != nil && *c.Name == "" || c.UpstreamModel != nil && *c.UpstreamModel == "" {
		return fmt.Errorf("model %s: name and upstream model may not be empty: %w", c.ID, ErrInvalidRequest)
	}
	tag, err := s.db.Exec(ctx, `UPDATE assistant_models SET name = coalesce($2, name), upstream_model = coalesce($3, upstream_model),
		token_credit = coalesce($4, token_credit), max_output_tokens = coalesce($5, max_output_tokens),
		enabled = coalesce($6, enabled), updated_at = now() WHERE id = $1`,
		c.ID, c.Name, c.UpstreamModel, c.TokenCredit, c.MaxOutputTokens, c.Enabled)
	if err == nil && tag.RowsAffected() == 0 {
		if c.Name == nil || c.UpstreamModel == nil {
			return fmt.Errorf("no model %q yet: %w", c.ID, ErrNewModelIncomplete)
		}
		m := Model{ID: c.ID, Name: *c.Name, UpstreamModel: *c.UpstreamModel, TokenCredit: 1, MaxOutputTokens: 4096, Enabled: true}
		if c.TokenCredit != nil {
			m.TokenCredit = *c.TokenCredit
		}
		if c.MaxOutputTokens != nil {
			m.MaxOutputTokens = *c.MaxOutputTokens
		}
		if c.Enabled != nil {
			m.Enabled = *c.Enabled
		}
		_, err = s.db.Exec(ctx, `INSERT INTO assistant_models (id, name, upstream_model, token_credit, max_output_tokens, enabled)
			VALUES ($1, $2, $3, $4, $5, $6)`, m.ID, m.Name, m.UpstreamModel, m.TokenCredit, m.MaxOutputTokens, m.Enabled)
	}
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "23514" { // check_violation
		return fmt.Errorf("the id must be 1 to 100 of letters, digits, . _ : -, and the credit and max output tokens positive: %w", ErrInvalidRequest)
	}
	if err != nil {
		return fmt.Errorf("set assistant model %s: %w", c.ID, err)
	}
	return nil
}
