"""Cells of 02_pretraining: the shipped run's curves, and a short live pretraining run."""

from cells import code, md, parameters

CELLS = [
    md("""
    # 02 · Pretraining: loss and compression curves

    LDARNet is pretrained with masked-language modelling (predict 15% of bases from the rest) plus a
    **ratio loss** that pulls the router towards one boundary every `target_ratio` bases. This
    notebook first reads the training log of the shipped checkpoint (`metrics.jsonl`, one line per
    optimiser step), then runs a short pretraining of the tiny test model on the bundled real
    sequences so you can watch the same quantities live.
    """),
    parameters("""
    checkpoint = None  # folder of a training run with metrics.jsonl; None: the shipped checkpoint
    fasta = ["../data/athal_chr1_1000000_1200000.fa", "../data/scer_chrI.fa", "../data/celegans_chrX_5000000_5200000.fa"]
    out_dir = "../reports/notebooks/02_pretraining"
    seed = 0
    device = "cpu"
    steps = 20  # optimiser steps of the live run
    seq_len = 256
    batch_size = 4
    """),
    code("""
    import json
    from pathlib import Path

    import matplotlib.pyplot as plt

    from ldarnet.commands.demo import DEFAULT_CHECKPOINT
    from ldarviz.plots import plot_compression_over_training, read_metrics
    from ldarviz.provenance import make_provenance, save_figure
    from ldarviz.workbench import display_path, write_summary

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
    log = run / "metrics.jsonl"
    shipped = read_metrics(log) if log.is_file() else None
    print(f"training log: {display_path(log)}" + ("" if shipped is not None else " (missing: no shipped run to show)"))
    """),
    md("""
    ## Figure 1: the shipped run

    **How to read it.** Left: total loss and its MLM part per optimiser step (natural-log units; 1.386 =
    log 4 is a model that guesses bases uniformly, slightly less is what base composition alone gives).
    Right: realised compression (input length / number of chunks) against the target (dashed). The
    run log of an earlier attempt with the paper's ratio-loss weight, where the router collapsed to
    one chunk per window, is drawn too when present: the ratio loss must be strong enough to hold
    compression at the target in a short, small-batch run.
    """),
    code("""
    summary = {"run": display_path(run)}
    if shipped is not None:
        runs = {"shipped run": shipped}
        collapsed = run / "collapsed_alpha0.03_metrics.jsonl"
        if collapsed.is_file():
            runs["alpha = 0.03 attempt"] = read_metrics(collapsed)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
        ax1.plot(shipped["step"], shipped["loss"], label="loss")
        ax1.plot(shipped["step"], shipped["mlm_loss"], label="MLM loss")
        ax1.set_xlabel("optimiser step")
        ax1.set_ylabel("loss (nats)")
        ax1.legend()
        target = json.loads((run / "config.json").read_text())["target_ratio"][0] if (run / "config.json").is_file() else None
        plot_compression_over_training(runs, target=target, ax=ax2)
        ax2.set_yscale("log")
        fig.tight_layout()
        save_figure(fig, out / "shipped_run.png", make_provenance(inputs=[log], seed=seed))
        plt.close(fig)
        last = shipped.iloc[-1]
        summary["shipped"] = {"steps": int(last["step"]), "tokens": int(last["tokens"]), "loss": float(last["loss"]),
                              "mlm_loss": float(last["mlm_loss"]), "compression": float(last["compression_stage0"])}
        display(fig)
    summary
    """),
    md("""
    ## A short live run

    `ldarnet.training.pretrain` is the function behind `ldarnet pretrain`: random windows from the
    FASTA files (windows with too many N skipped, reverse-complemented half the time), MLM masking,
    AdamW with a warmup-stable-decay schedule, atomic checkpoints and a `metrics.jsonl` log. Here it
    trains `ldarnet-tiny` for a few steps; the numbers are a smoke test, not a trained model.
    """),
    code("""
    from ldarnet.training import pretrain

    result = pretrain(config="ldarnet-tiny", fasta=fasta, out=out / "live_run", steps=steps, batch_size=batch_size,
                      seq_len=seq_len, checkpoint_every=steps, seed=seed, device=device, progress=False)
    live = read_metrics(out / "live_run" / "metrics.jsonl")
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(live["step"], live["mlm_loss"], marker="o")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("MLM loss (nats)")
    ax.set_title("ldarnet-tiny, live run")
    fig.tight_layout()
    save_figure(fig, out / "live_run.png", make_provenance(inputs=fasta, seed=seed, steps=steps))
    plt.close(fig)
    summary["live_run"] = {"steps": int(live["step"].iloc[-1]), "first_mlm_loss": float(live["mlm_loss"].iloc[0]),
                           "last_mlm_loss": float(live["mlm_loss"].iloc[-1])}
    summary["figures"] = ["shipped_run.png", "live_run.png"] if shipped is not None else ["live_run.png"]
    _ = write_summary(out, summary)
    fig
    """),
]
