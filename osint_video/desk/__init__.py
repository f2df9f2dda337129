"""A shared verification desk: the queue workflow (workflow.py) and URL intake (intake.py)."""
