"""Reader for the idx format of the MNIST files (optionally gzipped).

Format (LeCun et al.): big-endian magic 0x00 0x00 <type> <ndim>, then ndim uint32 sizes, then
the data. Only unsigned bytes (type 0x08) occur in MNIST and are supported.
"""

import gzip
import struct

import numpy as np

from .errors import GanEvalError


def is_idx(path):
    name = str(path).lower()
    return name.endswith((".idx1-ubyte", ".idx3-ubyte", "-ubyte", ".idx1-ubyte.gz", ".idx3-ubyte.gz", "-ubyte.gz"))


def read_idx(path):
    """Return the array stored in an idx file (uint8, shape from its header)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise GanEvalError(f"{path}: cannot read idx file ({e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise GanEvalError(f"{path}: not an idx file (bad magic number)")
    dtype_code, ndim = data[2], data[3]
    if dtype_code != 0x08:
        raise GanEvalError(f"{path}: idx data type 0x{dtype_code:02x} is not supported (only unsigned bytes)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise GanEvalError(f"{path}: truncated idx header")
    shape = struct.unpack(">" + "I" * ndim, data[4:header])
    expected = int(np.prod(shape)) if shape else 0
    if len(data) - header != expected:
        raise GanEvalError(f"{path}: idx file holds {len(data) - header} bytes of data, header says {expected} (truncated?)")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)
