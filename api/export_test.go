package api

// MountAssistant lets api_test route the assistant on an engine of its own,
// with a Service on the test's clock and stand-in upstream.
var MountAssistant = mountAssistant
