"""Every threshold `tfx-prod init` decides with, and why it has that value.

One home: the schema, encoding, task and gate modules import these names, the
comments they write quote them, and the tests refer to them rather than to
numbers. Changing a rule here changes it everywhere.
"""
from pipeline import project

# --- Reading the CSV ---------------------------------------------------------
# Distinct values are counted exactly up to this many per column (bounded
# memory on big files). A text column past it is treated as an identifier or
# free text: a top-k vocabulary of more than this many values learns little.
DISTINCT_CAP = 100_000
# Tokens often meaning "missing": init suggests --null-values when a column
# holds them and they are not configured (it never assumes).
COMMON_NULL_TOKENS = ("NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None",
                      "none", "?", "-", "--", ".")
# A text column is reported as "numeric but for a few tokens" when at least
# this fraction of its non-blank cells are numbers and at most this many
# distinct other values remain (e.g. UCI's "?").
NUMERIC_BUT_FOR_FRACTION = 0.9
NUMERIC_BUT_FOR_MAX_TOKENS = 3

# --- Schema: presence -----------------------------------------------------------
# min_fraction = seen fraction - max(PRESENCE_MARGIN, PRESENCE_SIGMAS * its
# standard error), rounded down to 2 decimals. The standard error covers
# sampling noise of small spans; the 5-point floor covers a normal day-to-day
# wobble in how often a field is filled. Fully present columns get 1.0 (a
# blank there is new). A result <= 0 means "optional": min_count 0.
PRESENCE_MARGIN = 0.05
PRESENCE_SIGMAS = 4.0

# --- Schema: numeric ranges -----------------------------------------------------
# The domain is the seen range widened by RANGE_HEADROOM times its width on
# each side (seen 4..8 -> 0..12), rounded outward, so tomorrow's unusual but
# real value passes and a unit or sign error (x1000, negative) does not.
# Non-negative columns keep 0 as the floor: a negative amount is corruption.
# A long tail (skewness >= TAIL_MIN_SKEWNESS, Bulmer's "highly skewed") drops
# that side's bound: a sample's maximum says little about tomorrow's. On the
# breast-cancer table, columns with skewness 1.2..1.8 in one half exceed the
# widened maximum in the other half by up to 1.2 widths; below skewness 1 the
# other half stays within 0.1 widths.
RANGE_HEADROOM = 1.0
TAIL_MIN_SKEWNESS = 1.0

# --- Schema: string domains ----------------------------------------------------
# A text column gets a closed domain (every value seen) when it has at most
# STRING_DOMAIN_MAX_VALUES values and at least STRING_DOMAIN_MIN_ROWS_PER_VALUE
# rows per value on average: with fewer rows per value the sample has likely
# not seen them all yet. STRING_DOMAIN_MIN_MASS (the taxi schema's payment
# type rule) lets a new rare value through below 1% of rows and flags a new
# major one, or a renamed one.
STRING_DOMAIN_MAX_VALUES = 20
STRING_DOMAIN_MIN_ROWS_PER_VALUE = 10
STRING_DOMAIN_MIN_MASS = 0.99

# --- Drift (DriftCheck: the newest span against the served model's data) -------
# Two random halves of the taxi span measure <= 0.03 L-infinity on text
# columns and <= 0.002 Jensen-Shannon (over quantile buckets) on numbers;
# fares x1.5 read 0.12 and a quarter of cash trips moved to card 0.33.
DRIFT_L_INFINITY = 0.2
DRIFT_JENSEN_SHANNON = 0.1

# --- Encodings -------------------------------------------------------------------
# log_numeric ("heavily right-skewed"): no negative value and sample skewness
# (Fisher-Pearson g1) >= LOG_MIN_SKEWNESS. Above 1 is commonly called highly
# skewed; 2 keeps log1p for long-tailed amounts and counts (fares, incomes,
# sizes: skewness 3-10) and leaves moderately skewed columns linear, where
# z-scoring with clipping already copes.
LOG_MIN_SKEWNESS = 2.0
# integer_categorical: an integer column whose whole seen range low..high has
# at most this many values (hour 0..23, day 1..7, month 1..12, flags 0/1):
# one-hot over the range.
INTEGER_CATEGORICAL_MAX_SPAN = 24
# categorical integer codes: wider-spread integers with at most this many
# distinct values (e.g. 100/200/500/900) are labels, not amounts.
INTEGER_CODE_MAX_VALUES = 10
# Vocabulary size for categorical columns: every value when fewer.
CATEGORICAL_TOP_K = project.DEFAULT_TOP_K

# --- Columns proposed for `drop` ---------------------------------------------------
# Blank in at least this fraction of rows: too little to learn from.
MOSTLY_BLANK_FRACTION = 0.95
# Identifier-like: at least ID_MIN_ROWS non-blank rows (below that, all-unique
# is just a small sample) with at least ID_DISTINCT_FRACTION of them
# distinct. Text: always. Integers: only when dense (max - min + 1 <=
# ID_MAX_SPAN_PER_VALUE x distinct, a row number) or named like an id
# (ID_NAME_WORDS as the last word): unique integers spread widely may be real
# amounts. Decimal numbers are never ids.
ID_MIN_ROWS = 50
ID_DISTINCT_FRACTION = 0.95
ID_MAX_SPAN_PER_VALUE = 2
ID_NAME_WORDS = ("id", "uuid", "guid", "key", "index", "idx")

# --- Task inference ------------------------------------------------------------------
# 2 distinct label values: binary. Text with 3..MULTICLASS_MAX_TEXT_CLASSES:
# multiclass (more: refuse unless --task multiclass, it is likely not a class
# column). Integers with 3..MULTICLASS_MAX_INTEGER_CLASSES: class codes,
# multiclass; more integers, or any decimal numbers: regression.
MULTICLASS_MAX_TEXT_CLASSES = 100
MULTICLASS_MAX_INTEGER_CLASSES = 10
# Binary labels whose positive value is unambiguous (case-insensitive): one
# value from each set. Anything else needs --positive.
POSITIVE_WORDS = ("1", "true", "yes", "y", "t", "positive", "pos")
NEGATIVE_WORDS = ("0", "-1", "false", "no", "n", "f", "negative", "neg")

# --- Slices -----------------------------------------------------------------------------
# Up to MAX_SLICES categorical features with 2..SLICE_MAX_VALUES values, the
# fewest values first (large slices give stable per-slice metrics).
MAX_SLICES = 2
SLICE_MAX_VALUES = 10

# --- Gates ------------------------------------------------------------------------------
# Classification: AUC 0.5 is a coin flip; MIN_AUC asks that the model has
# learned something without assuming the data are easy (raise it once you
# know what your model reaches). Accuracy must reach the rate of always
# answering the majority class, less ACCURACY_MARGIN for the eval split's
# sampling noise.
MIN_AUC = 0.6
ACCURACY_MARGIN = 0.02
# Regression, in units of the label's standard deviation (std): predicting
# the mean scores RMSE = std, so MAX_RMSE_STD x std asks for at least
# 1 - 0.9^2 = 19% of the variance explained. A retrain may be worse than the
# served model by MAX_RMSE_INCREASE_STD x std (noise between retrains, the
# analogue of AUC's 0.002), a TFLite variant by QUANTIZATION_MAX_RMSE_STD
# x std (the analogue of the 0.01 AUC budget).
MAX_RMSE_STD = 0.9
MAX_RMSE_INCREASE_STD = 0.005
QUANTIZATION_MAX_RMSE_STD = 0.01
