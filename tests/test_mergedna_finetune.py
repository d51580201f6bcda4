"""Fine-tuning a MergeDNA: the classifier pools its Latent Encoder output."""

import torch

from ldarnet import resolve_config
from ldarnet.finetune.models import classifier_factory
from ldarnet.mergedna import MergeDNA, MergeDNAConfig


def test_classifier_on_mergedna_pools_latent_encoder_tokens_and_trains(tmp_path):
    torch.manual_seed(0)
    MergeDNA(MergeDNAConfig.preset("mergedna-tiny")).save_pretrained(tmp_path / "m")
    assert isinstance(resolve_config(tmp_path / "m"), MergeDNAConfig)
    assert isinstance(resolve_config("mergedna-tiny"), MergeDNAConfig)
    model = classifier_factory(num_labels=2, checkpoint=tmp_path / "m", conjoin_rc=True)(0)
    assert isinstance(model.backbone, MergeDNA)
    ids = torch.randint(0, 4, (3, 40))
    ids[2, 30:] = 6
    logits = model(ids)
    assert logits.shape == (3, 2)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 1])).backward()
    # the Latent Encoder and the tokenizer get gradients; the decoders are not used
    named = dict(model.backbone.named_parameters())
    assert named["latent_encoder.blocks.0.attn.qkv.weight"].grad is not None
    assert named["local_blocks.0.attn.qkv.weight"].grad is not None
    assert named["local_decoder.blocks.0.attn.qkv.weight"].grad is None
    fresh = classifier_factory(num_labels=2, config="mergedna-tiny", random_init=True)(0)
    assert isinstance(fresh.backbone, MergeDNA)
