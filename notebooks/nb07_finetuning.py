"""Cells of 07_finetuning: the shipped checkpoint vs random weights on E. coli promoters."""

from cells import code, md, parameters

CELLS = [
    md("""
    # 07 · Fine-tuning: does pretraining help?

    The E. coli σ70 promoter benchmark (81 bp, promoter vs non-promoter) is split with stratified
    k-fold cross-validation. The same classifier (mean-pooled LDARNet states → linear layer) is
    fine-tuned from the shipped pretrained weights and from random weights of the same
    architecture, with early stopping on a validation split; the test folds are never seen in
    training. This notebook runs a small version (a subset, two folds, two epochs):
    `bench/bench_finetune.py` and `ldarnet finetune` run the full protocol.
    """),
    parameters("""
    checkpoint = None  # model folder; None: the shipped checkpoints/ldarnet-proxy-multispecies
    csv = "../data/ecoli_sigma70_promoters.csv"
    out_dir = "../reports/notebooks/07_finetuning"
    seed = 0
    device = "cpu"
    max_sites = 600  # examples drawn (stratified) from the benchmark
    folds = 5
    max_folds = 2  # folds actually run
    max_epochs = 2  # a fixed budget (not a time limit), so a re-run gives the same numbers
    """),
    code("""
    from pathlib import Path

    import matplotlib.pyplot as plt
    import pandas as pd

    from ldarnet.commands.demo import DEFAULT_CHECKPOINT
    from ldarnet.finetune import classifier_factory, cross_validate, load_csv
    from ldarviz.plots import plot_ablation, summarize_results
    from ldarviz.provenance import checkpoint_hash, make_provenance, save_figure
    from ldarviz.workbench import display_path, write_summary

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
    pretrained = (weights / "model.safetensors").is_file()
    table = load_csv(csv, sequence_column="seqs", label_column="labels")
    per_class = min(max_sites // table["label"].nunique(), int(table["label"].value_counts().min()))
    table = table.groupby("label").sample(n=per_class, random_state=seed).reset_index(drop=True)
    print(f"{len(table)} examples ({table.label.value_counts().to_dict()}) from {display_path(csv)}")
    print(f"pretrained weights: {display_path(weights)}" + (f" (sha256 {checkpoint_hash(weights)[:12]})" if pretrained else " MISSING"))
    """),
    code("""
    variants = {"random-init": dict(checkpoint=weights if pretrained else None, config=None if pretrained else "ldarnet-proxy",
                                    random_init=True)}
    if pretrained:
        variants = {"pretrained": dict(checkpoint=weights)} | variants
    tables = []
    for name, spec in variants.items():
        make = classifier_factory(num_labels=2, device=device, **spec)
        tables.append(cross_validate(make, table, task="ecoli_promoters", variant=name, folds=folds, max_folds=max_folds,
                                     max_epochs=max_epochs, lr=1e-3, batch_size=32, patience=2, seed=seed))
    results = pd.concat(tables, ignore_index=True)
    results.to_csv(out / "results.csv", index=False)
    summarize_results(results, "mcc").round(3)
    """),
    md("""
    ## Figure 1: test MCC per variant

    **How to read it.** Matthews correlation on the held-out folds (0 = chance, 1 = perfect), mean ±
    SD over the folds run. With so little training the absolute values are low; the comparison between
    the two bars, trained identically, is the point.
    """),
    code("""
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    plot_ablation(results, "mcc", ax=ax)
    fig.tight_layout()
    save_figure(fig, out / "finetune_mcc.png", make_provenance(checkpoint=weights if pretrained else None, inputs=[csv],
                seed=seed, folds=folds, max_folds=max_folds, max_epochs=max_epochs))
    plt.close(fig)
    means = summarize_results(results, "mcc").set_index("variant")
    _ = write_summary(out, {"checkpoint": display_path(weights) if pretrained else None, "csv": display_path(csv),
                            "n_examples": len(table), "folds": folds, "folds_run": max_folds,
                            "mcc_mean": means["mean"].round(4).to_dict(), "mcc_sd": means["sd"].round(4).to_dict(),
                            "figures": ["finetune_mcc.png"]})
    fig
    """),
]
