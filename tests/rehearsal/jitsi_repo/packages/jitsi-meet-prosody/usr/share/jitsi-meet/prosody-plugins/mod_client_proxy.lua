-- Rehearsal stand-in for Jitsi's mod_client_proxy, written for the rehearsal packages.
--
--   Component "focus.DOMAIN" "client_proxy"
--       target_address = "focus@auth.DOMAIN"
--
-- jicofo logs in as an ordinary client (target_address); this component lets the web client
-- talk to it as focus.DOMAIN. A stanza from user U to focus.DOMAIN goes to the target's session
-- with the sender in the local part, from = escape(U)@focus.DOMAIN (XEP-0106 escaping, so a full
-- JID fits). What the target sends to such an address goes back to U from focus.DOMAIN.
-- The target is found among this server's own sessions, so no roster subscription is needed.
local jid = require "util.jid";
local st = require "util.stanza";

local target = jid.prep(module:get_option_string("target_address", ""));
if not target or not jid.split(target) then
	module:log("error", "target_address must be a bare JID like focus@auth.example.com");
	return;
end
target = jid.bare(target);

local function is_request(stanza)
	return stanza.name == "iq" and (stanza.attr.type == "get" or stanza.attr.type == "set");
end

-- The target's session that should get the stanza: an available one, the highest priority.
local function target_session()
	local account = prosody.bare_sessions[target];
	if not account then return nil; end
	local best;
	for _, session in pairs(account.sessions) do
		if session.presence and (not best or (session.priority or 0) > (best.priority or 0)) then
			best = session;
		end
	end
	return best;
end

-- A user (or anyone but the target) wrote to focus.DOMAIN: hand it to the target.
local function from_client(event)
	local stanza = event.stanza;
	local sender = stanza.attr.from;
	if not sender or jid.bare(sender) == target then
		return true; -- the target itself has nothing to say to its own proxy
	end
	local session = target_session();
	if not session then
		-- As for a component that is not connected: the client waits and asks again.
		if is_request(stanza) then
			module:send(st.error_reply(stanza, "cancel", "service-unavailable", "focus is offline"));
		end
		return true;
	end
	local forwarded = st.clone(stanza);
	forwarded.attr.from = jid.join(jid.escape(sender), module.host);
	forwarded.attr.to = session.full_jid;
	module:send(forwarded);
	return true;
end

-- The target wrote to escape(U)@focus.DOMAIN: relay it to U from focus.DOMAIN.
local function from_target(event)
	local stanza = event.stanza;
	local sender = stanza.attr.from;
	if not sender or jid.bare(sender) ~= target then
		if is_request(stanza) then
			module:send(st.error_reply(stanza, "cancel", "not-allowed"));
		end
		return true;
	end
	local node = jid.split(stanza.attr.to);
	local client = node and jid.prep(jid.unescape(node));
	if not client then return true; end
	local relayed = st.clone(stanza);
	relayed.attr.from = module.host;
	relayed.attr.to = client;
	module:send(relayed);
	return true;
end

for _, kind in ipairs({ "iq", "message", "presence" }) do
	module:hook(kind .. "/host", from_client);
	module:hook(kind .. "/bare", from_target);
	module:hook(kind .. "/full", from_target);
end

module:log("info", "proxying %s to %s", module.host, target);
