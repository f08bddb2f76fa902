// Package caidocloud holds the files of the repository root that the binary
// embeds. The authorization model lives at the top level so that the model
// and its tests (model.fga.yaml) are the first thing a reader finds.
package caidocloud

import _ "embed"

// AuthorizationModel is model.fga, the OpenFGA DSL source written to the store
// by `caido-cloud migrate` whenever its content changes.
//
//go:embed model.fga
var AuthorizationModel string
