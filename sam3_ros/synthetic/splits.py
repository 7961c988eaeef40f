"""The seed ranges of the synthetic splits: training, validation (thresholds are calibrated on it)
and test (figures are reported on it). A held-out seed is never used in training."""

TEST_SEEDS = range(0, 1000)
VALIDATION_SEEDS = range(1000, 2000)
TRAIN_SEED_START = 1_000_000  # training sample n is drawn from seed TRAIN_SEED_START + n
