"""Model-level invariants: padding, routers, ratio loss, gradients, extraction."""

import pytest
import torch

from ldarnet import PAD_ID, LDARNet, LDARNetConfig, batch_encode
from ldarnet.chunking import Router, chunk, dechunk, ratio_loss

TWO_STAGE = dict(arch_layout=["m1t1", ["m1", ["M1"], "m1"], "m1"], d_model=[32, 48, 64], d_intermediate=[0, 0, 128],
                 num_heads=2, rotary_emb_dim=8, window_size=[7, 7, -1], target_ratio=[2, 2])


def _model(seed=0, **overrides):
    torch.manual_seed(seed)
    model = LDARNet(LDARNetConfig.preset("ldarnet-tiny", **overrides)).eval()
    # Fresh models put few boundaries; spread the embeddings so the router makes real decisions.
    with torch.no_grad():
        model.embedding.weight.normal_(std=1.0)
    return model


def _real_like(n, length, seed):
    g = torch.Generator().manual_seed(seed)
    return ["".join("ACGT"[i] for i in torch.randint(0, 4, (length - 7 * k,), generator=g)) for k in range(n)]


@pytest.mark.parametrize("overrides", [{}, TWO_STAGE, dict(fusion="sum")], ids=["one-stage", "two-stage", "sum-fusion"])
def test_extra_padding_changes_no_real_output(overrides):
    model = _model(**overrides)
    seqs = _real_like(3, 90, seed=1)
    ids, mask = batch_encode(seqs)
    with torch.no_grad():
        batched = model(ids, mask)
        for k, seq in enumerate(seqs):
            alone_ids, alone_mask = batch_encode([seq])
            # the same sequence with 37 extra pads
            padded_ids = torch.cat([alone_ids, torch.full((1, 37), PAD_ID)], 1)
            padded_mask = torch.cat([alone_mask, torch.zeros(1, 37, dtype=torch.long)], 1)
            for other in (model(alone_ids, alone_mask), model(padded_ids, padded_mask)):
                n = len(seq)
                torch.testing.assert_close(other.logits[0, :n], batched.logits[k, :n], atol=2e-5, rtol=1e-4)
                for stage_b, stage_o in zip(batched.boundaries, other.boundaries):
                    m = int(stage_o.lengths[0]) if stage_o is not other.boundaries[0] else n
                    assert int(stage_b.lengths[k]) == int(stage_o.lengths[0])
                    torch.testing.assert_close(stage_o.boundary_prob[0, :m], stage_b.boundary_prob[k, :m], atol=1e-5, rtol=1e-4)
    # pads are never boundaries, at every stage
    for stage in batched.boundaries:
        assert stage.boundary_mask.dtype == torch.bool and stage.boundary_prob.dtype == torch.float32
    assert not batched.boundaries[0].boundary_mask[mask == 0].any()
    assert (batched.boundaries[0].boundary_prob[mask == 0] == 0).all()


def test_two_stage_layout_reports_both_stages():
    model = _model(**TWO_STAGE)
    ids, mask = batch_encode(_real_like(2, 60, seed=2))
    out = model(ids, mask)
    assert len(out.boundaries) == 2
    first, second = out.boundaries
    assert second.boundary_prob.shape[1] == int(first.lengths.max())
    assert torch.equal(second.lengths, second.boundary_mask.sum(1))
    assert (second.lengths <= first.lengths).all() and second.boundary_mask[:, 0].all()


def test_fixed_router_puts_boundaries_every_n():
    model = _model(router="fixed", target_ratio=4)
    ids, mask = batch_encode(["ACGT" * 5 + "A", "GATTACA"])
    stage = model(ids, mask).boundaries[0]
    assert stage.boundary_mask[0].nonzero().squeeze(1).tolist() == [0, 4, 8, 12, 16, 20]
    assert stage.boundary_mask[1].nonzero().squeeze(1).tolist() == [0, 4]
    assert stage.lengths.tolist() == [6, 2]
    assert torch.equal(stage.boundary_prob, stage.boundary_mask.float())


def test_fixed_router_ema_is_plain_upsampling():
    router = Router(8, "fixed", 4)
    mask = torch.ones(2, 23, dtype=torch.bool)
    mask[1, 15:] = False
    p, boundary = router(torch.randn(2, 23, 8), mask)
    chunks, order, chunk_mask = chunk(torch.randn(2, 23, 8), boundary)
    z = torch.randn_like(chunks) * chunk_mask.unsqueeze(-1)
    up = dechunk(z, torch.gather(p, 1, order), chunk_mask, boundary)
    expected = torch.gather(z, 1, ((boundary.long().cumsum(1) - 1).clamp(min=0)).unsqueeze(-1).expand(-1, -1, 8))
    # p = 1 is clamped to 1 - 1e-4, so the EMA keeps 1e-4 of the previous chunk and no more
    torch.testing.assert_close(up[mask], expected[mask], atol=5e-4 * z.abs().max().item(), rtol=0)
    assert not torch.allclose(up[0, 4], z[0, 0])  # each span takes its own chunk, not its neighbour's


def test_none_router_keeps_every_position():
    model = _model(router="none")
    ids, mask = batch_encode(["ACGTTGCA", "ACG"])
    out = model(ids, mask)
    assert torch.equal(out.boundaries[0].boundary_mask, mask.bool())
    assert out.boundaries[0].lengths.tolist() == [8, 3]
    assert out.ratio_loss.item() == 0.0


def test_ratio_loss_is_smallest_at_target_rate():
    n, length = 4, 400
    mask = torch.ones(1, length, dtype=torch.bool)
    values = {}
    for k in range(1, 20):
        frac = k / 20
        boundary = torch.zeros(1, length, dtype=torch.bool)
        boundary[0, : int(frac * length)] = True
        values[frac] = ratio_loss(torch.full((1, length), frac), boundary, mask, n).item()
    best = min(values, key=values.get)
    assert best == pytest.approx(1 / n)
    assert values[best] == pytest.approx(1.0)
    assert all(v >= 1.0 - 1e-6 for v in values.values())


def test_ratio_loss_ignores_pads():
    mask = torch.zeros(1, 8, dtype=torch.bool)
    mask[0, :4] = True
    boundary = torch.tensor([[True, False, False, False, True, True, True, True]]) & mask
    p = torch.tensor([[1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]])
    assert ratio_loss(p, boundary, mask, 4).item() == pytest.approx(1.0)  # F = G = 1/4 over the 4 real positions


def test_identity_router_cosines_agree_and_diverge_once_trained():
    torch.manual_seed(0)
    router = Router(16, "learned", 4)
    h = torch.randn(2, 30, 16)
    mask = torch.ones(2, 30, dtype=torch.bool)
    p, _ = router(h, mask)
    cos = torch.nn.functional.cosine_similarity(h[:, :-1], h[:, 1:], dim=-1)
    torch.testing.assert_close(p[:, 1:], (1 - cos) / 2)  # both orientations give the same cosine
    assert (p[:, 0] == 1).all()
    with torch.no_grad():
        router.q_proj.weight.add_(0.3 * torch.randn(16, 16))
    p2, _ = router(h, mask)
    assert not torch.allclose(p2[:, 1:], (1 - cos) / 2, atol=1e-3)


def test_gradient_reaches_router_and_residual():
    model = _model()
    model.train()
    ids, mask = batch_encode(_real_like(2, 64, seed=3))
    labels = ids.clone()
    labels[:, ::3] = -100
    out = model(ids, mask, labels=labels)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    for param in (model.stage.router.q_proj.weight, model.stage.router.k_proj.weight, model.stage.residual_proj.weight):
        assert param.grad is not None and param.grad.abs().sum() > 0


def test_extract_boundaries_equals_forward_boundaries():
    model = _model(**TWO_STAGE)
    ids, mask = batch_encode(_real_like(3, 70, seed=4))
    with torch.no_grad():
        full = model(ids, mask).boundaries
        fast = model.extract_boundaries(ids, mask)
    assert len(full) == len(fast) == 2
    for a, b in zip(full, fast):
        assert torch.equal(a.boundary_mask, b.boundary_mask) and torch.equal(a.lengths, b.lengths)
        torch.testing.assert_close(a.boundary_prob, b.boundary_prob)


def test_bad_masks_are_refused():
    model = _model()
    ids = torch.zeros(1, 5, dtype=torch.long)
    with pytest.raises(ValueError, match="right-padded"):
        model(ids, torch.tensor([[0, 1, 1, 1, 1]]))
    with pytest.raises(ValueError, match="shape"):
        model(ids, torch.ones(1, 4))
    with pytest.raises(ValueError, match=r"\(batch, length\)"):
        model(torch.zeros(5, dtype=torch.long))


def test_parameter_levels_and_no_decay_tags():
    model = _model(**TWO_STAGE)
    levels = model.parameter_levels()
    assert levels["embedding.weight"] == 0 and levels["lm_head.weight"] == 0
    assert levels["stage.router.q_proj.weight"] == 0
    assert levels["stage.inner.router.q_proj.weight"] == 1
    assert any(v == 2 for k, v in levels.items() if "backbone" in k)
    tagged = {n for n, p in model.named_parameters() if getattr(p, "_no_weight_decay", False)}
    assert tagged and all(n.rsplit(".", 1)[-1] in {"A_log", "D", "dt_bias"} for n in tagged)
