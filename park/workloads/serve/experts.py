"""Mixture-of-experts serving: one `expert-<i>` deployment per expert index, and the dispatcher the MoE
model deployment's engine calls per layer.

An expert replica holds only its expert's MLP of every layer (`load_expert` memory-maps the checkpoint
and copies just those weights), so experts scale and fail independently of the attention layers. The
dispatcher runs on the engine thread, never on an event loop, which is what lets it block on
`.result()`: it sends a layer's rows to every picked expert before it waits for any of them, so the
experts of one layer compute in parallel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from park.workloads.models.charlm import load_expert
from park.workloads.serve.args import ServeArgs


class ExpertServer:
    def __init__(self, args: ServeArgs, expert: int) -> None:
        torch.set_num_threads(args.torch_threads)
        self._expert = expert
        self._device = args.torch_device()
        self._module = load_expert(args.model_dir, expert, map_location=self._device)
        self._calls = 0
        self._rows = 0

    def __call__(self, layer: int, rows: np.ndarray) -> np.ndarray:
        """This expert's MLP of `layer` on `rows` (n_rows, d_model), float32."""
        self._calls += 1
        self._rows += len(rows)
        with torch.inference_mode():
            # Ray hands numpy arguments over read-only and zero-copy; torch wants a writable array.
            hidden = torch.from_numpy(np.array(rows, dtype=np.float32)).to(self._device)
            output: Tensor = self._module(layer, hidden)
        return output.cpu().numpy()

    def stats(self) -> dict[str, int]:
        return {"expert": self._expert, "calls": self._calls, "rows": self._rows}


class RemoteExperts:
    """An `ExpertDispatch` over the `expert-<i>` deployment handles (index i holds expert i)."""

    def __init__(self, handles: Sequence[Any], *, timeout_s: float) -> None:
        self._handles = list(handles)
        self._timeout_s = timeout_s

    def __call__(self, layer: int, inputs: dict[int, Tensor]) -> dict[int, Tensor]:
        pending = {
            expert: self._handles[expert].remote(layer, rows.detach().to("cpu", torch.float32).numpy())
            for expert, rows in inputs.items()
        }
        return {
            expert: torch.from_numpy(np.array(response.result(timeout_s=self._timeout_s)))
            for expert, response in pending.items()
        }
