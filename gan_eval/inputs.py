"""Image inputs: folders, zip files, .npy/.npz arrays, in-memory arrays and tensors, and
.npz statistics files.

Every image source yields uint8 H x W x 3 RGB numpy arrays by index (grayscale, palette and
RGBA converted to RGB), so decoding can run in DataLoader workers. Float input in Python
(tensors or arrays in [0, 1]) is quantised to 8 bits by round(255 x), as saving it to PNG would:
FID is defined on 8-bit images.
"""

import functools
import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import GanEvalError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
ARRAY_KEYS = ("images", "samples", "arr_0", "x", "data")


def list_image_files(folder):
    """Image files below `folder`, recursively, in sorted order of their relative paths."""
    folder = Path(folder)
    files = [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def to_rgb_array(img, name):
    """Decode a PIL image fully and return uint8 H x W x 3."""
    try:
        img.load()
        if img.mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(img, dtype=np.int64)
            arr = (arr >> 8 if arr.max() > 255 else arr).clip(0, 255).astype(np.uint8)
            return np.repeat(arr[:, :, None], 3, axis=2)
        if img.mode == "P" and "transparency" in img.info:
            img = img.convert("RGBA")
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as e:
        raise GanEvalError(f"{name}: corrupt or truncated image ({e})") from None


def decode_image(data_or_path, name):
    try:
        src = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
        with Image.open(src) as img:
            return to_rgb_array(img, name)
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
        self.files = list_image_files(self.root)
        if not self.files:
            anything = any(self.root.iterdir())
            what = "holds no image files" if anything else "is empty"
            raise GanEvalError(f"{folder}: folder {what} (looked for {', '.join(IMAGE_EXTENSIONS)}, recursively)")

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
                infos = [i for i in z.infolist() if not i.is_dir() and Path(i.filename).suffix.lower() in IMAGE_EXTENSIONS]
        except (zipfile.BadZipFile, OSError) as e:
            raise GanEvalError(f"{path}: not a readable zip file ({e})") from None
        if not infos:
            raise GanEvalError(f"{path}: zip file holds no image files")
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


class ArraySource(ImageSource):
    """uint8 images in an array (numpy, memory-mapped .npy, or a tensor), NHWC, NCHW or NHW."""

    def __init__(self, array, name="array", fingerprint=None, path=None):
        try:
            import torch

            if isinstance(array, torch.Tensor):
                array = array.detach().cpu().numpy()
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
        if array.dtype != np.uint8:
            if not np.issubdtype(array.dtype, np.floating):
                raise GanEvalError(f"{name}: expected uint8 images or floats in [0, 1], got dtype {array.dtype}")
            array = np.asarray(array)
            if not np.isfinite(array).all():
                raise GanEvalError(f"{name}: contains NaN or infinite values")
            lo, hi = float(array.min()), float(array.max())
            if lo < 0.0 or hi > 1.0:
                raise GanEvalError(f"{name}: float images must lie in [0, 1], found values in [{lo:.4g}, {hi:.4g}]")
            array = np.rint(array * 255.0).astype(np.uint8)
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

    def __init__(self, mu, sigma, name, count=None):
        self.mu, self.sigma, self.name, self.count = mu, sigma, name, count


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
    return StatisticsInput(mu, sigma, str(path), count)


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


def open_input(source):
    """Return an ImageSource or a StatisticsInput for a path, array or tensor."""
    if isinstance(source, (ImageSource, StatisticsInput)):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
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
        if suffix in IMAGE_EXTENSIONS:
            raise GanEvalError(f"{source}: a single image; give a folder, zip, .npy or .npz of images")
        raise GanEvalError(f"{source}: unsupported input (use a folder of images, .zip, .npy, or .npz)")
    try:
        import torch

        if isinstance(source, torch.Tensor):
            return ArraySource(source, name="tensor")
    except ImportError:
        pass
    if isinstance(source, np.ndarray):
        return ArraySource(source, name="array")
    raise GanEvalError(f"unsupported input of type {type(source).__name__}: give a path, an array or a tensor")


def load_images(source):
    """All images of a source as one uint8 N x H x W x 3 array (they must share one size)."""
    src = open_input(source)
    if isinstance(src, StatisticsInput):
        raise GanEvalError(f"{src.name}: a statistics file, not images")
    if isinstance(src, ArraySource) and src.layout == "NHWC" and src.array.shape[-1] == 3:
        return np.asarray(src.array)
    images = [src.load(i) for i in range(len(src))]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise GanEvalError(f"{src.name}: images have different sizes ({', '.join(map(str, sorted(shapes)[:3]))} ...)")
    return np.stack(images)
