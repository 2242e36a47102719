"""The only place that talks to Ray clusters (local heads here, KubeRay objects in the operator)."""
