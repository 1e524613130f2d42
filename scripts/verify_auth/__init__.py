"""The probe: run `python3 scripts/verify_auth` (see README.md here)."""
