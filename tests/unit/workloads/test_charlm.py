"""The charlm model and its checkpoint format (pure PyTorch, no Ray)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from park.workloads.models.charlm import (
    FORMAT,
    CharLM,
    CharLMConfig,
    CharVocab,
    CheckpointFormatError,
    lm_loss,
    load_charlm,
    save_charlm,
)

CONFIG = CharLMConfig(vocab_size=11, block_size=16, n_layer=2, n_head=2, d_model=16)


def _model(seed: int = 0) -> CharLM:
    torch.manual_seed(seed)
    return CharLM(CONFIG).eval()


def test_logits_have_one_distribution_per_position() -> None:
    idx = torch.randint(0, CONFIG.vocab_size, (3, 10))
    assert _model()(idx).shape == (3, 10, CONFIG.vocab_size)


def test_future_tokens_do_not_change_past_logits() -> None:
    model = _model()
    idx = torch.randint(0, CONFIG.vocab_size, (2, CONFIG.block_size))
    changed = idx.clone()
    changed[:, 9:] = (changed[:, 9:] + 1) % CONFIG.vocab_size
    with torch.no_grad():
        before, after = model(idx), model(changed)
    torch.testing.assert_close(before[:, :9], after[:, :9])
    assert not torch.allclose(before[:, 9:], after[:, 9:])


def test_sequences_longer_than_the_block_are_refused() -> None:
    with pytest.raises(ValueError, match="block_size"):
        _model()(torch.zeros(1, CONFIG.block_size + 1, dtype=torch.long))


def test_an_untrained_model_predicts_about_uniformly() -> None:
    idx = torch.randint(0, CONFIG.vocab_size, (4, CONFIG.block_size))
    loss = lm_loss(_model()(idx), idx)
    assert abs(loss.item() - torch.log(torch.tensor(float(CONFIG.vocab_size))).item()) < 0.2


@pytest.mark.parametrize(
    "bad",
    [{"d_model": 10, "n_head": 4}, {"n_layer": 0}, {"dropout": 1.0}],
)
def test_invalid_configs_say_why(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        CharLMConfig(**{"vocab_size": 5, **bad})  # type: ignore[arg-type]


def test_vocab_round_trips_text_and_refuses_or_drops_unknown_characters() -> None:
    vocab = CharVocab.from_text("hello world")
    assert vocab.chars == " dehlorw"
    assert vocab.decode(vocab.encode("low door")) == "low door"
    with pytest.raises(ValueError, match="'z'"):
        vocab.encode("zoo")
    assert vocab.decode(vocab.encode("zoo", strict=False)) == "oo"


def test_checkpoint_round_trip_restores_weights_config_and_vocab(tmp_path: Path) -> None:
    model, vocab = _model(seed=3), CharVocab("abcdefghijk")
    save_charlm(tmp_path, model, vocab, step=7, loss=1.5)
    loaded = load_charlm(tmp_path)
    assert loaded.config == CONFIG
    assert loaded.vocab == vocab
    assert (loaded.meta["step"], loaded.meta["format"]) == (7, FORMAT)
    idx = torch.randint(0, CONFIG.vocab_size, (2, 8))
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.eval()(idx), model(idx), rtol=0, atol=0)


def test_a_vocab_that_does_not_fit_the_model_is_not_saved(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="vocabulary"):
        save_charlm(tmp_path, _model(), CharVocab("abc"))


def test_a_directory_in_another_format_is_refused(tmp_path: Path) -> None:
    (tmp_path / "charlm.json").write_text(json.dumps({"format": "something/else"}))
    with pytest.raises(CheckpointFormatError, match="format"):
        load_charlm(tmp_path)
    with pytest.raises(CheckpointFormatError, match="no readable"):
        load_charlm(tmp_path / "missing")
