"""Protocol constants, in one place so the CLI and the Python API can never disagree."""

import numpy as np

# Fréchet Inception Distance
FID_DIMS = 2048
RESIZE_MODES = ("tensorflow", "pytorch-fid", "clean")
DEFAULT_RESIZE = "tensorflow"
INCEPTION_SIZE = 299
DEFAULT_BATCH_SIZE = 50

# Inception Score (Salimans et al. 2016, OpenAI's code): 10 splits over a seeded shuffle.
IS_SPLITS = 10
IS_SEED = 0

# KID (Bińkowski et al. 2018): 100 subsets of 1000, cubic polynomial kernel.
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
KID_DEGREE = 3
KID_COEF = 1.0
KID_SEED = 0

# Precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020).
PR_K = 3
DC_K = 5

# Parzen window (Goodfellow et al. 2014, the paper's code): sigma grid and sample counts.
PARZEN_SIGMAS = np.logspace(-1, 0, 10)
PARZEN_N_CENTRES = 10_000
PARZEN_N_VALIDATION = 1_000

# Mode coverage (PacGAN / VEEGAN protocol)
MODES_STD_THRESHOLD = 3.0
MODES_MIN_COUNT = 1

# Default seed for everything else that draws random numbers.
SEED = 0

# k-NN code keeps blocks of at most this many distance entries in memory (float32: 256 MiB).
KNN_BLOCK_ELEMENTS = 1 << 26

# HYPE human evaluation (Zhou et al. 2019): images per rater (half real, half fake), bootstrap
# replicates for the 95% interval, and the HYPE_time staircase (exposure grid in ms; 3 correct
# answers in a row shorten the exposure by one step, one wrong answer lengthens it by one step).
HYPE_N = 100
HYPE_BOOTSTRAP = 2000
HYPE_TIME_MIN_MS = 100
HYPE_TIME_MAX_MS = 1000
HYPE_TIME_STEP_MS = 10
HYPE_TIME_START_MS = 500
HYPE_TIME_DOWN_AFTER = 3

# Parzen window: a block of (test rows x centres) float32 distances holds at most this many entries (64 MiB).
PARZEN_BLOCK_ELEMENTS = 1 << 24

# MMD: the median-heuristic bandwidth is taken over the pairs of at most this many pooled points
# (a seeded subsample above that).
MMD_MEDIAN_MAX_POINTS = 4000

# k-NN divergence estimators (Wang, Kulkarni & Verdú 2009; Kozachenko-Leonenko entropies): default k.
DIVERGENCE_K = 5

# Bootstrap confidence intervals (gan_eval/metrics/bootstrap.py): level and replicates.
CI_LEVEL = 0.95
BOOTSTRAP_REPLICATES = 200
