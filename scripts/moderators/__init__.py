"""Moderator accounts: run `python3 scripts/moderators` (see README.md here)."""
