"""The Kubernetes operator: Park resources as custom resources, driven onto KubeRay."""
