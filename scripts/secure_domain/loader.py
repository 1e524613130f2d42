"""Reads a candidate Prosody config with Prosody's own loader (core.configmanager), when installed.

The candidate text goes in on stdin and is served to the loader in place of the file, so nothing
is written before it passes.
"""

import pathlib
import shutil
import subprocess

from .files import Refusal

PROSODY_LIB = pathlib.Path("/usr/lib/prosody")
PROSODY_BIN = pathlib.Path("/usr/bin/prosody")
SHARED_LUA = pathlib.Path("/usr/share/lua")
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
-- Debian's prosody keeps its sources in lib (/usr/lib/prosody); Prosody 13 from Prosody's own
-- repository (what Jitsi installs on Debian 12 and Ubuntu) is a Lua library found as
-- "prosody.core.configmanager" under /usr/share/lua/5.x/.
if not pcall(require, "prosody.loader") then
  pcall(require, "loader")
end
local found, cm = pcall(require, "prosody.core.configmanager")
if not found then
  found, cm = pcall(require, "core.configmanager")
end
if not found then
  print("noloader\t" .. tostring(cm):gsub("\n", " "))
  return
end
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
    """The Lua that runs Prosody here: the one named on /usr/bin/prosody's #! line.

    Debian's prosody says `#!/usr/bin/env lua5.4`; Prosody's own repository builds for several
    Lua versions at once and may name plain `lua` (the alternatives link) or a full path.
    """
    try:
        shebang = PROSODY_BIN.read_text(errors="replace").splitlines()[0].removeprefix("#!")
        named = shebang.split()[-1]
        if pathlib.PurePath(named).name.startswith("lua") and shutil.which(named):
            return named
    except (OSError, IndexError):
        pass
    return next((n for n in _LUA_NAMES if shutil.which(n)), None)


def available() -> bool:
    """Prosody's loader is here: in Debian's layout (/usr/lib/prosody/core/) or, for Prosody 13
    from Prosody's repository, as the Lua library /usr/share/lua/5.x/prosody/core/."""
    installed = (PROSODY_LIB / "core" / "configmanager.lua").is_file() or any(
        SHARED_LUA.glob("5.*/prosody/core/configmanager.lua")
    )
    return installed and _lua_binary() is not None


def _lua_string(value: str) -> str:
    """A Lua string literal for any text: every byte as a decimal escape."""
    return '"' + "".join(f"\\{b}" for b in value.encode()) + '"'


def read_values(path: str, text: str, queries: list[tuple[str, str]]) -> dict | None:
    """{(host, key): value as Lua prints it}, also (host, "defined"); Refusal on a load error;
    None when that Lua cannot find Prosody's loader after all."""
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
        # Lua prints the error first, then its stack traceback: the first line says what broke.
        detail = (result.stderr.strip().splitlines() or ["no output"])[0]
        raise Refusal(f"Prosody's config loader failed to run: {detail}")
    if lines[0].startswith("noloader\t"):
        # Files there, but not for the Lua that runs Prosody: Prosody's own check cannot run
        # here, which is no reason to refuse (our own parser has already passed the text).
        return None
    if lines[0].startswith("error\t"):
        raise Refusal(f"the result would not load in Prosody: {lines[0][6:]}")
    values = {}
    for line in lines[1:]:
        host, key, value = line.split("\t", 2)
        values[(host, key)] = value
    return values
