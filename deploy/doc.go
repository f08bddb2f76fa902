// Package deploy holds the deployment files of caido-cloud: the container
// image (Dockerfile), a compose file, Kubernetes manifests (k8s/) and the
// OpenTelemetry Collector's configuration. It has no Go code of its own; its
// test checks the files offline and keeps them in step with config.Settings.
package deploy
