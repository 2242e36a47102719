"""The three embedders are the real pretrained networks, loaded offline from their PyPI packages.

(No network: the unit-test fixture makes any socket connect fail, so a download attempt would fail.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sklearn
import torch
from PIL import Image

from park.workloads.data.models import AudioModel, Crepe, ImageModel, TextModel, crepe_pitch_hz
from park.workloads.data.normalize import square_image
from park.workloads.data.schema import MODELS

CPU = torch.device("cpu")
# scikit-learn (a dependency of sentence-transformers) ships two real photographs.
PHOTOS = Path(sklearn.__file__).parent / "datasets" / "images"
PALACE, DAISY = 698, 985  # ImageNet-1k class ids


def _read_only(array: np.ndarray) -> np.ndarray:
    """Ray hands batches as read-only views of the object store: models must cope."""
    array.setflags(write=False)
    return array


def test_crepe_reads_the_pitch_of_tones() -> None:
    """The Keras weights are mapped right: CREPE names the pitch of sine tones within 1%."""
    model = Crepe.pretrained()
    t = np.arange(1024) / 16000
    hz = np.array([110.0, 261.6, 440.0, 880.0, 1500.0])
    frames = torch.from_numpy(np.sin(2 * np.pi * hz[:, None] * t).astype(np.float32))
    frames = (frames - frames.mean(dim=1, keepdim=True)) / frames.std(dim=1, keepdim=True)
    with torch.inference_mode():
        found = crepe_pitch_hz(model(frames)).numpy()
    assert np.allclose(found, hz, rtol=0.01)


def test_audio_embeddings_ignore_padding_and_tell_pitches_apart() -> None:
    model = AudioModel(CPU)
    t = np.arange(16000) / 16000
    windows = np.stack([np.sin(2 * np.pi * f * t) for f in (220.0, 440.0, 440.0)]).astype(np.float32)
    windows[2, 8000:] = 0.0  # the last chunk of a clip: half sound, half padding
    out = model.embed(_read_only(windows), np.array([16000, 16000, 8000]))
    assert out.shape == (3, MODELS["audio"].dim)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert out[1] @ out[2] > 0.99 > out[0] @ out[1]


def test_image_model_recognizes_photographs() -> None:
    model = ImageModel(CPU)
    photos = np.stack(
        [
            square_image(np.asarray(Image.open(PHOTOS / n).convert("RGB")), 224)
            for n in ("china.jpg", "flower.jpg")
        ]
    )
    with torch.inference_mode():
        x = (torch.from_numpy(photos).permute(0, 3, 1, 2).float() - 127.0) / 128.0
        assert model.network(x).argmax(dim=1).tolist() == [PALACE, DAISY]
    out = model.embed(_read_only(photos))
    assert out.shape == (2, MODELS["image"].dim)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


@pytest.mark.timeout(120)
def test_text_model_places_paraphrases_close() -> None:
    model = TextModel(CPU)
    out = model.embed(["A cat sits on the mat.", "A kitten is sitting on a rug.", "Tax revenue rose 4%."])
    assert out.shape == (3, MODELS["text"].dim)
    assert out[0] @ out[1] > 0.5 > out[0] @ out[2]
