"""What the operator reads from `PARK_OPERATOR_*` variables (the Deployment sets them; tests pass them).

Separate from `park.core.settings.Settings` because none of it means anything to `park up`.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from park.core.resources import PodTemplate
from park.substrates.kuberay_specs import DEFAULT_IMAGE
from park.workloads import artifacts

DEFAULT_RAY_IMAGE = DEFAULT_IMAGE
DEFAULT_RESYNC_SECONDS = 300.0


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARK_OPERATOR_", extra="ignore")

    ray_image: str = DEFAULT_RAY_IMAGE
    """The image of every Ray head and worker pod (it must carry Ray 2.60 and, for workloads, park)."""
    pods: PodTemplate = Field(default_factory=PodTemplate)
    """Defaults for every Ray pod (PARK_OPERATOR_PODS as JSON: image pull policy, volumes, node selector,
    tolerations, env); a ParkCluster's own `spec.pods` is laid over them."""
    ray_version: str = "2.60.0"
    jobs_root: str = "/var/lib/park/jobs"
    """Where each job's files live (PARK_JOB_DIR: report, checkpoints) and logs are archived: an
    `s3://BUCKET/PREFIX` URI (the operator and the pods read AWS_* from their environment), or a path
    on storage that every pod and the operator mount."""
    packages_root: str | None = None
    """Where `park apply` uploads jobs' local working directories (`<namespace>/<sha256>.zip`), which
    every Ray pod downloads: default beside `jobs_root` (`s3://BUCKET/jobs` -> `s3://BUCKET/packages`)."""
    lease_namespace: str = "default"
    lease_name: str = "park-scheduler"
    lease_seconds: float = Field(15.0, gt=1)
    """Only the Lease holder runs the controllers and the scheduler; a standby replica takes over at most
    this long after the holder stops renewing."""
    resync_seconds: float = Field(DEFAULT_RESYNC_SECONDS, ge=5)
    """How often every Park object is reconciled with no event (a safety net: events drive the rest)."""
    job_poll_seconds: float = Field(5.0, gt=0)
    """How often a running ParkJob is looked at with no change of its RayJob: for its report (progress,
    checkpoint). KubeRay's status changes reach the operator by watch at once."""
    service_poll_seconds: float = Field(5.0, gt=0)
    """How often a ParkService is looked at with no change of its RayService: Serve's replica targets and
    states, read from Serve on its head (they change with no KubeRay event)."""
    scheduler_min_runtime_seconds: float = Field(60.0, ge=0)
    scheduler_aging_seconds: float = Field(300.0, gt=0)

    def pod_defaults(self) -> PodTemplate:
        """The operator's pod defaults, with `ray_image` as the image unless `pods` names one."""
        return self.pods.model_copy(update={"image": self.pods.image or self.ray_image})

    def packages(self) -> str:
        return self.packages_root or artifacts.beside(self.jobs_root, "packages")

    def logs_root(self) -> str:
        """Where finished attempts' logs are archived: beside the jobs' files."""
        return artifacts.join(self.jobs_root, ".logs")
