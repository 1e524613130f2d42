"""Prosody as the moderator tool meets it: where prosodyctl is, what the config says, commands.

The config is read by Prosody's own loader (core.configmanager) under the Lua interpreter that
prosodyctl itself runs on, so includes, globals and per-host overrides mean exactly what they mean
to Prosody; this works on 0.12 and 13 alike.
"""

import os
import re
import subprocess

# Used when prosodyctl does not name its config directory. Its source directory has no default:
# a prosodyctl that names none (Prosody's own packages) finds Prosody on Lua's module path.
DEFAULT_CONFIG_DIR = "/etc/prosody"
DEFAULT_DATA_DIR = "/var/lib/prosody"

# Prints one tab-separated verdict about the host: noloader / unloadable / absent / component /
# disabled / host <authentication>. Globals count: a host inherits "authentication" from the
# global section.
_HOST_CHECK_LUA = r"""
local source_dir, config_file, host = arg[1], arg[2], arg[3]
-- As prosodyctl does: its CFG_SOURCEDIR first where it names one (Debian's packages:
-- /usr/lib/prosody), else Lua's own path, where Prosody 13 from Prosody's repository (what
-- Jitsi installs on Debian 12 and Ubuntu) lives as the library /usr/share/lua/5.x/prosody/.
if source_dir ~= "" then
  package.path = source_dir .. "/?.lua;" .. package.path
  package.cpath = source_dir .. "/?.so;" .. package.cpath
end
if not pcall(require, "prosody.loader") then
  pcall(require, "loader") -- Prosody 13: lets its modules find each other as prosody.*
end
local found, configmanager = pcall(require, "prosody.core.configmanager")
if not found then
  found, configmanager = pcall(require, "core.configmanager") -- Prosody 0.12
end
if not found then
  print("noloader", (tostring(configmanager):gsub("[\r\n].*", "")))
  return
end
local ok, level, err = configmanager.load(config_file)
if not ok then
  print("unloadable", level, (tostring(err):gsub("[\r\n].*", "")))
  return
end
local section = rawget(configmanager.getconfig(), host) -- rawget: unknown hosts fall back to "*"
if section == nil then
  print("absent")
elseif rawget(section, "component_module") then
  print("component", rawget(section, "component_module"))
elseif configmanager.get(host, "enabled") == false then
  print("disabled")
else
  print("host", tostring(configmanager.get(host, "authentication")))
end
"""


# For each "name<TAB>password" line on stdin (split on the first tab: names have none), prints
# "name<TAB>match|differs|absent|unknown": whether the stored account already holds that password,
# judged with Prosody's own storage and SCRAM code exactly as mod_auth_internal_hashed's
# test_password does. One process for any number of accounts: the Lua start and the config load
# are paid once, the key derivation (PBKDF2) once per account. Only the file storage ("internal")
# is read; with any other storage it prints "*<TAB>unknown", and the caller sets every password.
_STORED_ACCOUNTS_CHECK_LUA = r"""
local source_dir, config_file, data_dir, host = arg[1], arg[2], arg[3], arg[4]
if source_dir ~= "" then
  package.path = source_dir .. "/?.lua;" .. package.path
  package.cpath = source_dir .. "/?.so;" .. package.cpath
end
if not pcall(require, "prosody.loader") then pcall(require, "loader") end
local function need(name)
  local ok, found = pcall(require, "prosody." .. name)
  if ok then return found end
  return require(name)
end
local configmanager = need("core.configmanager")
if not configmanager.load(config_file) then print("*\tunknown") return end
local storage = configmanager.get(host, "storage")
if type(storage) == "table" then storage = storage.accounts or storage.default end
if storage ~= nil and storage ~= "internal" then print("*\tunknown") return end
local datamanager = need("util.datamanager")
datamanager.set_data_path(configmanager.get("*", "data_path") or data_dir)
local scram, hex = need("util.sasl.scram"), need("util.hex")
local hash = configmanager.get(host, "password_hash") or "SHA-1"
local derive = (scram.hashers or {})[hash]
  or (hash == "SHA-1" and scram.getAuthenticationDatabaseSHA1)
if not derive then print("*\tunknown") return end
local function verdict(user, password)
  local account = datamanager.load(user, host, "accounts")
  if not account then return "absent" end
  if not (account.salt and account.iteration_count and account.stored_key) then
    return "unknown"
  end
  local ok, stored_key, server_key = derive(password, account.salt, account.iteration_count)
  local same = ok and hex.encode(stored_key) == account.stored_key
    and hex.encode(server_key) == account.server_key
  return same and "match" or "differs"
end
for line in io.lines() do
  local user, password = line:match("^([^\t]*)\t(.*)$")
  if user then print(user .. "\t" .. verdict(user, password)) end
end
"""


class ProsodyError(Exception):
    """Prosody or its tools failed; the text is a one-line reason without any secret."""


class Prosodyctl:
    """The prosodyctl on PATH, with the interpreter and directories it declares."""

    def __init__(self, config: str | None, timeout: float):
        found = _on_path("prosodyctl")
        if found is None:
            raise ProsodyError(
                "prosodyctl not found on PATH; install Prosody (apt install prosody)"
            )
        self.path = found
        with open(found, encoding="utf-8", errors="replace") as f:
            text = f.read()
        self.source_dir = _lua_setting(text, "CFG_SOURCEDIR") or ""
        config_dir = _lua_setting(text, "CFG_CONFIGDIR") or DEFAULT_CONFIG_DIR
        self.data_dir = _lua_setting(text, "CFG_DATADIR") or DEFAULT_DATA_DIR
        self.config = config or f"{config_dir}/prosody.cfg.lua"
        self.explicit_config = config is not None
        self.interpreter = _shebang(text, found)
        self.timeout = timeout

    def host_verdict(self, host: str) -> list[str]:
        """Prosody's own reading of `host` in the config, as printed by _HOST_CHECK_LUA."""
        argv = [*self.interpreter, "-", self.source_dir, self.config, host]
        done = self._run(argv, _HOST_CHECK_LUA, "reading the Prosody config")
        if done.returncode != 0 or not done.stdout.strip():
            raise ProsodyError(
                f"could not read {self.config} with Prosody's config loader: "
                f"{summary(done.stdout + done.stderr) or f'exit {done.returncode}'}"
            )
        verdict = done.stdout.strip().split("\t")
        if verdict[0] == "noloader":
            raise ProsodyError(
                f"{self.interpreter[0]} cannot load Prosody's config loader "
                f"(core.configmanager; prosodyctl's source dir: {self.source_dir or 'none'}): "
                f"{verdict[-1]}"
            )
        return verdict

    def holds_password(self, user: str, host: str, password: str) -> bool:
        """Whether the stored account already has `password` (False when absent or unknown)."""
        return self.stored_verdicts(host, {user: password})[user] == "match"

    def stored_verdicts(self, host: str, passwords: dict[str, str]) -> dict[str, str]:
        """For each user: "match", "differs", "absent" or "unknown", from ONE Lua process.

        The script goes in arguments (`-e`), so that stdin carries the names and passwords
        alone: never an argument, the environment or a file."""
        if not passwords:
            return {}
        values = (self.source_dir, self.config, self.data_dir, host)
        arguments = "arg = {" + ", ".join(_lua_string(v) for v in values) + "}"
        argv = [*self.interpreter, "-e", arguments, "-e", _STORED_ACCOUNTS_CHECK_LUA]
        pairs = "".join(f"{user}\t{password}\n" for user, password in passwords.items())
        done = self._run(argv, pairs, "checking the stored passwords")
        said = dict(line.split("\t", 1) for line in done.stdout.splitlines() if "\t" in line)
        # A failed or cut-short check only costs writes: what it did not confirm gets set.
        return {user: said.get(user, said.get("*", "unknown")) for user in passwords}

    def account_command(self, command: str, jid: str, stdin: str = "") -> tuple[bool, str]:
        """Runs `prosodyctl COMMAND JID` with `stdin`; whether it succeeded, and what it said."""
        config = ["--config", self.config] if self.explicit_config else []
        done = self._run([self.path, *config, command, jid], stdin, f"prosodyctl {command}")
        return done.returncode == 0, done.stdout + done.stderr

    def _run(self, argv: list[str], stdin: str, what: str) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(
                argv, input=stdin, capture_output=True, text=True, timeout=self.timeout
            )
        except subprocess.TimeoutExpired as e:
            raise ProsodyError(
                f"{what} did not finish within {self.timeout:g} s; "
                "is Prosody running and answering? (systemctl status prosody)"
            ) from e
        except OSError as e:
            raise ProsodyError(f"{what} could not start: {e.strerror} ({argv[0]})") from e


def _lua_string(text: str) -> str:
    """A Lua string literal holding `text` (paths and names; escaped all the same)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _on_path(name: str) -> str | None:
    """shutil.which, which python3-minimal (all some servers have) does not ship."""
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(folder or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _lua_setting(text: str, name: str) -> str | None:
    """A `NAME='value'` line of the kind Prosody's build writes at the top of prosodyctl."""
    match = re.search(rf"^{name}\s*=\s*(['\"])([^'\"]*)\1", text, re.MULTILINE)
    return match.group(2) if match else None


def _shebang(text: str, path: str) -> list[str]:
    """The interpreter command of a `#!` line; `/usr/bin/env lua5.4` becomes `lua5.4`."""
    first = text.split("\n", 1)[0]
    words = first[2:].split() if first.startswith("#!") else []
    if words and os.path.basename(words[0]) == "env":
        words = [w for w in words[1:] if not w.startswith("-")]
    if not words:
        raise ProsodyError(f"{path} has no #! line naming its Lua interpreter; reinstall Prosody")
    return words


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PROMPTS = ("Enter new password:", "Retype new password:")


def summary(output: str, count: int = 3) -> str:
    """The last meaningful lines of a tool's output joined into one: no colour codes, no password
    prompts (prosodyctl 13 says "Unable to connect ... is it running?" then the socket error)."""
    lines = []
    for raw in _ANSI.sub("", output).splitlines():
        line = raw.strip()
        for prompt in _PROMPTS:
            line = line.replace(prompt, "").strip()
        if line:
            lines.append(line)
    return " ".join(lines[-count:])
