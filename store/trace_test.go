package store

import "testing"

func TestOperationNamesTheStatement(t *testing.T) {
	for sql, want := range map[string]string{
		"SELECT 1": "SELECT",
		"  insert into users (email) values ($1)":                        "INSERT",
		"-- The rows that decide\n-- more words\n\nCREATE TABLE users (": "CREATE",
		"WITH x AS (SELECT 1) SELECT * FROM x":                           "WITH",
		"-- only a comment":                                              "QUERY",
		"BEGIN;":                                                         "BEGIN",
	} {
		if got := operation(sql); got != want {
			t.Errorf("operation(%q) = %q, want %q", sql, got, want)
		}
	}
}
