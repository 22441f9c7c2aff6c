-- 0007: usage-priced payments (x402's upto). The payer signs a maximum and
-- the seller settles what the call used, from nothing up to it.
--
-- `authorized` is the maximum an upto payment signed (0 for a payment of
-- exactly its amount). Its `amount` starts at the maximum, so that every
-- budget counts the most that could leave the wallet; when the payment
-- settles for less (the seller's settlement response, or the transfer that
-- used it, read on chain), `amount` is lowered, once or more, never raised
-- and never below zero, and every running sum that counted it gives back
-- the difference in the same statement. Nothing else may change a row's
-- amount, tool, host, session, network or creation time. (0006_principal's
-- trigger already refuses any change of principal.)

ALTER TABLE payments ADD COLUMN authorized INTEGER NOT NULL DEFAULT 0 CHECK (authorized >= 0);

DROP TRIGGER payments_immutable;

CREATE TRIGGER payments_immutable BEFORE UPDATE OF amount, tool, host, session, network, created_at ON payments
WHEN NEW.tool IS NOT OLD.tool OR NEW.host IS NOT OLD.host OR NEW.session IS NOT OLD.session
	OR NEW.network IS NOT OLD.network OR NEW.created_at IS NOT OLD.created_at
	OR (NEW.amount IS NOT OLD.amount AND NOT (OLD.authorized > 0 AND NEW.amount < OLD.amount AND NEW.state = 'settled'
		AND OLD.state IN ('signed', 'unknown', 'rejected', 'settled')))
BEGIN
	SELECT RAISE(ABORT, 'ledger: amount, tool, host, session, network and created_at never change (an upto payment''s amount is only lowered, to what settled)');
END;

-- An upto payment settled for less than its maximum: every sum that
-- counted the maximum gives back the rest. The row counted before and
-- after (it moves between counted states, into settled), so the counting
-- triggers of 0004 and 0006 do not fire for it; the settled sums count
-- the new amount already when the row becomes settled now
-- (payments_settled, payments_principal_settled), and give back the rest
-- when it was settled before. A principal's payment gives the rest back to
-- its principal's own sums (0006's principal, principal_tool,
-- principal_hour and principal_settled) as well as to the gateway's.
CREATE TRIGGER payments_amount_lowered AFTER UPDATE OF amount ON payments
WHEN NEW.amount < OLD.amount
BEGIN
	UPDATE spend SET amount = amount - (OLD.amount - NEW.amount) WHERE scope = 'total' AND unit = OLD.unit AND key = '';
	UPDATE spend SET amount = amount - (OLD.amount - NEW.amount) WHERE scope = 'tool' AND unit = OLD.unit AND key = OLD.tool;
	UPDATE spend SET amount = amount - (OLD.amount - NEW.amount) WHERE scope = 'host' AND unit = OLD.unit AND key = OLD.host;
	UPDATE spend SET amount = amount - (OLD.amount - NEW.amount) WHERE scope = 'session' AND unit = OLD.unit AND key = OLD.session;
	UPDATE spend SET amount = amount - (OLD.amount - NEW.amount) WHERE scope = 'network' AND unit = OLD.unit AND key = OLD.network;
	UPDATE spend SET amount = amount - (OLD.amount - NEW.amount)
		WHERE scope = 'hour' AND unit = OLD.unit AND key = printf('%010d', OLD.created_at / 3600000);
	UPDATE spend SET amount = amount - (OLD.amount - NEW.amount)
		WHERE OLD.kind = 'tip' AND scope = 'tip_hour' AND unit = OLD.unit AND key = printf('%010d', OLD.created_at / 3600000);
	UPDATE spend SET amount = amount - (OLD.amount - NEW.amount)
		WHERE OLD.state = 'settled' AND scope = 'settled' AND unit = OLD.unit AND key = '';
	UPDATE spend SET amount = amount - (OLD.amount - NEW.amount)
		WHERE OLD.principal <> '' AND scope = 'principal' AND unit = OLD.unit AND key = OLD.principal;
	UPDATE spend SET amount = amount - (OLD.amount - NEW.amount)
		WHERE OLD.principal <> '' AND scope = 'principal_tool' AND unit = OLD.unit AND key = OLD.principal || '/' || OLD.tool;
	UPDATE spend SET amount = amount - (OLD.amount - NEW.amount)
		WHERE OLD.principal <> '' AND scope = 'principal_hour' AND unit = OLD.unit
			AND key = OLD.principal || '/' || printf('%010d', OLD.created_at / 3600000);
	UPDATE spend SET amount = amount - (OLD.amount - NEW.amount)
		WHERE OLD.principal <> '' AND OLD.state = 'settled' AND scope = 'principal_settled' AND unit = OLD.unit AND key = OLD.principal;
END;
