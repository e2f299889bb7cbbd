"""Fault injection shared by the fault tests: a disk that fills up, a file with one bit flipped."""

import errno
import os

import gan_eval.atomic


class _FullFile:
    """A binary file whose writes fail with ENOSPC once `room` bytes have been written."""

    def __init__(self, f, room):
        self.f, self.room = f, room

    def write(self, data):
        n = len(memoryview(data).cast("B"))
        if n > self.room:
            self.f.write(bytes(memoryview(data).cast("B")[: self.room]))  # a partial write, as a full disk gives
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= n
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def fill_disk(monkeypatch, room=100):
    """Every atomic write (gan_eval.atomic) fails with ENOSPC after `room` bytes."""
    real = os.fdopen
    monkeypatch.setattr(gan_eval.atomic, "_fdopen", lambda fd, *a, **k: _FullFile(real(fd, *a, **k), room))


def flip_bit(path, offset_from_end=100, bit=3):
    data = bytearray(open(path, "rb").read())
    data[len(data) - offset_from_end] ^= 1 << bit
    open(path, "wb").write(bytes(data))


def no_temp_files(folder):
    return [p.name for p in os.scandir(folder) if p.name.endswith(".tmp")]


def assert_same_nets_and_optimizers(a, b):
    """Two training checkpoints hold bit-identical G and D weights (same keys) and optimiser states."""
    import torch

    for part in ("generator", "discriminator"):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k} differs"
    for part in ("opt_g", "opt_d"):
        for pid, st in a[part]["state"].items():
            for k, v in st.items():
                assert torch.equal(torch.as_tensor(v), torch.as_tensor(b[part]["state"][pid][k])), f"{part} {k}"
