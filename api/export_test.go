package api

// MountAssistant lets api_test route the assistant on an engine of its own
// until NewRouter mounts it.
var MountAssistant = mountAssistant
