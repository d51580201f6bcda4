"""MergeDNA merging: block edges, exact selections, the source map, unmerging, latent groups and AMTM masks."""

import pytest
import torch

from ldarnet.mergedna.merging import (adaptive_mask, global_merge, initial_tokens, local_merge, merge_tokens,
                                      select_merges, token_starts, unmerge)


def _random_tokens(b=3, n=100, d=5, seed=0, pad=True):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, n, d, generator=g)
    mask = torch.ones(b, n, dtype=torch.bool)
    if pad:
        mask[1, 71:] = False
        mask[2, 37:] = False
    return initial_tokens(x * mask[..., None], mask), g


def _merge_layers(tokens, g, rs, block):
    for r in rs:
        scores = torch.rand(tokens.mask.shape[0], max(tokens.mask.shape[1] - 1, 0), generator=g)
        tokens = local_merge(tokens, scores, r, block)
    return tokens


def _check_source_map(tokens):
    for b in range(tokens.mask.shape[0]):
        n_bases, n_tok = int(tokens.base_mask[b].sum()), int(tokens.mask[b].sum())
        src = tokens.source[b, :n_bases]
        assert int(src[0]) == 0 and int(src[-1]) == n_tok - 1
        steps = src[1:] - src[:-1]
        assert bool(((steps == 0) | (steps == 1)).all()), "source map must run through the tokens in order"
        assert torch.equal(torch.bincount(src, minlength=n_tok), tokens.sizes[b, :n_tok])
        assert int(tokens.sizes[b].sum()) == n_bases
        assert torch.equal(tokens.starts[b, :n_tok], torch.cumsum(tokens.sizes[b, :n_tok], 0) - tokens.sizes[b, :n_tok])


@pytest.mark.parametrize("block,rs", [(8, [3, 3]), (4, [3]), (16, [5, 5, 5]), (5, [1, 2, 1])])
def test_merging_never_crosses_a_block_edge_and_source_map_covers_every_base_once_in_order(block, rs):
    tokens, g = _random_tokens()
    tokens = _merge_layers(tokens, g, rs, block)
    _check_source_map(tokens)
    first, last = tokens.starts, tokens.starts + tokens.sizes - 1
    assert bool(((first // block == last // block) | ~tokens.mask).all())


def test_each_full_block_loses_exactly_r_tokens_per_layer():
    tokens, g = _random_tokens(b=2, n=64, pad=False)
    tokens = _merge_layers(tokens, g, [2, 3, 1], 16)
    assert tokens.mask.sum(1).tolist() == [4 * 10, 4 * 10]


def test_hand_built_scores_merge_exactly_the_expected_pairs():
    x = torch.arange(8, dtype=torch.float32).view(1, 8, 1)
    tokens = initial_tokens(x, torch.ones(1, 8, dtype=torch.bool))
    # edges (i | i+1); edge 3|4 crosses the block edge at base 4 and must never merge despite its score
    scores = torch.tensor([[0.9, 0.1, 0.8, 0.99, 0.2, 0.7, 0.6]])
    assert select_merges(scores, tokens, 1, 4).tolist() == [[True, False, False, False, False, True, False]]
    assert select_merges(scores, tokens, 2, 4).tolist() == [[True, False, True, False, False, True, True]]
    merged = local_merge(tokens, scores, 2, 4)
    assert merged.sizes.tolist() == [[2, 2, 1, 3]]
    assert merged.source.tolist() == [[0, 0, 1, 1, 2, 3, 3, 3]]
    assert merged.x[0, :, 0].tolist() == pytest.approx([0.5, 2.5, 4.0, 6.0])
    mask, prob = token_starts(merged)
    assert mask.tolist() == [[True, False, True, False, True, True, False, False]]
    assert prob[0].tolist() == pytest.approx([1.0, 0.1, 0.9, 0.2, 0.01, 0.8, 0.3, 0.4])


def test_keeper_absorbs_merger_by_size_weighted_average():
    x = torch.tensor([[[1.0], [4.0], [10.0]]])
    tokens = initial_tokens(x, torch.ones(1, 3, dtype=torch.bool))
    first = merge_tokens(tokens, torch.tensor([[True, False]]))  # [1,4] -> 2.5 (size 2), [10]
    second = merge_tokens(first, torch.tensor([[True]]))  # size-weighted: (2*2.5 + 10) / 3 = 5
    assert second.x.item() == pytest.approx(5.0)
    assert second.sizes.tolist() == [[3]]


def test_unmerge_after_merge_gives_each_base_its_tokens_mean_and_singletons_their_own_features():
    tokens, g = _random_tokens(d=4)
    x0 = tokens.x.clone()
    merged = _merge_layers(tokens, g, [2, 2, 1], 8)
    back = unmerge(merged.x, merged.source)
    for b in range(x0.shape[0]):
        n = int(merged.base_mask[b].sum())
        src = merged.source[b, :n]
        means = torch.zeros(int(merged.mask[b].sum()), 4).index_add_(0, src, x0[b, :n]) / merged.sizes[b, : src.max() + 1, None]
        assert torch.allclose(back[b, :n], means[src], atol=1e-5)
        single = merged.sizes[b, src] == 1
        assert bool(single.any())
        assert torch.allclose(back[b, :n][single], x0[b, :n][single], atol=1e-6)


def test_soft_merging_passes_gradient_to_scores_without_changing_the_forward_value():
    x = torch.tensor([[[1.0], [3.0], [7.0], [9.0]]])
    tokens = initial_tokens(x, torch.ones(1, 4, dtype=torch.bool))
    scores = torch.tensor([[0.9, 0.1, 0.8]], requires_grad=True)
    merged = local_merge(tokens, scores, 1, 2)
    assert merged.x[0, :, 0].tolist() == pytest.approx([2.0, 8.0])
    (merged.x * torch.tensor([[[1.0], [2.0]]])).sum().backward()
    assert scores.grad is not None and float(scores.grad.abs().sum()) > 0


def test_global_merge_reaches_k_groups_that_partition_the_tokens():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 40, 6, generator=g)
    mask = torch.ones(3, 40, dtype=torch.bool)
    mask[1, 30:] = False
    keep = torch.tensor([10, 5, 40])
    proj = torch.nn.Linear(6, 4)
    xk, mk, group, sizes = global_merge(x, mask, keep, proj)
    assert mk.sum(1).tolist() == [10, 5, 40]
    for b in range(3):
        n = int(mask[b].sum())
        counts = torch.bincount(group[b, :n], minlength=int(mk[b].sum()))
        assert torch.equal(counts, sizes[b, : int(mk[b].sum())])
    # a sequence already at K passes through unchanged
    assert torch.allclose(unmerge(xk, group)[2], x[2], atol=1e-6)


def test_adaptive_mask_picks_exactly_k_tokens_and_prefers_small_groups():
    group = torch.tensor([[0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 0]])  # token 11 is padding
    sizes = torch.tensor([[1, 8, 1, 1]])
    mask = torch.ones(1, 12, dtype=torch.bool)
    mask[0, 11] = False
    gen = torch.Generator().manual_seed(0)
    hits = torch.zeros(12)
    for _ in range(400):
        chosen = adaptive_mask(group, sizes, mask, torch.tensor([3]), gen)
        assert int(chosen.sum()) == 3 and not bool(chosen[0, 11])
        hits += chosen[0].float()
    singletons, in_big_group = hits[[0, 9, 10]].mean(), hits[1:9].mean()
    assert singletons > 5 * in_big_group


def test_masked_tokens_expand_to_exactly_their_bases():
    tokens, g = _random_tokens()
    merged = _merge_layers(tokens, g, [3, 2], 8)
    token_mask = torch.rand(merged.mask.shape, generator=g) < 0.3
    token_mask &= merged.mask
    bases = unmerge(token_mask.unsqueeze(-1).long(), merged.source).squeeze(-1).bool() & merged.base_mask
    for b in range(bases.shape[0]):
        n = int(merged.base_mask[b].sum())
        expected = token_mask[b, merged.source[b, :n]]
        assert torch.equal(bases[b, :n], expected)
        assert int(bases[b].sum()) == int(merged.sizes[b][token_mask[b]].sum())
        assert not bool(bases[b, n:].any())
