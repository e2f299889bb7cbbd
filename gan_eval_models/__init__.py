"""Reference GANs, their training, sampling, and the published-table reproductions."""


def __getattr__(name):
    if name == "truncation_sweep":  # imported on first use: the package import stays cheap
        from .truncation import truncation_sweep

        return truncation_sweep
    raise AttributeError(f"module 'gan_eval_models' has no attribute {name!r}")
