"""Migration scripts, one per revision, chained by fixed ids (0001_baseline, 0002_queue...)."""
