"""DNAChunker's MLM options (mask protection, masked residual gating) and fp32 router/dechunk math under bf16."""

import pytest
import torch
import torch.nn as nn

import ldarnet.chunking as chunking
from ldarnet import LDARNet, LDARNetConfig
from ldarnet.chunking import protect_masked, ratio_loss
from ldarnet.training.reliance import stage_modules
from ldarnet.vocab import MASK_ID, PAD_ID, encode


def tiny(**fields) -> LDARNet:
    torch.manual_seed(0)
    return LDARNet(LDARNetConfig.preset("ldarnet-tiny", **fields)).eval()


def masked_batch() -> torch.Tensor:
    ids = torch.stack([encode("ACGTTGCAACGTAGCTAGGATCCATGCATTAG"), encode("TTTTAAAACCCCGGGGACGTACGTACGTACGT")])
    ids[0, [0, 5, 6, 17, 31]] = MASK_ID  # first, two adjacent, one inside, the last position
    ids[1, [9, 20]] = MASK_ID
    ids[1, 28:] = PAD_ID  # the second row is shorter: its last valid position is 27
    return ids


def test_config_fields_default_off_and_round_trip():
    cfg = LDARNetConfig.preset("ldarnet-tiny")
    assert cfg.mask_protection is False and cfg.masked_residual_gating is False and cfg.router_centering is False
    on = LDARNetConfig.preset("ldarnet-tiny", mask_protection=True, masked_residual_gating=True, router_centering=True)
    assert LDARNetConfig.from_json(on.to_json()) == on
    with pytest.raises(ValueError, match="mask_protection"):
        LDARNetConfig.preset("ldarnet-tiny", mask_protection="yes")
    with pytest.raises(ValueError, match="router_centering"):
        LDARNetConfig.preset("ldarnet-tiny", router_centering=1)
    moving = LDARNetConfig.preset("ldarnet-tiny", router_centering=True, router_centering_span=512)
    assert LDARNetConfig.from_json(moving.to_json()) == moving and cfg.router_centering_span == 0
    with pytest.raises(ValueError, match="router_centering_span"):
        LDARNetConfig.preset("ldarnet-tiny", router_centering_span=-1)


def test_router_centering_reaches_the_router_and_changes_only_the_router():
    plain, centred = tiny(), tiny(router_centering=True)
    assert centred.stage.router.center and not plain.stage.router.center
    centred.load_state_dict(plain.state_dict())  # no new parameters: the same weights load either way
    ids = masked_batch()
    with torch.no_grad():
        h = torch.randn(2, 32, plain.config.d_model[0]) + 5.0  # a large shared offset on every channel
        mask = ids != PAD_ID
        p_plain, _ = plain.stage.router(h, mask)
        p_centred, _ = centred.stage.router(h, mask)
        p_shifted, _ = centred.stage.router(h + 3.0 * torch.randn(1, 1, h.shape[-1]), mask)
    assert p_plain[:, 1:][mask[:, 1:]].max() < 0.1  # the shared offset saturates the plain cosine
    assert torch.allclose(p_centred, p_shifted, atol=1e-5)  # any further shared direction changes nothing
    assert p_centred[:, 1:][mask[:, 1:]].mean() > 0.3  # independent noise: cosines near 0, p near 0.5


def test_protect_masked_by_hand():
    p = torch.tensor([[1.0, 0.2, 0.9, 0.1, 0.3, 0.4]])
    boundary = p > 0.5
    masked = torch.tensor([[False, False, False, True, False, True]])
    mask = torch.ones_like(masked)
    p2, b2, forced = protect_masked(p, boundary, masked, mask)
    assert forced.tolist() == [[False, False, False, True, True, True]]  # 3, its successor 4, and 5
    assert b2.tolist() == [[True, False, True, True, True, True]]
    assert p2[0].tolist() == pytest.approx([1.0, 0.2, 0.9, 1.0, 1.0, 1.0])
    # the ratio loss over the free positions only: F = 2/3 (0 and 2 of 0, 1, 2), G = (1 + .2 + .9) / 3
    free = mask & ~forced
    f, g, n = 2 / 3, 2.1 / 3, 4.0
    assert float(ratio_loss(p2, b2, free, n)) == pytest.approx(n / (n - 1) * ((n - 1) * f * g + (1 - f) * (1 - g)))


def test_mask_protection_puts_a_boundary_at_every_mask_and_its_successor():
    ids = masked_batch()
    model = tiny(mask_protection=True)
    with torch.no_grad():
        out = model(ids)
        extracted = model.extract_boundaries(ids)
    valid = ids != PAD_ID
    masked = ids == MASK_ID
    after = torch.zeros_like(masked)
    after[:, 1:] = masked[:, :-1]
    for b in (out.boundaries[0].boundary_mask, extracted[0].boundary_mask):
        assert b[masked].all() and b[after & valid].all()
        assert not b[~valid].any()  # a mask at the last valid position forces nothing into the padding
    # without the option the same untrained router leaves some of them unmarked (the test could fail)
    with torch.no_grad():
        plain = tiny()(ids).boundaries[0].boundary_mask
    assert not plain[(masked | after) & valid].all()


def test_masked_residual_gating_cuts_the_skip_at_masked_positions(monkeypatch):
    ids = masked_batch()
    masked = ids == MASK_ID
    for gating in (True, False):
        model = tiny(masked_residual_gating=gating)
        stage = stage_modules(model)[0]
        seen = []
        # what the decoder receives = dechunked chunk path * STE + skip (recorded before the decoder mixes)
        stage.decoder.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
        identity = nn.Module()
        identity.forward = lambda h, mask, lengths: h
        with torch.no_grad():
            before_logits = model(ids).logits
            with torch.no_grad():
                stage.residual_proj.weight.normal_(std=1.0)
                stage.residual_proj.bias.normal_(std=1.0)
            after_logits = model(ids).logits
        moved = (seen[1] - seen[0]).abs().amax(-1)
        assert (moved[~masked & (ids != PAD_ID)] > 1e-3).all()  # unmasked positions do use the skip
        if gating:
            assert torch.equal(seen[0][masked], seen[1][masked])  # masked inputs to the decoder untouched
        else:
            assert (moved[masked] > 1e-3).all()
        # with a decoder that does not mix positions, masked logits depend on the chunk path alone
        monkeypatch.setattr(stage, "decoder", identity)
        with torch.no_grad():
            a = model(ids).logits
            stage.residual_proj.weight.normal_(std=1.0)
            b = model(ids).logits
        if gating:
            assert torch.equal(a[masked], b[masked])
        else:
            assert not torch.allclose(a[masked], b[masked])
        monkeypatch.undo()
        assert not torch.equal(before_logits, after_logits)


def test_bf16_step_keeps_router_ema_cumsum_and_ratio_loss_in_fp32(monkeypatch):
    ids = masked_batch()
    labels = torch.full_like(ids, -100)
    labels[ids == MASK_ID] = 0
    model = tiny(mask_protection=True)
    model.train()
    dtypes = {"ema_in": [], "ema_out": [], "scan_in": [], "ratio": [], "q": [], "k": []}
    real_ema, real_scan = chunking.ema, chunking.linear_scan

    def ema(z, gate, chunk_size=64):
        dtypes["ema_in"] += [z.dtype, gate.dtype]
        out = real_ema(z, gate, chunk_size)
        dtypes["ema_out"].append(out.dtype)
        return out

    def scan(log_a, u, chunk_size=64):
        # the blocked scan does the cumsum of the log-gates and the exp
        dtypes["scan_in"] += [log_a.dtype, u.dtype, torch.is_autocast_enabled("cpu")]
        return real_scan(log_a, u, chunk_size)

    real_ratio = chunking.ratio_loss
    monkeypatch.setattr(chunking, "ema", ema)
    monkeypatch.setattr(chunking, "linear_scan", scan)
    import ldarnet.model as model_module
    monkeypatch.setattr(model_module, "ratio_loss", lambda *a: dtypes["ratio"].append(real_ratio(*a).dtype) or real_ratio(*a))
    router = stage_modules(model)[0].router
    router.q_proj.register_forward_hook(lambda m, i, o: dtypes["q"].append(o.dtype))
    router.k_proj.register_forward_hook(lambda m, i, o: dtypes["k"].append(o.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(ids, labels=labels)
    out.loss.backward()
    assert out.logits.dtype == torch.bfloat16  # autocast really was on for the mixers
    assert set(dtypes["ema_in"]) == {torch.float32} and set(dtypes["ema_out"]) == {torch.float32}
    assert dtypes["scan_in"] and set(dtypes["scan_in"]) <= {torch.float32, False}
    assert dtypes["ratio"] == [torch.float32] and out.ratio_loss.dtype == torch.float32
    assert dtypes["q"] == [torch.float32] and dtypes["k"] == [torch.float32]
    assert out.boundaries[0].boundary_prob.dtype == torch.float32
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


def test_stride_warmup_and_router_learning_rate():
    from ldarnet.training import build_param_groups
    from ldarnet.training.loop import _split_router_groups

    ids = masked_batch()
    model = tiny(mask_protection=True)
    stage = stage_modules(model)[0]
    stage.stride_warmup = True
    with torch.no_grad():
        b = model(ids).boundaries[0].boundary_mask
    valid, masked = ids != PAD_ID, ids == MASK_ID
    after = torch.zeros_like(masked)
    after[:, 1:] = masked[:, :-1]
    stride = (torch.arange(ids.shape[1]) % 4 == 0)[None, :] & valid
    assert torch.equal(b, stride | ((masked | after) & valid))  # the stride, plus the protected positions
    groups = _split_router_groups(build_param_groups(model, lr=1e-3), 0.1)
    router = [g for g in groups if any("router" in n for n in g["names"])]
    assert len(router) == 1 and all("router" in n for n in router[0]["names"])
    assert router[0]["lr_multiplier"] == pytest.approx(0.1 * 4.0)  # 0.1 x the outer level's sqrt(4) * 64 / 32
    assert router[0]["lr"] == pytest.approx(1e-3 * 0.4)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_router_isolation_leaves_the_router_only_the_ratio_loss_gradient():
    ids = masked_batch()
    labels = torch.full_like(ids, -100)
    labels[ids == MASK_ID] = encode("A")[0]
    model = tiny(router_centering=True).train()
    stage = stage_modules(model)[0]
    stage.isolate_router = True
    out = model(ids, labels=labels)
    q = stage.router.q_proj.weight
    (g_total,) = torch.autograd.grad(out.loss, q, retain_graph=True)
    (g_ratio,) = torch.autograd.grad(model.config.ratio_loss_weight * out.ratio_loss, q, retain_graph=True)
    (g_mlm,) = torch.autograd.grad(out.mlm_loss, q, allow_unused=True, retain_graph=True)
    assert torch.allclose(g_total, g_ratio, rtol=1e-5, atol=1e-9) and g_ratio.abs().sum() > 0
    assert g_mlm is None or g_mlm.abs().sum() == 0
    stage.isolate_router = False  # the paper's coupling: the MLM loss reaches the router through p
    out = model(ids, labels=labels)
    (g_mlm,) = torch.autograd.grad(out.mlm_loss, q)
    assert g_mlm.abs().sum() > 0


def test_router_params_isolation_keeps_mlm_off_the_projections_but_not_off_the_encoder():
    ids = masked_batch()
    labels = torch.full_like(ids, -100)
    labels[ids == MASK_ID] = encode("A")[0]
    model = tiny(router_centering=True, masked_residual_gating=True).train()
    stage = stage_modules(model)[0]
    q = stage.router.q_proj.weight
    enc = next(p for n, p in stage.encoder.named_parameters() if p.dim() == 2)

    def grads(**switches):
        stage.isolate_router, stage.isolate_router_params = switches.get("all", False), switches.get("params", False)
        out = model(ids, labels=labels)
        (g_q_mlm,) = torch.autograd.grad(out.mlm_loss, q, allow_unused=True, retain_graph=True)
        (g_q,) = torch.autograd.grad(out.loss, q, retain_graph=True)
        (g_q_ratio,) = torch.autograd.grad(model.config.ratio_loss_weight * out.ratio_loss, q, retain_graph=True)
        (g_enc_mlm,) = torch.autograd.grad(out.mlm_loss, enc)
        return g_q_mlm, g_q, g_q_ratio, g_enc_mlm

    g_q_mlm, g_q, g_q_ratio, g_enc_params = grads(params=True)
    assert g_q_mlm is None or g_q_mlm.abs().sum() == 0  # the projections hear only the ratio loss
    assert torch.allclose(g_q, g_q_ratio, rtol=1e-5, atol=1e-9) and g_q_ratio.abs().sum() > 0
    *_, g_enc_all = grads(all=True)  # p detached for everything: the encoder loses the MLM path through p
    *_, g_enc_coupled = grads()  # the paper's coupling
    assert torch.allclose(g_enc_params, g_enc_coupled, rtol=1e-5, atol=1e-8)  # the encoder still hears it
    assert not torch.allclose(g_enc_params, g_enc_all, rtol=1e-3, atol=1e-8)
    stage.isolate_router_params = False
