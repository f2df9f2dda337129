"""The pipeline's steps, one module each, on one seam (`base.Step`).

`pipeline.py` lists them in order; `base.run_steps` runs such a list (progress, failure
records, the commit, resume). The steps of intake (sniff, ingest, probe, acquire) are plain
functions in `intake.py`: they run before a clip exists, under the ingest lock.
"""
