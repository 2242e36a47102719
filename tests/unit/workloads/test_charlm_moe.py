"""The mixture-of-experts charlm: routing, remote experts, training; dense checkpoints are unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import Tensor

from park.workloads.models.charlm import (
    META_FILE,
    CharLM,
    CharLMConfig,
    CharVocab,
    ExpertDispatch,
    ExpertMLPs,
    MoEFeedForward,
    expert_state_dict,
    lm_loss,
    load_charlm,
    load_expert,
    save_charlm,
)
from park.workloads.train.params import TrainParams

DENSE = CharLMConfig(vocab_size=11, block_size=16, n_layer=2, n_head=2, d_model=16)
MOE = CharLMConfig(vocab_size=11, block_size=16, n_layer=2, n_head=2, d_model=16, n_expert=4, expert_top_k=2)
VOCAB = CharVocab("abcdefghijk")


def _model(config: CharLMConfig, seed: int = 0) -> CharLM:
    torch.manual_seed(seed)
    return CharLM(config).eval()


def _moe(model: CharLM, layer: int) -> MoEFeedForward:
    moe = model.blocks[layer].moe
    assert isinstance(moe, MoEFeedForward)
    return moe


def test_a_dense_model_keeps_its_state_dict_keys() -> None:
    keys = set(_model(DENSE).state_dict())
    assert {"blocks.0.mlp.0.weight", "blocks.1.mlp.2.bias", "blocks.1.attn.qkv.weight"} <= keys
    assert not any("moe" in key for key in keys)


def test_a_checkpoint_written_before_experts_existed_still_loads(tmp_path: Path) -> None:
    model = _model(DENSE, seed=2)
    save_charlm(tmp_path, model, VOCAB)
    meta = json.loads((tmp_path / META_FILE).read_text())
    for key in ("n_expert", "expert_top_k"):
        del meta["config"][key]
    (tmp_path / META_FILE).write_text(json.dumps(meta))
    loaded = load_charlm(tmp_path)
    assert loaded.config == DENSE and loaded.config.n_expert == 0
    idx = torch.randint(0, 11, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.eval()(idx), model(idx), rtol=0, atol=0)


def test_an_moe_checkpoint_round_trips(tmp_path: Path) -> None:
    model = _model(MOE, seed=3)
    save_charlm(tmp_path, model, VOCAB)
    loaded = load_charlm(tmp_path)
    assert loaded.config == MOE
    idx = torch.randint(0, 11, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.eval()(idx), model(idx), rtol=0, atol=0)


def test_top_k_weights_are_renormalised_softmax_probabilities() -> None:
    moe = _moe(_model(MOE), 0)
    rows = torch.randn(50, MOE.d_model)
    weights, experts = moe.route(rows)
    assert weights.shape == experts.shape == (50, 2)
    torch.testing.assert_close(weights.sum(-1), torch.ones(50))
    probs = torch.softmax(moe.gate(rows), dim=-1)
    top = probs.topk(2, dim=-1)
    assert torch.equal(experts, top.indices)
    torch.testing.assert_close(weights, top.values / top.values.sum(-1, keepdim=True))


def test_the_output_is_the_weighted_sum_of_the_chosen_experts() -> None:
    moe = _moe(_model(MOE), 1)
    rows = torch.randn(7, MOE.d_model)
    with torch.no_grad():
        weights, experts = moe.route(rows)
        expected = torch.zeros_like(rows)
        for i, row in enumerate(rows):
            for weight, expert in zip(weights[i], experts[i], strict=True):
                expected[i] += weight * moe.experts[int(expert)](row)
        torch.testing.assert_close(moe(rows), expected, rtol=0, atol=1e-6)


def _remote(model: CharLM, calls: list[tuple[int, tuple[int, ...]]]) -> ExpertDispatch:
    held = {e: ExpertMLPs.from_state_dict(model.config, e, expert_state_dict(model, e)) for e in range(4)}

    def dispatch(layer: int, inputs: dict[int, Tensor]) -> dict[int, Tensor]:
        calls.append((layer, tuple(sorted(inputs))))
        return {expert: held[expert](layer, rows) for expert, rows in inputs.items()}

    return dispatch


def test_experts_run_elsewhere_give_exactly_the_local_output() -> None:
    model = _model(MOE, seed=4)
    calls: list[tuple[int, tuple[int, ...]]] = []
    idx = torch.randint(0, 11, (3, 12))
    with torch.no_grad():
        local = model(idx)
        remote = model(idx, _remote(model, calls))
    torch.testing.assert_close(remote, local, rtol=0, atol=0)
    assert [layer for layer, _ in calls] == [0, 1]
    assert all(experts and set(experts) <= {0, 1, 2, 3} for _, experts in calls)


def test_one_expert_loads_from_a_model_directory(tmp_path: Path) -> None:
    model = _model(MOE, seed=5)
    save_charlm(tmp_path, model, VOCAB)
    expert = load_expert(tmp_path, 2)
    assert expert.expert == 2 and len(expert.layers) == MOE.n_layer
    for key, value in expert_state_dict(model, 2).items():
        torch.testing.assert_close(expert.state_dict()[key], value, rtol=0, atol=0)
    with pytest.raises(ValueError, match="not in"):
        load_expert(tmp_path, 4)
    with pytest.raises(ValueError, match=r"n_expert=0\)"):
        expert_state_dict(_model(DENSE), 0)


def test_training_reaches_every_expert_even_unpicked_ones() -> None:
    config = CharLMConfig(
        vocab_size=11, block_size=16, n_layer=1, n_head=2, d_model=16, n_expert=8, expert_top_k=1
    )
    model = _model(config).train()
    idx = torch.randint(0, 11, (1, 3))  # 3 tokens pick at most 3 of 8 experts
    lm_loss(model(idx), idx).backward()  # type: ignore[no-untyped-call]
    assert all(param.grad is not None for param in model.parameters())
    gate_grad = _moe(model, 0).gate.weight.grad
    assert gate_grad is not None and gate_grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"n_expert": -1}, "n_expert"),
        ({"n_expert": 2, "expert_top_k": 3}, "expert_top_k"),
        ({"n_expert": 2, "expert_top_k": 0}, "expert_top_k"),
    ],
)
def test_invalid_expert_settings_say_why(fields: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CharLMConfig(vocab_size=5, **fields)


def test_train_params_pass_the_expert_settings_through() -> None:
    config = TrainParams(n_expert=4, expert_top_k=1).charlm_config(vocab_size=7)
    assert (config.n_expert, config.expert_top_k) == (4, 1)
    with pytest.raises(ValueError, match="expert_top_k"):
        TrainParams(n_expert=2, expert_top_k=3)
