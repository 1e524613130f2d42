-- A test stand-in of our own for jitsi-meet's mod_muc_filter_access (whose code is not here):
-- the same option, muc_filter_whitelist, with the behaviour jitsi-meet's module has. On a MUC
-- component, presence (a join) from a JID whose host is not listed is dropped before it reaches
-- the rooms, without an answer, and logged; no list at all leaves the module inactive.
local jid = require "util.jid";

local whitelist = module:get_option_set("muc_filter_whitelist");
if not whitelist then
	module:log("warn", "muc_filter_whitelist is not set: the filter is off");
	return;
end

local function filter(event)
	local stanza = event.stanza;
	local _, host = jid.split(stanza.attr.from);
	if stanza.attr.from and whitelist:contains(host) then
		return; -- on to the MUC
	end
	module:log("error", "Filtering unauthorized presence from %s to %s", tostring(stanza.attr.from),
		tostring(stanza.attr.to));
	return true;
end

-- Far above mod_muc's own handlers, for the component's, a room's and an occupant's JIDs.
for _, kind in ipairs({ "host", "bare", "full" }) do
	module:hook("presence/" .. kind, filter, 2000);
end
