-- Test-only auth provider for a server that must never exist: it accepts ANY password for any
-- user (SASL PLAIN only, the one mechanism that can check a password it does not know). The
-- probe must see through it: its wrong-password attempt has to FAIL check 3.
local new_sasl = require "util.sasl".new;

local provider = {};

function provider.test_password()
	return true;
end

function provider.user_exists()
	return true;
end

function provider.get_password()
	return nil, "Password not available.";
end

function provider.set_password()
	return nil, "Password changes not supported.";
end

function provider.create_user()
	return nil, "Account creation/modification not supported.";
end

function provider.users()
	return function() return nil; end;
end

function provider.get_sasl_handler()
	return new_sasl(module.host, {
		plain_test = function(_, username) return true, true; end;
	});
end

module:provides("auth", provider);
