"""The certificate nginx serves: run `python3 scripts/certificate` (see README.md here)."""
