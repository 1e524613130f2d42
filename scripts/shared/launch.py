"""What every Python tool does first when it runs as `python3 scripts/<tool>`."""

import contextlib
import os


def forget_cached_main(main_file: str) -> None:
    """Python compiles a folder's __main__.py through its import system, and caches it, before
    running it (a plain script is never cached). The deployment ships scripts/ whole, so take
    that copy back; the deployment's own steps run `python3 -B` and write none."""
    cache = os.path.join(os.path.dirname(os.path.abspath(main_file)), "__pycache__")
    with contextlib.suppress(OSError):
        for name in os.listdir(cache):
            if name.startswith("__main__."):
                os.remove(os.path.join(cache, name))
        os.rmdir(cache)
