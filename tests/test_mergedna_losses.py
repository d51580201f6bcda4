"""MergeDNA's objective: targets, compression sampling, the frozen tokenizer in the latent MTR, AMTM masks."""

import pytest
import torch

from ldarnet.mergedna import MergeDNA, MergeDNAConfig
from ldarnet.mergedna.losses import amtm_base_mask, base_targets, latent_count, sample_keep
from ldarnet.vocab import MASK_ID, N_ID, PAD_ID


def _model(seed=0):
    torch.manual_seed(seed)
    return MergeDNA(MergeDNAConfig.preset("mergedna-tiny"))


def test_targets_recover_the_unmasked_bases_and_skip_n_and_padding():
    ids = torch.tensor([[0, MASK_ID, 2, N_ID, 3, PAD_ID]])
    labels = torch.tensor([[-100, 1, -100, -100, -100, -100]])
    mask = ids != PAD_ID
    original, targets = base_targets(ids, mask, labels)
    assert original[0, :5].tolist() == [0, 1, 2, N_ID, 3]
    assert targets.tolist() == [[0, 1, 2, -100, 3, -100]]


def test_sampled_token_fraction_stays_in_the_paper_range():
    cfg = MergeDNAConfig.preset("mergedna-tiny")
    g = torch.Generator().manual_seed(0)
    draws = torch.tensor([sample_keep(cfg, g) for _ in range(2000)], dtype=torch.float64)
    assert float(draws.min()) >= 0.4 and float(draws.max()) <= 0.6
    assert abs(float(draws.mean()) - 0.5) < 0.01 and float(draws.std()) > 0.03


def test_total_is_mtr_plus_quarter_latent_mtr_plus_amtm():
    out = _model()(torch.randint(0, 4, (2, 48)), objective=True, keep=0.5)
    expected = out.mtr_loss + 0.25 * out.latent_mtr_loss + out.mlm_loss
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_latent_mtr_leaves_the_tokenizer_frozen_while_mtr_and_amtm_train_it():
    model = _model()
    out = model(torch.randint(0, 4, (2, 48)), objective=True, keep=0.5)
    tokenizer = [p for n, p in model.named_parameters() if n.startswith(("embedding", "local_blocks", "grouping", "local_norm"))]
    latent_grads = torch.autograd.grad(out.latent_mtr_loss, tokenizer, retain_graph=True, allow_unused=True)
    assert all(g is None or float(g.abs().sum()) == 0 for g in latent_grads)
    for loss in (out.mtr_loss, out.mlm_loss):
        grads = torch.autograd.grad(loss, tokenizer, retain_graph=True, allow_unused=True)
        assert any(g is not None and float(g.abs().sum()) > 0 for g in grads)
    grouping = torch.autograd.grad(out.mtr_loss, list(model.grouping.parameters()), retain_graph=True)
    assert all(float(g.abs().sum()) > 0 for g in grouping), "the grouping embedding must learn from MTR"


def test_amtm_masks_k_whole_tokens():
    model = _model()
    ids = torch.randint(0, 4, (3, 64))
    ids[2, 40:] = PAD_ID
    mask = ids != PAD_ID
    bases, tokens, token_mask = amtm_base_mask(model, ids, mask, keep=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(token_mask.sum(1), latent_count(tokens.mask, model.config.latent_keep))
    for b in range(3):
        n = int(mask[b].sum())
        assert torch.equal(bases[b, :n], token_mask[b, tokens.source[b, :n]])  # all or none of a token's bases
        assert not bool(bases[b, n:].any())
