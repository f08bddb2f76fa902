package api_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// dumpTables is the text of every row of every table of the public schema.
func dumpTables(t testing.TB, db *pgxpool.Pool) string {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Query(ctx, `SELECT table_name::text FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	testenv.Must(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	testenv.Must(t, err)
	var dump strings.Builder
	for _, table := range tables {
		var text string
		q := fmt.Sprintf(`SELECT coalesce(string_agg(t::text, E'\n'), '') FROM %s t`, pgx.Identifier{table}.Sanitize())
		testenv.Must(t, db.QueryRow(ctx, q).Scan(&text))
		dump.WriteString(table + "\n" + text + "\n")
	}
	return dump.String()
}

func spanText(spans *tracetest.SpanRecorder) string {
	var b strings.Builder
	for _, s := range spans.Ended() {
		b.WriteString(s.Name())
		for _, kv := range s.Attributes() {
			b.WriteString(" " + kv.Value.Emit())
		}
		for _, e := range s.Events() {
			b.WriteString(" " + e.Name)
			for _, kv := range e.Attributes {
				b.WriteString(" " + kv.Value.Emit())
			}
		}
		b.WriteString(" " + s.Status().Description + "\n")
	}
	return b.String()
}

// TestAssistantStoresNoContent sends a unique sentinel through every kind
// of call (answered, streamed, broken stream, refused as too long with the
// upstream quoting it, upstream failure), then looks for it in every table,
// the logs and the spans. A positive control first shows the search finds
// the sentinel where it is.
func TestAssistantStoresNoContent(t *testing.T) {
	var logs testenv.Buffer
	spans := tracetest.NewSpanRecorder()
	w := newAssistantWorld(t, testenv.Options{Log: &logs, Spans: spans})
	w.setPlan(t, 1_000_000)
	sentinel := "SENTINEL-" + rand.Text()

	// Positive control: the same search finds it in a table that holds it.
	ctx := context.Background()
	_, err := w.a.DB.Exec(ctx, `CREATE TABLE sentinel_control (note text)`)
	testenv.Must(t, err)
	_, err = w.a.DB.Exec(ctx, `INSERT INTO sentinel_control VALUES ($1)`, "before "+sentinel+" after")
	testenv.Must(t, err)
	if !strings.Contains(dumpTables(t, w.a.DB), sentinel) {
		t.Fatal("the table search misses a sentinel that is stored: it would prove nothing")
	}
	_, err = w.a.DB.Exec(ctx, `DROP TABLE sentinel_control`)
	testenv.Must(t, err)

	for _, model := range []string{"test-ok", "test-context", "test-broken", "test-rate-limited"} {
		w.do(t, "POST", "/instance/assistant/complete", w.token, ask(model, "find "+sentinel+" please"))
	}
	w.up.Release()
	resp, events := w.openStream(t, ctx, ask("test-gated", sentinel))
	for range events {
	}
	resp.Body.Close()
	streamCtx, cancel := context.WithCancel(ctx)
	resp, events = w.openStream(t, streamCtx, ask("test-hang", sentinel))
	next(t, events)
	cancel()
	resp.Body.Close()

	_, _, _, rows := w.ledger(t)
	if rows < 2 {
		t.Fatalf("only %d usage rows: the calls did not run", rows)
	}
	if !strings.Contains(spanText(spans), "/instance/assistant/complete") || !strings.Contains(logs.String(), "assistant upstream failed") {
		t.Fatal("the spans or logs recorded none of the calls: the test would prove nothing")
	}
	if strings.Contains(dumpTables(t, w.a.DB), sentinel) {
		t.Error("a message's content is stored in the database")
	}
	if strings.Contains(logs.String(), sentinel) {
		t.Error("a message's content is in the logs")
	}
	if strings.Contains(spanText(spans), sentinel) {
		t.Error("a message's content is in the spans")
	}
}
