package api

// MountWeb lets api_test route the pages on an engine of their own, with an
// accounts.Service of the test's options.
var MountWeb = mountWeb
