// Package deploy holds mypt's deployment artefacts (systemd units, Dockerfile,
// compose file, Kubernetes manifests, Prometheus rules and configuration,
// Grafana dashboard). It has no code; its tests check the artefacts with
// promtool, systemd-analyze and YAML/JSON parsers against the metric names the
// components export.
package deploy
