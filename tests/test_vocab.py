import pytest
import torch

import ldarnet
from ldarnet import MASK_ID, N_ID, PAD_ID, batch_encode, decode, encode, reverse_complement


def test_public_ids_are_documented_values():
    assert (ldarnet.A_ID, ldarnet.C_ID, ldarnet.G_ID, ldarnet.T_ID, N_ID, MASK_ID, PAD_ID) == (0, 1, 2, 3, 4, 5, 6)
    assert ldarnet.VOCAB_SIZE == 7


def test_encode_handles_case_iupac_and_rna():
    assert encode("ACGTacgt").tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert encode("RYSWKMBDHVNrn").tolist() == [N_ID] * 13
    assert encode("UuT").tolist() == [3, 3, 3]
    assert decode(encode("acgtn")) == "ACGTN"


@pytest.mark.parametrize("text,char,pos", [("ACGX", "X", 3), ("AC-G", "-", 2), ("A CG", " ", 1), ("ACé", "é", 2)])
def test_encode_names_bad_character_and_position(text, char, pos):
    with pytest.raises(ValueError, match=f"{char!r} at position {pos}"):
        encode(text)


def test_batch_encode_pads_right_with_mask():
    ids, mask = batch_encode(["ACGT", "GG", "T"])
    assert ids.shape == (3, 4) and mask.shape == (3, 4)
    assert ids[1].tolist() == [2, 2, PAD_ID, PAD_ID]
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]]
    with pytest.raises(ValueError, match="sequence 1"):
        batch_encode(["ACGT", "AZ"])


def test_decode_shows_mask_and_skips_pad():
    assert decode([0, MASK_ID, 3, PAD_ID]) == "A[MASK]T"
    with pytest.raises(ValueError, match="outside the vocabulary"):
        decode([9])


def test_reverse_complement_values_and_involution():
    assert decode(reverse_complement(encode("AACGTN"))) == "NACGTT"
    torch.manual_seed(0)
    ids = torch.randint(0, 7, (5, 40))
    assert torch.equal(reverse_complement(reverse_complement(ids)), ids)


def test_reverse_complement_keeps_pads_on_the_right():
    ids, mask = batch_encode(["AACG", "GT"])
    rc = reverse_complement(ids, mask)
    assert decode(rc[0]) == "CGTT" and decode(rc[1]) == "AC"
    assert rc[1, 2:].tolist() == [PAD_ID, PAD_ID]
    assert torch.equal(reverse_complement(rc, mask), ids)
