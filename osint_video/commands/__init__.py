"""CLI command groups beyond triage/queue, one module per capability, each with `register(app)`.

A command imports the library it calls inside its body: `--help`, `queue list` or `verify`
then do not pay for decoding, hashing and report rendering they never use (the pipeline's
imports are ~0.5 s of a 0.9 s start; `test_triage_cli` checks that `--help` stays light).
"""
