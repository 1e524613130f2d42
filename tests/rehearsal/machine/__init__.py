"""A fresh Compute Engine VM on this machine, for the rehearsal (see vm.py)."""
