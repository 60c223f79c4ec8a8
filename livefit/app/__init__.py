"""What a user runs: the demo on the bundled coach (and, later, the live coach and web app)."""
