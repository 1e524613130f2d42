"""Secure a Jitsi Meet install: run `python3 scripts/secure_domain` (see README.md here)."""
