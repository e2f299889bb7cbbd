"""Image inputs: folders, zip files, .npy/.npz arrays, idx files, dataset names
(``mnist-train[:10000]``, see ``gan_eval.datasets``), in-memory arrays and tensors, and .npz
statistics files.

Every image source yields uint8 H x W x 3 RGB numpy arrays by index, so decoding can run in
DataLoader workers. One fixed rule per kind of input, never one that looks at the pixel values
(docs/refusals.md lists them all): files by Pillow mode (:func:`to_rgb_array`), folders by
:func:`walk_folder`, arrays and tensors by dtype (:func:`_as_uint8`: float input in [0, 1] is
quantised to 8 bits by round(255 x), as saving it to PNG would; FID is defined on 8-bit images).
"""

import functools
import hashlib
import io
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import GanEvalError
from .idx import is_idx, read_idx

ARRAY_KEYS = ("images", "samples", "arr_0", "x", "data")
# Formats Pillow registers but cannot decode without an outside program or plugin (EPS needs
# Ghostscript; the others are stubs), so their files are passed over with a warning, not read.
_STUB_FORMATS = {"BUFR", "EPS", "GRIB", "HDF5", "IPTC", "MPEG", "WMF"}


def _readable_extensions():
    Image.init()
    return tuple(sorted(ext for ext, fmt in Image.registered_extensions().items()
                        if fmt in Image.OPEN and fmt not in _STUB_FORMATS))


IMAGE_EXTENSIONS = _readable_extensions()  # every extension of a format this Pillow decodes


def _is_hidden(name):
    return name.startswith(".") or name == "__MACOSX"


def _passed_over_warning(where, other, hidden):
    """One warning naming the files a folder or zip holds but that are not read."""
    parts = []
    for what, names in (("file(s) that are not images Pillow reads", other),
                        ("hidden file(s)/folder(s)", hidden)):
        if names:
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            parts.append(f"{len(names)} {what} ({shown})")
    if parts:
        warnings.warn(f"{where}: passed over {' and '.join(parts)}", stacklevel=3)


def walk_folder(folder):
    """``(images, passed_over, hidden)`` below `folder`: the rule of what a folder means.

    Recursive; symbolic links to files and folders are followed, each real folder is read once
    (so a link cycle or a second link to the same folder adds nothing); names starting with "."
    (``.ipynb_checkpoints``, ``.DS_Store``) and ``__MACOSX`` are hidden and not read; a file is an
    image when its extension is one of ``IMAGE_EXTENSIONS``. Image paths come sorted by their
    path relative to `folder`; the other two lists hold relative names for the warning.
    """
    root = Path(folder)
    images, other, hidden, seen = [], [], [], set()

    def visit(d, rel):
        try:
            st = os.stat(d)
            if (st.st_dev, st.st_ino) in seen:
                return
            seen.add((st.st_dev, st.st_ino))
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as e:
            raise GanEvalError(f"{d}: cannot read folder ({e.strerror or e})") from None
        for e in entries:
            name = f"{rel}{e.name}"
            if _is_hidden(e.name):
                hidden.append(name)
            elif e.is_dir(follow_symlinks=True):
                visit(Path(e.path), f"{name}/")
            elif e.is_file(follow_symlinks=True) and Path(e.name).suffix.lower() in IMAGE_EXTENSIONS:
                images.append(Path(e.path))
            else:
                other.append(name)  # another kind of file, or a broken link

    visit(root, "")
    return sorted(images, key=lambda p: p.relative_to(root).as_posix()), other, hidden


def list_image_files(folder):
    """Image files below `folder` (see :func:`walk_folder`), in sorted order of their relative paths."""
    return walk_folder(folder)[0]


# Pillow modes whose samples are wider than 8 bits: each gets one fixed rule, never one that
# depends on the image's own values.
_16BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I;16S")


def to_rgb_array(img, name):
    """Decode a PIL image fully and return uint8 H x W x 3, by one rule per mode.

    * 16-bit grayscale (``I;16*``) and 32-bit integer ``I`` (what 16-bit PNG/PGM/TIFF decode
      to): values 0..65535, the top byte kept (``v >> 8``), as Pillow itself reduces 16-bit
      RGB/RGBA/LA files; ``I`` values outside 0..65535 are refused.
    * 32-bit float ``F``: values in [0, 1], ``round(255 v)`` as for float arrays; outside refused.
    * ``1``: 0 or 255. Alpha (RGBA, LA, La, PA, P with transparency) is dropped, not composited.
    * Every other mode (L, P, RGB, CMYK, YCbCr, LAB, HSV, RGBX, RGBa): Pillow's ``convert("RGB")``.
    * Multi-frame files (GIF, TIFF, ...): the first frame. EXIF orientation is not applied.
    """
    try:
        img.load()
        mode = img.mode
        if mode in _16BIT_MODES or mode == "I":
            arr = np.asarray(img, dtype=np.int64)
            if arr.min() < 0 or arr.max() > 65535:
                raise GanEvalError(f"{name}: 32-bit integer pixels outside 0..65535 (only 16-bit integer images "
                                   "are read)")
            return np.repeat((arr >> 8).astype(np.uint8)[:, :, None], 3, axis=2)
        if mode == "F":
            arr = np.asarray(img, dtype=np.float64)
            if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
                raise GanEvalError(f"{name}: float pixels must lie in [0, 1]")
            return np.repeat(np.rint(arr * 255.0).astype(np.uint8)[:, :, None], 3, axis=2)
        if mode in ("La", "PA") or (mode == "P" and "transparency" in img.info):
            img = img.convert("RGBA")
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as e:
        raise GanEvalError(f"{name}: corrupt or truncated image ({e})") from None


def decode_image(data_or_path, name):
    """uint8 H x W x 3 of one image file (path or bytes); GanEvalError for anything unreadable,
    including images over Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``)."""
    try:
        src = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(src) as img:
                return to_rgb_array(img, name)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise GanEvalError(f"{name}: too large to decode safely ({e})") from None
    except UnidentifiedImageError:
        raise GanEvalError(f"{name}: not a readable image file") from None
    except OSError as e:
        raise GanEvalError(f"{name}: cannot read image ({e})") from None


class ImageSource:
    """Images by index; subclasses set `name` and implement `__len__`, `load`, `fingerprint`."""

    name = "images"

    def __len__(self):
        raise NotImplementedError

    def load(self, i):
        raise NotImplementedError

    def fingerprint(self):
        """A hash of the content of the input's files, the feature cache's key for it (None: don't
        cache). Equal fingerprints mean equal bytes (up to a SHA-256 collision)."""
        return None

    def signature(self):
        """A cheap stat snapshot (sizes, mtimes, ctimes, inodes) that changes when a file is
        written; compared before and after a pass to catch files changing during it."""
        return None


class FolderSource(ImageSource):
    def __init__(self, folder):
        self.root = Path(folder)
        self.name = str(folder)
        self.files, other, hidden = walk_folder(self.root)
        if not self.files:
            what = "holds no image files" if other or hidden else "is empty"
            raise GanEvalError(f"{folder}: folder {what} (looked recursively for the image formats Pillow reads"
                               f"{'; hidden entries are not read' if hidden else ''})")
        _passed_over_warning(folder, other, hidden)

    def __len__(self):
        return len(self.files)

    def load(self, i):
        return decode_image(self.files[i], str(self.files[i]))

    def fingerprint(self):
        h = hashlib.sha256(b"folder-content\0")
        for p, digest in zip(self.files, _file_hashes(self.files)):
            if digest is None:
                return None
            h.update(os.fsencode(p.relative_to(self.root).as_posix()) + b"\0" + digest + b"\n")
        return h.hexdigest()

    def signature(self):
        return _stat_signature(self.files)


class ZipSource(ImageSource):
    def __init__(self, path):
        self.path = Path(path)
        self.name = str(path)
        try:
            with zipfile.ZipFile(self.path) as z:
                files = [i for i in z.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, OSError) as e:
            raise GanEvalError(f"{path}: not a readable zip file ({e})") from None
        hidden = [i.filename for i in files if any(_is_hidden(part) for part in i.filename.split("/"))]
        rest = [i for i in files if i.filename not in set(hidden)]
        infos = [i for i in rest if Path(i.filename).suffix.lower() in IMAGE_EXTENSIONS]
        if not infos:
            raise GanEvalError(f"{path}: zip file holds no image files")
        _passed_over_warning(path, [i.filename for i in rest if i not in infos], hidden)
        self.members = sorted(i.filename for i in infos)
        self._zip, self._pid = None, None

    def __len__(self):
        return len(self.members)

    def load(self, i):
        if self._zip is None or self._pid != os.getpid():  # one handle per worker process
            self._zip, self._pid = zipfile.ZipFile(self.path), os.getpid()
        member = self.members[i]
        try:
            data = self._zip.read(member)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise GanEvalError(f"{self.path}:{member}: cannot read ({e})") from None
        return decode_image(data, f"{self.path}:{member}")

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_zip"] = None
        return state

    def fingerprint(self):
        return _file_fingerprint(self.path)

    def signature(self):
        return _stat_signature([self.path])


def _image_layout(shape, name):
    """Return 'NHWC', 'NCHW' or 'NHW' for an image array shape, or raise."""
    if len(shape) == 3:
        return "NHW"
    if len(shape) == 4:
        if shape[-1] in (1, 3, 4):
            return "NHWC"
        if shape[1] in (1, 3, 4):
            return "NCHW"
    raise GanEvalError(f"{name}: expected images shaped N x H x W x C or N x C x H x W (C = 1, 3 or 4), got {tuple(shape)}")


def _as_uint8(array, name):
    """The one rule per dtype: uint8 as is; other integers are 8-bit values (0..255, else refused);
    floats (float16/32/64, bfloat16 tensors) lie in [0, 1] and become round(255 x); bool, complex
    and anything else are refused."""
    if array.dtype == np.uint8:
        return array
    kind = array.dtype.kind
    if kind in "iu":
        lo, hi = int(array.min()), int(array.max())
        if lo < 0 or hi > 255:
            raise GanEvalError(f"{name}: integer images must hold 8-bit values 0..255, found values in [{lo}, {hi}] "
                               "(scale them, or give floats in [0, 1])")
        return array.astype(np.uint8)
    if kind != "f":
        what = "bool (is True 1 or 255?)" if kind == "b" else str(array.dtype)
        raise GanEvalError(f"{name}: expected uint8 images or floats in [0, 1], got dtype {what}")
    array = np.asarray(array)
    if not np.isfinite(array).all():
        raise GanEvalError(f"{name}: contains NaN or infinite values")
    lo, hi = float(array.min()), float(array.max())
    if lo < 0.0 or hi > 1.0:
        raise GanEvalError(f"{name}: float images must lie in [0, 1], found values in [{lo:.4g}, {hi:.4g}]")
    return np.rint(array.astype(np.float64) * 255.0).astype(np.uint8)


class ArraySource(ImageSource):
    """uint8 images in an array (numpy, memory-mapped .npy, or a tensor), NHWC, NCHW or NHW."""

    def __init__(self, array, name="array", fingerprint=None, path=None):
        try:
            import torch

            if isinstance(array, torch.Tensor):
                array = array.detach().cpu()
                if array.dtype in (torch.bfloat16, torch.float16):
                    array = array.float()  # numpy has no bfloat16; both convert exactly
                try:
                    array = array.numpy()
                except (TypeError, RuntimeError):  # quantised and other dtypes numpy lacks
                    raise GanEvalError(f"{name}: expected uint8 images or floats in [0, 1], got dtype {array.dtype}") \
                        from None
        except ImportError:
            pass
        try:
            array = np.asarray(array) if not isinstance(array, np.ndarray) else array
        except (ValueError, TypeError) as e:  # ragged nested lists
            raise GanEvalError(f"{name}: not an array of images ({e})") from None
        if array.dtype == object:
            raise GanEvalError(f"{name}: an object array; expected uint8 images or floats in [0, 1]")
        self.name = name
        self.layout = _image_layout(array.shape, name)
        if array.shape[0] == 0:
            raise GanEvalError(f"{name}: holds no images")
        spatial = {"NHWC": array.shape[1:3], "NCHW": array.shape[2:4], "NHW": array.shape[1:3]}[self.layout]
        if min(spatial) == 0:
            raise GanEvalError(f"{name}: images of size {spatial[0]} x {spatial[1]} hold no pixels")
        array = _as_uint8(array, name)
        self.array = array
        self._fingerprint = fingerprint  # a string, or a callable computing it when asked
        self._path = path

    def __len__(self):
        return self.array.shape[0]

    def load(self, i):
        img = np.asarray(self.array[i])
        if self.layout == "NCHW":
            img = img.transpose(1, 2, 0)
        elif self.layout == "NHW":
            img = img[:, :, None]
        if img.shape[2] == 1:
            img = np.repeat(img, 3, axis=2)
        elif img.shape[2] == 4:
            img = img[:, :, :3]
        return np.ascontiguousarray(img)

    def fingerprint(self):
        return self._fingerprint() if callable(self._fingerprint) else self._fingerprint

    def signature(self):
        return _stat_signature([self._path]) if self._path is not None else self.fingerprint()


class StatisticsInput:
    """Precomputed mean and covariance (pytorch-fid / TTUR .npz: keys mu, sigma)."""

    def __init__(self, mu, sigma, name, count=None, provenance=None):
        self.mu, self.sigma, self.name, self.count = mu, sigma, name, count
        self.provenance = provenance  # a gan_eval.provenance.Provenance, None for files without one


HASH_CHUNK = 1 << 20
HASH_THREADS = 8  # hashlib releases the GIL, so threads overlap reading and hashing


def _sha256_file(path):
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(HASH_CHUNK):
                h.update(chunk)
    except OSError:
        return None  # unreadable: not cached (decoding it will report the problem)
    return h.digest()


def _file_hashes(paths):
    """SHA-256 digests of the files' bytes (None for an unreadable file), in order."""
    if len(paths) < 2:
        return [_sha256_file(p) for p in paths]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(HASH_THREADS, len(paths))) as pool:
        return list(pool.map(_sha256_file, paths, chunksize=64))


def _file_fingerprint(path):
    digest = _sha256_file(path)
    return None if digest is None else hashlib.sha256(b"file-content\0" + digest).hexdigest()


def _stat_signature(paths):
    h = hashlib.sha256()
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            return None
        h.update(f"{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\0{st.st_dev}\n".encode())
    return h.hexdigest()


def load_statistics(path, data=None):
    """Mean and covariance from a pytorch-fid / TTUR .npz (keys mu, sigma; optional n).

    Raises GanEvalError unless mu is a non-empty finite vector and sigma a finite covariance of
    matching size that is symmetric positive semi-definite up to float32 round-off (see
    :func:`check_covariance`).
    """
    data = data if data is not None else _load_npz(path)
    keys = set(data.files)
    if not {"mu", "sigma"} <= keys:
        raise GanEvalError(f"{path}: statistics file needs arrays 'mu' and 'sigma' (found: {', '.join(sorted(keys)) or 'none'})")
    try:
        mu = np.asarray(data["mu"], dtype=np.float64)
        sigma = np.asarray(data["sigma"], dtype=np.float64)
        count = int(data["n"]) if "n" in keys else None
    except (ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise GanEvalError(f"{path}: cannot read the statistics ({e})") from None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise GanEvalError(f"{path}: 'mu' of shape {mu.shape} and 'sigma' of shape {sigma.shape} do not match")
    if mu.shape[0] == 0:
        raise GanEvalError(f"{path}: empty statistics (mu has no entries)")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise GanEvalError(f"{path}: statistics contain NaN or infinite values")
    if count is not None and count < 1:
        raise GanEvalError(f"{path}: n = {count}, statistics of no images")
    check_covariance(sigma, str(path))
    from .provenance import KEY, Provenance

    record = Provenance.from_json(data[KEY]) if KEY in keys else None
    return StatisticsInput(mu, sigma, str(path), count, record)


def check_covariance(sigma, name):
    """Refuse a matrix that is not a covariance: asymmetric, or with an eigenvalue below zero,
    beyond what float32 round-off explains. With tol = d·ε₃₂ (ε₃₂ = 2⁻²³; features are float32
    and a covariance accumulated from them carries errors of that order): max|Σ − Σᵀ| must not
    exceed tol·max|Σ|, and Σ + tol·max(diag Σ)·I must have a Cholesky factor, i.e. no eigenvalue
    below −tol·max(diag Σ) (a Cholesky costs a fraction of the FID's own eigendecomposition)."""
    import torch

    d = sigma.shape[0]
    scale = float(np.abs(sigma).max())
    if scale == 0.0:
        return
    tol = d * float(np.finfo(np.float32).eps)
    asym = float(np.abs(sigma - sigma.T).max())
    if asym > tol * scale:
        raise GanEvalError(f"{name}: 'sigma' is not symmetric (max |Σ − Σᵀ| = {asym:.3g}, {asym / scale:.2g} of its "
                           "largest entry); not a covariance matrix")
    s = torch.from_numpy(np.ascontiguousarray(sigma, dtype=np.float64))
    shift = tol * max(float(s.diagonal().max()), 0.0)
    _, info = torch.linalg.cholesky_ex((s + s.T) / 2 + shift * torch.eye(d, dtype=torch.float64))
    if int(info) != 0:
        raise GanEvalError(f"{name}: 'sigma' is not positive semi-definite (an eigenvalue below −{shift:.3g}, beyond "
                           "round-off); not a covariance matrix")


def _load_npz(path):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise GanEvalError(f"{path}: cannot read .npz file ({e or 'empty file'})") from None


def _open_npz(path):
    data = _load_npz(path)
    keys = list(data.files)
    if "mu" in keys or "sigma" in keys:
        return load_statistics(path, data)
    arrays = [k for k in ARRAY_KEYS if k in keys] or (keys if len(keys) == 1 else [])
    try:
        array = data[arrays[0]] if arrays else None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:  # object arrays, a damaged member
        raise GanEvalError(f"{path}: cannot read array {arrays[0]!r} ({e})") from None
    if array is None or array.ndim not in (3, 4):
        raise GanEvalError(
            f"{path}: neither statistics ('mu', 'sigma') nor one image array (keys {', '.join(ARRAY_KEYS)}); found: {', '.join(keys) or 'nothing'}")
    return ArraySource(array, name=f"{path}[{arrays[0]}]", fingerprint=functools.partial(_file_fingerprint, path), path=path)


def _open_idx(path):
    arr = read_idx(path)
    if arr.ndim not in (3, 4):
        raise GanEvalError(f"{path}: idx file holds an array of shape {arr.shape}, not images (labels?)")
    return ArraySource(arr, name=str(path), fingerprint=_file_fingerprint(path))


def open_input(source, data_dir=None):
    """Return an ImageSource or a StatisticsInput for a path, a dataset name, an array or a tensor.

    A string that names no existing file may be a dataset name such as ``mnist-train[:10000]``
    (see ``gan_eval.datasets``), read from `data_dir`, env GAN_EVAL_DATA or the download cache.
    """
    if isinstance(source, (ImageSource, StatisticsInput)):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            from .datasets import open_dataset, parse_name

            if parse_name(str(source)) is not None:
                return open_dataset(str(source), data_dir)
            raise GanEvalError(f"{source}: no such file or folder")
        if path.is_dir():
            return FolderSource(path)
        suffix = path.suffix.lower()
        if suffix == ".zip":
            return ZipSource(path)
        if suffix == ".npz":
            return _open_npz(path)
        if suffix == ".npy":
            try:
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError, EOFError) as e:
                raise GanEvalError(f"{path}: cannot read .npy file ({e or 'empty file'})") from None
            return ArraySource(arr, name=str(path), fingerprint=functools.partial(_file_fingerprint, path), path=path)
        if is_idx(path):
            return _open_idx(path)
        if suffix in IMAGE_EXTENSIONS:
            raise GanEvalError(f"{source}: a single image; give a folder, zip, .npy or .npz of images")
        raise GanEvalError(f"{source}: unsupported input (use a folder of images, .zip, .npy, .npz, an idx file "
                          "or a dataset name such as mnist-test)")
    try:
        import torch

        if isinstance(source, torch.Tensor):
            return ArraySource(source, name="tensor")
    except ImportError:
        pass
    if isinstance(source, np.ndarray):
        return ArraySource(source, name="array")
    raise GanEvalError(f"unsupported input of type {type(source).__name__}: give a path, an array or a tensor")


def load_images(source, data_dir=None):
    """All images of a source as one uint8 N x H x W x 3 array (they must share one size)."""
    src = open_input(source, data_dir)
    if isinstance(src, StatisticsInput):
        raise GanEvalError(f"{src.name}: a statistics file, not images")
    if isinstance(src, ArraySource) and src.layout == "NHWC" and src.array.shape[-1] == 3:
        return np.asarray(src.array)
    images = [src.load(i) for i in range(len(src))]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise GanEvalError(f"{src.name}: images have different sizes ({', '.join(map(str, sorted(shapes)[:3]))} ...)")
    return np.stack(images)
