"""Job logs on Kubernetes: what the RayJob's submitter pod printed (`ray job submit --follow`).

KubeRay's K8sJobMode runs the submission as a batch Job named like the RayJob (which is named like
the ParkJob), so the newest pod labelled `job-name=<name>` holds the driver's output for the attempt.
"""

from __future__ import annotations

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from park.control.logs import FollowedLogs
from park.control.store import Store
from park.core.resources import ParkJob


class KubernetesJobLogs(FollowedLogs):
    def __init__(self, *, store: Store, api_client: k8s.ApiClient) -> None:
        super().__init__(store=store)
        self._core = k8s.CoreV1Api(api_client)

    def _read_sync(self, job: ParkJob) -> str:
        namespace = job.metadata.namespace or "default"
        try:
            pods = self._core.list_namespaced_pod(namespace, label_selector=f"job-name={job.metadata.name}")
            named = [
                (pod.metadata.creation_timestamp, pod.metadata.name)
                for pod in pods.items
                if pod.metadata is not None and pod.metadata.name and pod.metadata.creation_timestamp
            ]
            if not named:
                return ""
            text = self._core.read_namespaced_pod_log(max(named)[1], namespace)
        except ApiException:
            return ""  # no submitter yet, or a node that keeps no logs (kwok)
        return text if isinstance(text, str) else ""
