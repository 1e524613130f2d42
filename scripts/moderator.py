#!/usr/bin/env python3
"""The moderator tool at its path before scripts/ had one folder per tool: runs scripts/moderators.

Stacks deployed before that change hold one account resource per moderator whose stored delete
runs `sudo python3 DIR/moderator.py remove NAME --domain D` when the upgraded program drops it.
It must reach today's tool, which keeps every account still in the stack's list.
"""

import os
import runpy
import sys

sys.dont_write_bytecode = True
sys.path[0] = os.path.dirname(os.path.abspath(__file__))
runpy.run_module("moderators", run_name="__main__", alter_sys=True)
