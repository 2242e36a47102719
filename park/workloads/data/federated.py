"""Text embeddings on the federation: a ParkJob with `placement: federated` embeds its text chunks on
community nodes instead of in its own actors.

Each model batch becomes one verified task `embed-text` (`POST /v1/federation/tasks`), content-addressed
(the same texts are the same task, so a retried actor or a restarted job finds the work already done),
and its vectors are used only once the gateway has verified them (replicas compared within tolerance,
spot checks, canaries; see docs/federation.md). Images and audio still embed on the job's own cluster.
The job learns where the federation is from `PARK_FEDERATION_API` and `PARK_FEDERATION_TOKEN`, which the
platform sets for federated jobs only.
"""

from __future__ import annotations

import base64
import os
import time
from typing import Any

import numpy as np

from park.core.errors import InvalidError

POLL_SECONDS = 0.5
TIMEOUT_SECONDS = 3600.0
RETRIES = 3  # a task that failed verification (no quorum) is submitted again this many times


class FederatedTextModel:
    """`models.TextModel`'s interface (`embed(texts) -> (n, 384) float32`), answered by the federation."""

    def __init__(self, api: str, token: str, *, timeout_s: float = TIMEOUT_SECONDS) -> None:
        import httpx  # noqa: PLC0415 - only federated jobs need it

        self._http = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        self.timeout_s = timeout_s

    @classmethod
    def from_env(cls) -> FederatedTextModel:
        api, token = os.environ.get("PARK_FEDERATION_API"), os.environ.get("PARK_FEDERATION_TOKEN")
        if not api or not token:
            raise InvalidError("placement federated needs a platform with a federation gateway (park up)")
        return cls(api, token)

    def embed(self, texts: list[str]) -> np.ndarray:
        payload = {"texts": texts}
        for _ in range(RETRIES + 1):
            task = self._request(
                "POST", "/v1/federation/tasks", json={"app": "embed-text", "payload": payload}
            )
            task = self._wait(task["id"])
            if task["state"] == "valid":
                return decode_vectors(task["output"], rows=len(texts))
        raise RuntimeError(f"federated embedding of {len(texts)} texts failed verification: {task['detail']}")

    def _wait(self, task_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        while True:
            task = self._request("GET", f"/v1/federation/tasks/{task_id}")
            if task["state"] != "pending":
                return task
            if time.monotonic() > deadline:
                raise TimeoutError(f"federation task {task_id} not verified after {self.timeout_s:.0f} s")
            time.sleep(POLL_SECONDS)

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(
                f"federation API {method} {path}: {response.status_code} {response.text[:300]}"
            )
        body: dict[str, Any] = response.json()
        return body


def decode_vectors(output: dict[str, Any], *, rows: int) -> np.ndarray:
    """The verified `embed-text` output as a (rows, dim) float32 matrix."""
    dim = int(output["dim"])
    data = base64.b64decode(output["vectors"])
    if int(output["rows"]) != rows or len(data) != rows * dim * 4:
        raise RuntimeError(f"federated embedding returned {output['rows']} rows for {rows} texts")
    return np.frombuffer(data, dtype="<f4").reshape(rows, dim).copy()
