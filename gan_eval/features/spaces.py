"""The feature spaces a distance can be measured in: a registry of extractors.

``inception`` (the default) is the TF-2015 Inception-v3 of FID, KID and P/R, with its own resize
modes (``preprocess``), weights (``weights``) and network (``inception``, ``fused``). The others
are image encoders from well-kept libraries (``vit``): DINOv2 ViT-L/14 and ViT-B/14 through timm,
as dgm-eval (Stein et al. 2023) runs them; CLIP ViT-B/32 with OpenAI's weights through open_clip.

Metric names follow the space: FID / KID in Inception's, FD_DINOv2 / KD_DINOv2 in DINOv2's, and
so on (``metric_name``), so a number is never reported as "FID" when it is not one.
"""

from dataclasses import dataclass

from ..errors import GanEvalError

DEFAULT = "inception"


@dataclass(frozen=True)
class FeatureSpace:
    name: str  # registry key, e.g. "dinov2-vitl14"
    label: str  # suffix of the metric names, e.g. "DINOv2"
    dims: int  # feature dimension
    preprocessing: str  # one line for docs and --json
    source: str  # where the architecture, preprocessing and weights come from
    filename: str = ""  # weight file name in the cache
    urls: tuple = ()  # download locations
    sha256: str = ""  # SHA-256 a download must match ("" when none is known: no download)

    @property
    def env_var(self):
        return "GAN_EVAL_INCEPTION_WEIGHTS" if self.name == DEFAULT else \
            "GAN_EVAL_" + self.name.upper().replace("-", "_") + "_WEIGHTS"


_DINOV2 = ("timm {arch} (pretrained=False, img_size=224, num_classes=0); Meta's checkpoint, its 37 x 37 position "
           "embedding resampled to 16 x 16 as facebookresearch/dinov2's interpolate_pos_encoding does; "
           "preprocessing and CLS-token output as dgm-eval's DINOv2Encoder (github.com/layer6ai-labs/dgm-eval)")

SPACES = {
    "inception": FeatureSpace(
        "inception", "Inception", 2048,
        "resize to 299 x 299 (--resize tensorflow | pytorch-fid | clean), scale to [-1, 1]",
        "TF-2015 Inception-v3 pool3 (FID's network; pytorch-fid's weights)"),
    "dinov2-vitl14": FeatureSpace(
        "dinov2-vitl14", "DINOv2", 1024,
        "PIL bicubic resize to 224 x 224 (no crop), /255, ImageNet mean/std; CLS token after the final norm",
        _DINOV2.format(arch="vit_large_patch14_dinov2"),
        "dinov2_vitl14_pretrain.pth",
        ("https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth",),
        # Meta publishes no checksum. This SHA-256 (1,217,586,395 bytes) is the one refiners pins for
        # this URL (github.com/finegrain-ai/refiners, src/refiners/conversion/models/dinov2.py,
        # expected_sha256 of "vitl14.pth"), and independent projects that verify the download pin it too.
        "d5383ea8f4877b2472eb973e0fd72d557c7da5d3611bd527ceeb1d7162cbf428"),
    "dinov2-vitb14": FeatureSpace(
        "dinov2-vitb14", "DINOv2-B14", 768,
        "PIL bicubic resize to 224 x 224 (no crop), /255, ImageNet mean/std; CLS token after the final norm",
        _DINOV2.format(arch="vit_base_patch14_dinov2"),
        "dinov2_vitb14_pretrain.pth",
        ("https://dl.fbaipublicfiles.com/dinov2/dinov2_vitb14/dinov2_vitb14_pretrain.pth",),
        # As above: refiners' expected_sha256 of "vitb14.pth" for this URL, pinned by other projects too.
        "0b8b82f85de91b424aded121c7e1dcc2b7bc6d0adeea651bf73a13307fad8c73"),
    "clip-vitb32": FeatureSpace(
        "clip-vitb32", "CLIP", 512,
        "PIL bicubic resize of the shorter side to 224, centre crop 224 x 224, /255, CLIP mean/std; "
        "image embedding (encode_image, after the projection, not normalised)",
        "open_clip ViT-B-32-quickgelu (pretrained=None) with OpenAI's ViT-B-32.pt; preprocessing of "
        "open_clip.create_model_and_transforms (OpenAI CLIP's)",
        "ViT-B-32.pt",
        ("https://openaipublic.azureedge.net/clip/models/"
         "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",),
        # OpenAI publishes each file's SHA-256 as the URL's last folder (openai/CLIP clip.py checks it).
        "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af"),
}


def get(name):
    """The FeatureSpace called `name` (None: the default); GanEvalError for an unknown name."""
    if name is None:
        name = DEFAULT
    if isinstance(name, FeatureSpace):
        return name
    space = SPACES.get(str(name).strip().lower())
    if space is None:
        raise GanEvalError(f"unknown feature space {name!r}; choose one of: {', '.join(SPACES)}")
    return space


def metric_name(metric, features=DEFAULT):
    """The honest name of `metric` ("fd" or "kd") in `features`: FID / KID for Inception,
    FD_<label> / KD_<label> otherwise."""
    space = get(features)
    base = {"fd": "FD", "fid": "FD", "kd": "KD", "kid": "KD"}[metric.lower()]
    return base[0] + "ID" if space.name == DEFAULT else f"{base}_{space.label}"
