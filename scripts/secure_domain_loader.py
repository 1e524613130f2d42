"""Reads a candidate Prosody config with Prosody's own loader (core.configmanager), when installed.

The candidate text goes in on stdin and is served to the loader in place of the file, so nothing
is written before it passes.
"""

import pathlib
import shutil
import subprocess

from secure_domain_files import Refusal

PROSODY_LIB = pathlib.Path("/usr/lib/prosody")
PROSODY_BIN = pathlib.Path("/usr/bin/prosody")
_LUA_NAMES = ("lua5.4", "lua5.3", "lua5.2", "lua5.1", "lua")

# Prints "ok" then `host<TAB>key<TAB>value` for each host and key asked, or "error<TAB>message".
_LOADER = r"""
local lib, path = arg[1], arg[2]
package.path = lib .. "/?.lua;" .. package.path
package.cpath = lib .. "/?.so;" .. package.cpath
local data = io.read("*a")
local real_open = io.open
io.open = function(name, ...)
  if name == path then
    return { read = function() return data end, close = function() end }
  end
  return real_open(name, ...)
end
local cm = require "core.configmanager"
local ok, _, err = cm.load(path, "lua")
if not ok then
  print("error\t" .. tostring(err):gsub("\n", " "))
  return
end
print("ok")
for i = 3, #arg - 1, 2 do
  local host, key = arg[i], arg[i + 1]
  local defined = rawget(cm.getconfig(), host) ~= nil
  print(host .. "\tdefined\t" .. tostring(defined))
  print(host .. "\t" .. key .. "\t" .. tostring(cm.get(host, key)))
end
"""


def _lua_binary() -> str | None:
    """The Lua that runs Prosody here: the one named on /usr/bin/prosody's #! line."""
    try:
        shebang = PROSODY_BIN.read_text(errors="replace").splitlines()[0]
        named = shebang.split()[-1]
        if named.startswith("lua") and shutil.which(named):
            return named
    except (OSError, IndexError):
        pass
    return next((n for n in _LUA_NAMES if shutil.which(n)), None)


def available() -> bool:
    return (PROSODY_LIB / "core" / "configmanager.lua").is_file() and _lua_binary() is not None


def _lua_string(value: str) -> str:
    """A Lua string literal for any text: every byte as a decimal escape."""
    return '"' + "".join(f"\\{b}" for b in value.encode()) + '"'


def read_values(path: str, text: str, queries: list[tuple[str, str]]) -> dict:
    """{(host, key): value as Lua prints it}, also (host, "defined"); Refusal on a load error."""
    args = [str(PROSODY_LIB), path]
    for host, key in queries:
        args += [host, key]
    # `lua -e` takes no arguments of its own, so they go in as a Lua table literal; the config
    # text goes in on stdin (the program never runs a file from disk).
    arg_table = "arg = {" + ", ".join(_lua_string(a) for a in args) + "}"
    result = subprocess.run(
        [_lua_binary(), "-e", arg_table + "\n" + _LOADER],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    lines = result.stdout.splitlines()
    if result.returncode != 0 or not lines:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise Refusal(f"Prosody's config loader failed to run: {detail}")
    if lines[0].startswith("error\t"):
        raise Refusal(f"the result would not load in Prosody: {lines[0][6:]}")
    values = {}
    for line in lines[1:]:
        host, key, value = line.split("\t", 2)
        values[(host, key)] = value
    return values
