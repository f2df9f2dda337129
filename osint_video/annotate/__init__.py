"""Human verification in Label Studio: push keyframes and verdict tasks, pull annotations back."""
