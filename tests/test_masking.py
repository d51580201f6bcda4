"""MLM masking: only A/C/G/T become targets, at the set rate, with the 80/10/10 split."""

import numpy as np
import pytest
import torch

from ldarnet import A_ID, MASK_ID, N_ID, PAD_ID, T_ID
from ldarnet.data import IGNORE_INDEX, mask_batch, mask_tokens


def test_rates_and_split_on_a_large_sample():
    rng = np.random.default_rng(0)
    ids = rng.integers(A_ID, T_ID + 1, size=(64, 4096))
    inputs, labels = mask_tokens(ids, np.random.default_rng(1))
    target = labels != IGNORE_INDEX
    assert abs(target.mean() - 0.15) < 0.005
    np.testing.assert_array_equal(labels[target], ids[target])
    replaced_by_mask = (inputs == MASK_ID)[target].mean()
    changed_to_other_base = ((inputs != ids) & (inputs != MASK_ID))[target].mean()
    kept = (inputs == ids)[target].mean()
    assert abs(replaced_by_mask - 0.8) < 0.01
    # the random 10% picks any base, so 3/4 of it differs from the original
    assert abs(changed_to_other_base - 0.075) < 0.006
    assert abs(kept - 0.125) < 0.008
    np.testing.assert_array_equal(inputs[~target], ids[~target])


def test_n_mask_and_pad_are_never_targets():
    ids = np.array([[N_ID] * 50 + [PAD_ID] * 50 + [MASK_ID] * 50 + [A_ID] * 50])
    inputs, labels = mask_tokens(ids, np.random.default_rng(3), mask_prob=0.9)
    assert (labels[0, :150] == IGNORE_INDEX).all()
    np.testing.assert_array_equal(inputs[0, :150], ids[0, :150])
    assert (labels[0, 150:] != IGNORE_INDEX).sum() > 30


def test_every_row_with_a_base_gets_a_target():
    ids = np.full((200, 8), N_ID)
    ids[:, 3] = A_ID
    _, labels = mask_tokens(ids, np.random.default_rng(0), mask_prob=0.01)
    assert ((labels != IGNORE_INDEX).sum(axis=1) == 1).all()
    _, none = mask_tokens(np.full((2, 8), N_ID), np.random.default_rng(0))
    assert (none == IGNORE_INDEX).all()


def test_same_seed_same_mask_and_torch_wrapper():
    ids = torch.randint(0, 4, (3, 100))
    a, la = mask_batch(ids, seed=7)
    b, lb = mask_batch(ids, seed=7)
    c, _ = mask_batch(ids, seed=8)
    assert torch.equal(a, b) and torch.equal(la, lb) and not torch.equal(a, c)
    assert a.dtype == la.dtype == torch.int64 and a.shape == ids.shape


def test_bad_rates_are_refused():
    with pytest.raises(ValueError, match="mask_prob"):
        mask_tokens(np.zeros(4, dtype=int), np.random.default_rng(0), mask_prob=1.5)
    with pytest.raises(ValueError, match="sum to at most 1"):
        mask_tokens(np.zeros(4, dtype=int), np.random.default_rng(0), mask_token_fraction=0.9, random_token_fraction=0.2)
