"""Label Studio: our own local server, and (issue 3) push/pull of keyframes and verdicts."""
