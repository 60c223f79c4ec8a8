"""Contact sheet placeholder replaced below."""
