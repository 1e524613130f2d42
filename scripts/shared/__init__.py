"""Code more than one tool needs (today: the config.js reader)."""
