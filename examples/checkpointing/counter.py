"""A user-written entrypoint that honours Park's checkpoint and preemption contract.

It "trains" by counting steps; every --every steps it writes a checkpoint (the step and a running sum)
and reports progress. On preemption (SIGTERM from the platform) it checkpoints at once and exits; the
next attempt resumes from PARK_RESUME_FROM, so the final sum equals an uninterrupted run's.
Checkpoints go through `park.workloads.artifacts`, so the same code writes to a local directory under
`park up` and to object storage (s3://) on Kubernetes.
"""

import argparse
import time

from park.workloads import artifacts
from park.workloads.contract import JobContext, Preemption


def save(checkpoint_dir: str, step: int, total: int) -> str:
    checkpoint = artifacts.join(checkpoint_dir, f"step-{step:06d}")
    artifacts.write_json(artifacts.join(checkpoint, "state.json"), {"step": step, "total": total})
    return checkpoint


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--step-seconds", type=float, default=0.2)
    args = parser.parse_args()

    ctx = JobContext.from_env()
    preemption = Preemption(ctx).install()
    step, total = 0, 0
    if ctx.resume_from:
        state = artifacts.read_json(artifacts.join(ctx.resume_from, "state.json"))
        if state is None:
            raise SystemExit(f"no checkpoint at {ctx.resume_from}")
        step, total = state["step"], state["total"]
        print(f"resuming at step {step} from {ctx.resume_from}", flush=True)
    while step < args.steps:
        if preemption.requested():
            checkpoint = save(ctx.checkpoint_dir, step, total)
            ctx.report(step=step, total=total, checkpoint=checkpoint, preempted=True)
            print(f"preempted at step {step}; checkpoint {checkpoint}", flush=True)
            return
        step += 1
        total += step
        time.sleep(args.step_seconds)
        if step % args.every == 0:
            ctx.report(step=step, total=total, checkpoint=save(ctx.checkpoint_dir, step, total))
    ctx.report(step=step, total=total, done=True, checkpoint=save(ctx.checkpoint_dir, step, total))
    print(f"done: step {step}, total {total}", flush=True)


if __name__ == "__main__":
    main()
