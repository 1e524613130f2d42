-- A test stand-in of our own for jitsi-meet's mod_muc_filter_access (whose code is not here):
-- the same option, muc_filter_whitelist, with the behaviour the tests rely on. On a MUC
-- component, presence (a join) from a JID whose host is not listed never reaches the rooms;
-- the sender gets a not-allowed error, so a refused join fails at once instead of timing out.
local jid = require "util.jid";
local st = require "util.stanza";

local whitelist = module:get_option_set("muc_filter_whitelist", {});

local function filter(event)
	local stanza = event.stanza;
	local _, host = jid.split(stanza.attr.from);
	if whitelist:contains(host) then
		return; -- on to the MUC
	end
	module:log("info", "refused presence from %s to %s", stanza.attr.from, stanza.attr.to);
	if stanza.attr.type ~= "error" then
		event.origin.send(st.error_reply(stanza, "cancel", "not-allowed"));
	end
	return true;
end

-- Above mod_muc's own handlers (priority 0 and below), for a room's bare and full JIDs.
module:hook("presence/bare", filter, 100);
module:hook("presence/full", filter, 100);
