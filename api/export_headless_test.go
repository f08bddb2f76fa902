package api

import "github.com/caido-cloud/caido-cloud/api/httpx"

// MountHeadless and AccessLog let api_test route the headless device calls
// on an engine of its own, with a pats.Service on the test's clock, logged
// as NewRouter logs.
var (
	MountHeadless = mountHeadless
	AccessLog     = httpx.AccessLog
)
