-- 0003: a rejected payment always counts. Before, a row the seller refused
-- stopped counting once its authorization's validBefore passed by the
-- ledger's clock: a seller could settle the authorization, answer 402, and
-- so spend past every budget while the books said "not charged". Now it
-- counts like an unknown one, until reconciliation proves its nonce unused
-- on chain at a block past validBefore (released) or used (settled).
--
-- The counting set of the running sums becomes reserved, signed, settled,
-- unknown and rejected: the triggers of 0001 and 0002 are recreated with it,
-- and every sum is rebuilt from the rows, exactly (it now includes the
-- rejected rows, expired or not). The read-time addition of rejected rows
-- and its index are gone.

DROP INDEX payments_rejected;

DROP TRIGGER payments_count_insert;
DROP TRIGGER payments_count_again;
DROP TRIGGER payments_uncount;
DROP TRIGGER payments_tip_count_insert;
DROP TRIGGER payments_tip_count_again;
DROP TRIGGER payments_tip_uncount;

CREATE TRIGGER payments_count_insert AFTER INSERT ON payments
WHEN NEW.state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
BEGIN
	INSERT INTO spend (scope, key, amount, n) VALUES
		('total', '', NEW.amount, 1),
		('tool', NEW.tool, NEW.amount, 1),
		('host', NEW.host, NEW.amount, 1),
		('session', NEW.session, NEW.amount, 1),
		('network', NEW.network, NEW.amount, 1),
		('hour', printf('%010d', NEW.created_at / 3600000), NEW.amount, 1)
	ON CONFLICT (scope, key) DO UPDATE SET amount = amount + excluded.amount, n = n + excluded.n;
END;

CREATE TRIGGER payments_count_again AFTER UPDATE OF state ON payments
WHEN OLD.state NOT IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
	AND NEW.state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
BEGIN
	INSERT INTO spend (scope, key, amount, n) VALUES
		('total', '', NEW.amount, 1),
		('tool', NEW.tool, NEW.amount, 1),
		('host', NEW.host, NEW.amount, 1),
		('session', NEW.session, NEW.amount, 1),
		('network', NEW.network, NEW.amount, 1),
		('hour', printf('%010d', NEW.created_at / 3600000), NEW.amount, 1)
	ON CONFLICT (scope, key) DO UPDATE SET amount = amount + excluded.amount, n = n + excluded.n;
END;

CREATE TRIGGER payments_uncount AFTER UPDATE OF state ON payments
WHEN OLD.state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
	AND NEW.state NOT IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
BEGIN
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1 WHERE scope = 'total' AND key = '';
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1 WHERE scope = 'tool' AND key = OLD.tool;
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1 WHERE scope = 'host' AND key = OLD.host;
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1 WHERE scope = 'session' AND key = OLD.session;
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1 WHERE scope = 'network' AND key = OLD.network;
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1
		WHERE scope = 'hour' AND key = printf('%010d', OLD.created_at / 3600000);
END;

CREATE TRIGGER payments_tip_count_insert AFTER INSERT ON payments
WHEN NEW.kind = 'tip' AND NEW.state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
BEGIN
	INSERT INTO spend (scope, key, amount, n) VALUES ('tip_hour', printf('%010d', NEW.created_at / 3600000), NEW.amount, 1)
	ON CONFLICT (scope, key) DO UPDATE SET amount = amount + excluded.amount, n = n + excluded.n;
END;

CREATE TRIGGER payments_tip_count_again AFTER UPDATE OF state ON payments
WHEN NEW.kind = 'tip' AND OLD.state NOT IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
	AND NEW.state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
BEGIN
	INSERT INTO spend (scope, key, amount, n) VALUES ('tip_hour', printf('%010d', NEW.created_at / 3600000), NEW.amount, 1)
	ON CONFLICT (scope, key) DO UPDATE SET amount = amount + excluded.amount, n = n + excluded.n;
END;

CREATE TRIGGER payments_tip_uncount AFTER UPDATE OF state ON payments
WHEN OLD.kind = 'tip' AND OLD.state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
	AND NEW.state NOT IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
BEGIN
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1
		WHERE scope = 'tip_hour' AND key = printf('%010d', OLD.created_at / 3600000);
END;

-- Rebuild every running sum from the rows. The sums of the counting states
-- were exact for reserved, signed, settled and unknown; adding the rejected
-- rows to each scope by hand would be exact too, but recomputing them all
-- from the rows leaves nothing to trust but the rows.
DELETE FROM spend;

INSERT INTO spend (scope, key, amount, n)
	SELECT 'total', '', SUM(amount), COUNT(*) FROM payments
	WHERE state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
	GROUP BY 1;

INSERT INTO spend (scope, key, amount, n)
	SELECT 'tool', tool, SUM(amount), COUNT(*) FROM payments
	WHERE state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected') GROUP BY tool;

INSERT INTO spend (scope, key, amount, n)
	SELECT 'host', host, SUM(amount), COUNT(*) FROM payments
	WHERE state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected') GROUP BY host;

INSERT INTO spend (scope, key, amount, n)
	SELECT 'session', session, SUM(amount), COUNT(*) FROM payments
	WHERE state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected') GROUP BY session;

INSERT INTO spend (scope, key, amount, n)
	SELECT 'network', network, SUM(amount), COUNT(*) FROM payments
	WHERE state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected') GROUP BY network;

INSERT INTO spend (scope, key, amount, n)
	SELECT 'hour', printf('%010d', created_at / 3600000), SUM(amount), COUNT(*) FROM payments
	WHERE state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected') GROUP BY 2;

INSERT INTO spend (scope, key, amount, n)
	SELECT 'tip_hour', printf('%010d', created_at / 3600000), SUM(amount), COUNT(*) FROM payments
	WHERE kind = 'tip' AND state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected') GROUP BY 2;

INSERT INTO spend (scope, key, amount, n)
	SELECT 'settled', '', SUM(amount), COUNT(*) FROM payments WHERE state = 'settled'
	GROUP BY 1;
