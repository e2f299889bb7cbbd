"""`gan-eval train` and `gan-eval sample`: parse, call gan_eval_models, print."""

import click

from gan_eval_models.family_params import help_text as family_help

from .common import SEED, count, device_option, emit, json_option, quiet_option, removing_if_left_empty, warn


@click.command("train", context_settings={"show_default": True})
@click.argument("model")
@click.option("--dataset", required=True, help="mnist, cifar10, stacked-mnist, ring or grid.")
@click.option("--steps", type=click.IntRange(min=1), required=True,
              help="Generator steps in all (each after --k-disc discriminator steps); with --resume, the total to reach.")
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
@click.option("--g-steps", type=int, default=1, help="Generator updates per step (PacGAN's VEEGAN-setting code: 2).")
@click.option("--reuse-z", is_flag=True, help="G's updates reuse the latents of the step's D update (PacGAN's "
              "Stacked MNIST code).")
@click.option("--g-per-slot", is_flag=True, help="With --pack m: run G once per packing slot, so batch norm sees "
              "--batch-size samples (PacGAN's code).")
@click.option("--real-batches", default="shuffled", help="shuffled (a new permutation each epoch), fixed-tuples "
              "(fixed m-tuples in a fixed order) or fresh (new Stacked MNIST triples every batch).")
@click.option("--sample-bn", default="eval", help="Batch norm when sampling: eval (running statistics) or batch "
              "(statistics of each batch of --batch-size).")
@click.option("--minibatch-disc", is_flag=True, help="Minibatch discrimination (Salimans et al. 2016) in D.")
@click.option("--pack", type=int, default=1, help="PacGAN packing degree m.")
@click.option("--latent-dim", type=int, default=None, help="Latent dimension (default: 100 images, 2 points).")
@click.option("--latent", default=None, help="gaussian, uniform (U(-√3, √3)) or uniform1 (U(-1, 1)) (default: the model's).")
@click.option("--width", type=int, default=None, help="Base width of the nets (default: the model's).")
@click.option("--image-size", type=int, default=None, help="Resize images (e.g. 32 or 64 for DCGAN).")
@click.option("--n-labels", type=int, default=None, help="sgan: number of labelled training examples [100].")
@click.option("--checkpoint-every", type=int, default=1000, help="Steps between checkpoints.")
@click.option("--eval-every", type=int, default=0, help="Steps between evaluations (0: only at the end).")
@click.option("--eval-samples", type=int, default=None, help="Samples per evaluation [2500 points / 1000 images].")
@click.option("--log-every", type=int, default=100, help="Steps between loss lines in log.jsonl.")
@click.option("--fid/--no-fid", default=None, help="FID/KID of image models at the end [on CUDA only].")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False), help="Folder holding the dataset files.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="cyclegan/stackgan hyperparameter, e.g. lambda_cycle=10 or n_res=3 (repeatable; VALUE is JSON). "
                   f"Keys: {family_help()}.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--overwrite", is_flag=True, help="Start again in a run folder that holds a checkpoint.")
@quiet_option
@json_option
def train(model, dataset, steps, out, seed, device, batch_size, lr, d_lr, ema, optimizer, loss, k_disc, update, g_steps,
          reuse_z, g_per_slot, real_batches, sample_bn, minibatch_disc, pack, latent_dim,
          latent, width, image_size, n_labels, checkpoint_every, eval_every, eval_samples, log_every, fid, data_dir,
          params, resume, overwrite, quiet, as_json):
    """Train reference GAN MODEL (gan2014, dcgan, dcgan-small, dcgan-veegan, lsgan, acgan, sgan, cyclegan, stackgan)
    on --dataset (cyclegan: restyled-mnist or usps; stackgan: mnist).

    Writes config.json, checkpoint.pt, log.jsonl and samples_<step>.png into --out. A resumed
    run continues exactly where its checkpoint left off.
    """
    from gan_eval_models.multinet import is_family

    if is_family(model):
        given = {"--d-lr": d_lr, "--ema": ema, "--optimizer": optimizer, "--loss": loss, "--update": update,
                 "--latent-dim": latent_dim, "--latent": latent, "--image-size": image_size, "--n-labels": n_labels,
                 "--eval-samples": eval_samples, "--fid/--no-fid": fid, "--k-disc": k_disc if k_disc != 1 else None,
                 "--minibatch-disc": minibatch_disc or None, "--pack": pack if pack != 1 else None,
                 "--eval-every": eval_every or None, "--g-steps": g_steps if g_steps != 1 else None,
                 "--reuse-z": reuse_z or None, "--g-per-slot": g_per_slot or None,
                 "--real-batches": real_batches if real_batches != "shuffled" else None,
                 "--sample-bn": sample_bn if sample_bn != "eval" else None}
        return _train_family(model, dataset, steps, out, seed, device, batch_size, lr, width, checkpoint_every,
                             log_every, data_dir, params, resume, overwrite, quiet, as_json,
                             {k: v for k, v in given.items() if v is not None})
    if params:
        raise click.UsageError(f"--param applies to cyclegan and stackgan, not {model}")
    from gan_eval_models.train import TrainConfig
    from gan_eval_models.train import train as run_training

    cfg = TrainConfig(
        model=model, dataset=dataset, steps=steps, out=out, seed=seed, device=device, batch_size=batch_size, lr=lr, d_lr=d_lr, ema=ema,
        optimizer=optimizer, loss=loss, k_disc=k_disc, update=update, minibatch_disc=minibatch_disc, pack=pack, checkpoint_every=checkpoint_every,
        eval_every=eval_every, data_dir=data_dir, quiet=quiet, latent_dim=latent_dim, latent=latent, width=width,
        image_size=image_size, n_labels=n_labels, eval_samples=eval_samples, log_every=log_every, fid=fid,
        g_steps=g_steps, reuse_z=reuse_z, g_per_slot=g_per_slot, real_batches=real_batches, sample_bn=sample_bn,
    )
    try:
        with removing_if_left_empty(out):
            summary = run_training(cfg, resume=resume, overwrite=overwrite)
    except KeyboardInterrupt:
        from pathlib import Path

        from gan_eval_models.train import has_checkpoint

        if has_checkpoint(out):
            click.echo(f"interrupted: the checkpoint is in {Path(out) / 'checkpoint.pt'}; continue with: gan-eval train "
                       f"{model} --dataset {dataset} --steps {steps} --out {out} --resume (and the same options)",
                       err=True)
        raise
    if resume and summary["resumed_from"] is not None and summary["resumed_from"] >= steps:
        warn(f"--steps {steps} is {'below' if summary['resumed_from'] > steps else 'at'} the checkpoint's step "
             f"{summary['resumed_from']}: nothing trained, the run is reported as it is (give a larger --steps to "
             "train on)", quiet)
    lines = [f"trained {model} on {dataset}: {summary['steps']} steps in {summary['wall_time_s']:.1f} s -> {summary['run_dir']}"]
    if summary["final"]:
        lines.append(f"final losses: d {summary['final']['d_loss']:.4f}  g {summary['final']['g_loss']:.4f}")
    lines += [f"{k}: {v}" for k, v in summary["metrics"].items()]
    emit(summary, as_json, lines)


def _parse_params(params):
    import json

    out = {}
    for item in params:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.UsageError(f"--param takes KEY=VALUE, got {item!r}")
        if key in out:
            raise click.UsageError(f"--param {key} given twice; give each key once")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def _train_family(model, dataset, steps, out, seed, device, batch_size, lr, width, checkpoint_every, log_every,
                  data_dir, params, resume, overwrite, quiet, as_json, unused):
    import json

    from gan_eval_models.family_params import PARAMS
    from gan_eval_models.multinet import NetsConfig, train_nets

    if unused:
        instead = [f"--param {opt[2:].replace('-', '_')}={value} instead of {opt}" for opt, value in unused.items()
                   if opt[2:].replace("-", "_") in PARAMS[model]]
        verb = "does" if len(unused) == 1 else "do"
        raise click.UsageError(f"{', '.join(unused)} {verb} not apply to {model}"
                               + (f"; use {', '.join(instead)}" if instead else ""))
    parsed = _parse_params(params)
    for option, value in (("--batch-size", batch_size), ("--lr", lr), ("--width", width)):
        key = option[2:].replace("-", "_")
        if value is not None and key in parsed:
            raise click.UsageError(f"{option} {value} and --param {key}={json.dumps(parsed[key])} set the same "
                                   "setting; give one")
    cfg = NetsConfig(model=model, dataset=dataset, steps=steps, out=out, seed=seed, device=device, batch_size=batch_size,
                     lr=lr, width=width, checkpoint_every=checkpoint_every, log_every=log_every, data_dir=data_dir,
                     quiet=quiet, params=parsed)
    summary = train_nets(cfg, resume=resume, overwrite=overwrite)
    lines = [f"trained {model} on {dataset}: {summary['steps']} steps in {summary['wall_time_s']:.1f} s -> {summary['run_dir']}"]
    if summary["final"]:
        lines.append("final losses: " + "  ".join(f"{k} {v:.4f}" for k, v in summary["final"].items()))
    emit(summary, as_json, lines)


@click.command("sample", context_settings={"show_default": True})
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("-n", "n", type=count(), default=None, help="Number of samples (cyclegan: translate only the first N inputs).")
@click.option("-o", "--out", "out", required=True, type=click.Path(), help="Folder of PNGs, or a .npz file.")
@click.option("--seed", type=SEED, default=0, help="Seed of the latents.")
@click.option("--truncation", type=float, default=None, help="Truncation ψ: resample latent components with |z| > ψ.")
@click.option("--format", "fmt", type=click.Choice(["png", "npz"]), default=None,
              help="Output format [npz when OUT ends in .npz, else png].")
@click.option("--batch-size", type=count(), default=500, help="Samples per generator call.")
@click.option("--overwrite", is_flag=True, help="Replace an existing OUT.")
@click.option("--input", "input_", type=click.Path(exists=True), default=None,
              help="cyclegan: the images to translate (folder, zip, .npy/.npz of 28x28 images).")
@click.option("--direction", type=click.Choice(["a2b", "b2a"]), default="a2b", help="cyclegan: translation direction.")
@click.option("--stage", type=click.IntRange(1, 2), default=2, help="stackgan: 1 = Stage-I 16 px, 2 = Stage-II 32 px.")
@device_option
@json_option
def sample(run_dir, n, out, seed, truncation, fmt, batch_size, overwrite, input_, direction, stage, device, as_json):
    """Draw N samples from the trained run in RUN_DIR into OUT.

    Images are written as PNG files or as an .npz with key `images` (uint8 NHWC); 2-D data as
    an .npz with key `samples` (float64). Both are read by `gan-eval fid/score/parzen`. A
    cyclegan run translates the images of --input; a stackgan run draws classes 0..9 in turn.
    """
    from gan_eval_models.multinet import family_of, sample_family
    from gan_eval_models.sample import sample as draw
    from gan_eval_models.sample import write_samples

    if family_of(run_dir):
        if truncation is not None:
            raise click.UsageError(f"--truncation does not apply to a {family_of(run_dir)} run")
        samples = sample_family(run_dir, n, seed=seed, device=device, input=input_, direction=direction, stage=stage)
        n = len(samples)
    else:
        if n is None:
            raise click.UsageError("-n is required")
        if input_ is not None:
            raise click.UsageError("--input applies to cyclegan runs only")
        samples = draw(run_dir, n, seed=seed, truncation=truncation, device=device, batch_size=batch_size)
    path, fmt = write_samples(samples, out, fmt, overwrite=overwrite)
    result = {"run_dir": run_dir, "n": n, "out": str(path), "format": fmt, "shape": list(samples.shape),
              "dtype": str(samples.dtype), "seed": seed, "truncation": truncation}
    emit(result, as_json, [f"wrote {n} samples {tuple(samples.shape[1:])} to {path} ({fmt})"])
