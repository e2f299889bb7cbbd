"""`gan-eval train` and `gan-eval sample`: parse, call gan_eval_models, print."""

import click

from .common import SEED, count, device_option, emit, json_option, quiet_option


@click.command("train", context_settings={"show_default": True})
@click.argument("model")
@click.option("--dataset", required=True, help="mnist, cifar10, stacked-mnist, ring or grid.")
@click.option("--steps", type=int, required=True, help="Generator steps (each after --k-disc discriminator steps).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Run folder.")
@click.option("--seed", type=SEED, default=0, help="Random seed (initialisation, latents, data order, dropout).")
@device_option
@click.option("--batch-size", type=count(), default=None, help="Minibatch size (default: the model's paper value).")
@click.option("--lr", type=float, default=None, help="Learning rate (default: the model's paper value).")
@click.option("--d-lr", type=float, default=None, help="Discriminator learning rate (default: the model's, else --lr).")
@click.option("--ema", type=float, default=None, help="Decay of a moving average of G's weights, used for samples "
              "and metrics (e.g. 0.999; 0 = off) [the model's].")
@click.option("--optimizer", default=None, help="sgd or adam (default: the model's; another one gets Adam 2e-4 "
              "β=(0.5, 0.999) or SGD 0.01 momentum 0.5).")
@click.option("--loss", default=None, help="minimax, non-saturating or least-squares (default: the model's).")
@click.option("--k-disc", type=int, default=1, help="Discriminator steps per generator step.")
@click.option("--update", default=None, help="alternating (Algorithm 1) or simultaneous (the 2014 code) [the model's].")
@click.option("--minibatch-disc", is_flag=True, help="Minibatch discrimination (Salimans et al. 2016) in D.")
@click.option("--pack", type=int, default=1, help="PacGAN packing degree m.")
@click.option("--latent-dim", type=int, default=None, help="Latent dimension (default: 100 images, 2 points).")
@click.option("--latent", default=None, help="gaussian or uniform (default: the model's).")
@click.option("--width", type=int, default=None, help="Base width of the nets (default: the model's).")
@click.option("--image-size", type=int, default=None, help="Resize images (e.g. 32 or 64 for DCGAN).")
@click.option("--n-labels", type=int, default=None, help="sgan: number of labelled training examples [100].")
@click.option("--checkpoint-every", type=int, default=1000, help="Steps between checkpoints.")
@click.option("--eval-every", type=int, default=0, help="Steps between evaluations (0: only at the end).")
@click.option("--eval-samples", type=int, default=None, help="Samples per evaluation [2500 points / 1000 images].")
@click.option("--log-every", type=int, default=100, help="Steps between loss lines in log.jsonl.")
@click.option("--fid/--no-fid", default=None, help="FID/KID of image models at the end [on CUDA only].")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False), help="Folder holding the dataset files.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--overwrite", is_flag=True, help="Start again in a run folder that holds a checkpoint.")
@quiet_option
@json_option
def train(model, dataset, steps, out, seed, device, batch_size, lr, d_lr, ema, optimizer, loss, k_disc, update, minibatch_disc, pack, latent_dim,
          latent, width, image_size, n_labels, checkpoint_every, eval_every, eval_samples, log_every, fid, data_dir,
          resume, overwrite, quiet, as_json):
    """Train reference GAN MODEL (gan2014, dcgan, dcgan-small, lsgan, acgan, sgan) on --dataset.

    Writes config.json, checkpoint.pt, log.jsonl and samples_<step>.png into --out. A resumed
    run continues exactly where its checkpoint left off.
    """
    from gan_eval_models.train import TrainConfig
    from gan_eval_models.train import train as run_training

    cfg = TrainConfig(
        model=model, dataset=dataset, steps=steps, out=out, seed=seed, device=device, batch_size=batch_size, lr=lr, d_lr=d_lr, ema=ema,
        optimizer=optimizer, loss=loss, k_disc=k_disc, update=update, minibatch_disc=minibatch_disc, pack=pack, checkpoint_every=checkpoint_every,
        eval_every=eval_every, data_dir=data_dir, quiet=quiet, latent_dim=latent_dim, latent=latent, width=width,
        image_size=image_size, n_labels=n_labels, eval_samples=eval_samples, log_every=log_every, fid=fid,
    )
    summary = run_training(cfg, resume=resume, overwrite=overwrite)
    lines = [f"trained {model} on {dataset}: {summary['steps']} steps in {summary['wall_time_s']:.1f} s -> {summary['run_dir']}"]
    if summary["final"]:
        lines.append(f"final losses: d {summary['final']['d_loss']:.4f}  g {summary['final']['g_loss']:.4f}")
    lines += [f"{k}: {v}" for k, v in summary["metrics"].items()]
    emit(summary, as_json, lines)


@click.command("sample", context_settings={"show_default": True})
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("-n", "n", type=count(), required=True, help="Number of samples.")
@click.option("-o", "--out", "out", required=True, type=click.Path(), help="Folder of PNGs, or a .npz file.")
@click.option("--seed", type=SEED, default=0, help="Seed of the latents.")
@click.option("--truncation", type=float, default=None, help="Truncation ψ: resample latent components with |z| > ψ.")
@click.option("--format", "fmt", type=click.Choice(["png", "npz"]), default=None,
              help="Output format [npz when OUT ends in .npz, else png].")
@click.option("--batch-size", type=count(), default=500, help="Samples per generator call.")
@click.option("--overwrite", is_flag=True, help="Replace an existing OUT.")
@device_option
@json_option
def sample(run_dir, n, out, seed, truncation, fmt, batch_size, overwrite, device, as_json):
    """Draw N samples from the trained run in RUN_DIR into OUT.

    Images are written as PNG files or as an .npz with key `images` (uint8 NHWC); 2-D data as
    an .npz with key `samples` (float64). Both are read by `gan-eval fid/score/parzen`.
    """
    from gan_eval_models.sample import sample as draw
    from gan_eval_models.sample import write_samples

    samples = draw(run_dir, n, seed=seed, truncation=truncation, device=device, batch_size=batch_size)
    path, fmt = write_samples(samples, out, fmt, overwrite=overwrite)
    result = {"run_dir": run_dir, "n": n, "out": str(path), "format": fmt, "shape": list(samples.shape),
              "dtype": str(samples.dtype), "seed": seed, "truncation": truncation}
    emit(result, as_json, [f"wrote {n} samples {tuple(samples.shape[1:])} to {path} ({fmt})"])
