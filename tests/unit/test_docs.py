"""What a new user copies from the README, the docs and the examples agrees with itself and the code."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from park.control.reconcile.service import model_jobs
from park.core.loading import load_documents
from park.core.packages import MAX_PACKAGE_BYTES
from park.core.resources import ParkJob, ParkService

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _resource_blocks(page: Path) -> list[str]:
    """The YAML blocks that are whole Park objects (not node configs or fragments)."""
    blocks = re.findall(r"```yaml\n(.*?)```", page.read_text(), flags=re.DOTALL)
    return [block for block in blocks if "apiVersion: park.dev/" in block]


def _load(path: Path) -> list[object]:
    return list(load_documents(path.read_text(), source=str(path)))


def _datagen(text: str) -> list[str]:
    (line,) = [line for line in text.splitlines() if "python -m park.workloads.datagen" in line]
    words = shlex.split(line.lstrip("# "), comments=True)
    return words[words.index("park.workloads.datagen") + 1 :]


def test_the_docs_name_the_example_training_job_as_the_chat_example_serves_it() -> None:
    (chat,) = _load(REPO / "examples" / "serving" / "chat.yaml")
    (train,) = _load(REPO / "examples" / "workloads" / "train.yaml")
    assert isinstance(chat, ParkService) and isinstance(train, ParkJob)
    assert model_jobs(chat) == {train.metadata.name}
    shown = [
        (page.name, obj.metadata.name)
        for page in PAGES
        for block in _resource_blocks(page)
        for obj in load_documents(block, source=page.name)
        if isinstance(obj, ParkJob) and obj.spec.workload == train.spec.workload  # the same training
    ]
    assert shown, "the docs show the example's training job"
    assert [name for _, name in shown] == [train.metadata.name] * len(shown), shown


def test_the_readme_makes_the_dataset_the_data_example_expects() -> None:
    """The counts in status.report depend on --corrupt: the README says it, as the example does."""
    readme = _datagen((REPO / "README.md").read_text())
    example = _datagen((REPO / "examples" / "workloads" / "data.yaml").read_text())
    assert readme == example
    assert "--corrupt" in readme


def test_the_docs_state_the_package_limit_the_code_enforces() -> None:
    limit = f"{MAX_PACKAGE_BYTES // 2**20} MiB"
    for page in ("concepts.md", "api.md"):
        assert limit in (REPO / "docs" / page).read_text(), page
