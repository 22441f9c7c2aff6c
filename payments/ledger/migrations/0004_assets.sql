-- 0004: every row names its asset, and the running sums are kept per asset.
--
-- A row's amount is in its asset's atomic units: `symbol` and `decimals` say
-- how it reads ('USDC', 6), and `unit` names the budgets that count it:
-- 'USDC' for the USDC contracts x402-mcp knows, else the declared asset's
-- network and address ('eip155:8453/0x…'). Rows written before this
-- migration are USDC. An amount of one unit is never added to another's.
--
-- spend is rebuilt with the unit in its key, from the rows, so it is exact
-- whatever migration 0003 did to it. Its counted states are reserved,
-- signed, settled, unknown and rejected: a rejected authorization may have
-- left the process, so it counts until reconciliation proves it unused (and
-- releases it).
--   scope 'total'    unit, key ''
--   scope 'tool'     unit, key the tool
--   scope 'host'     unit, key host:port
--   scope 'session'  unit, key the session
--   scope 'network'  unit, key the CAIP-2 network
--   scope 'hour'     unit, key the hour of created_at (unix ms / 3600000), 10 digits
--   scope 'tip_hour' unit, key the hour, tips only
--   scope 'settled'  unit, key ''   (settled payments only, whatever they count)

ALTER TABLE payments ADD COLUMN symbol TEXT NOT NULL DEFAULT 'USDC';
ALTER TABLE payments ADD COLUMN decimals INTEGER NOT NULL DEFAULT 6 CHECK (decimals BETWEEN 0 AND 18);
ALTER TABLE payments ADD COLUMN unit TEXT NOT NULL DEFAULT 'USDC';

CREATE TRIGGER payments_asset_immutable BEFORE UPDATE OF asset, symbol, decimals, unit ON payments
BEGIN
	SELECT RAISE(ABORT, 'ledger: a payment''s asset, symbol, decimals and unit never change');
END;

-- Payments by unit, for what an asset's budgets count row by row.
CREATE INDEX payments_unit ON payments (unit, created_at) WHERE unit <> 'USDC';

DROP TRIGGER IF EXISTS payments_count_insert;
DROP TRIGGER IF EXISTS payments_count_again;
DROP TRIGGER IF EXISTS payments_uncount;
DROP TRIGGER IF EXISTS payments_settled_insert;
DROP TRIGGER IF EXISTS payments_settled;
DROP TRIGGER IF EXISTS payments_unsettled;
DROP TRIGGER IF EXISTS payments_tip_count_insert;
DROP TRIGGER IF EXISTS payments_tip_count_again;
DROP TRIGGER IF EXISTS payments_tip_uncount;

CREATE TABLE spend_by_unit (
	scope  TEXT    NOT NULL,
	unit   TEXT    NOT NULL,
	key    TEXT    NOT NULL,
	amount INTEGER NOT NULL CHECK (amount >= 0),
	n      INTEGER NOT NULL CHECK (n >= 0),
	PRIMARY KEY (scope, unit, key)
) STRICT, WITHOUT ROWID;

INSERT INTO spend_by_unit (scope, unit, key, amount, n)
WITH c AS (SELECT * FROM payments WHERE state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected'))
SELECT 'total', unit, '', SUM(amount), COUNT(*) FROM c GROUP BY unit
UNION ALL SELECT 'tool', unit, tool, SUM(amount), COUNT(*) FROM c GROUP BY unit, tool
UNION ALL SELECT 'host', unit, host, SUM(amount), COUNT(*) FROM c GROUP BY unit, host
UNION ALL SELECT 'session', unit, session, SUM(amount), COUNT(*) FROM c GROUP BY unit, session
UNION ALL SELECT 'network', unit, network, SUM(amount), COUNT(*) FROM c GROUP BY unit, network
UNION ALL SELECT 'hour', unit, printf('%010d', created_at / 3600000), SUM(amount), COUNT(*) FROM c GROUP BY unit, 3
UNION ALL SELECT 'tip_hour', unit, printf('%010d', created_at / 3600000), SUM(amount), COUNT(*) FROM c WHERE kind = 'tip' GROUP BY unit, 3
UNION ALL SELECT 'settled', unit, '', SUM(amount), COUNT(*) FROM payments WHERE state = 'settled' GROUP BY unit;

DROP TABLE spend;
ALTER TABLE spend_by_unit RENAME TO spend;

CREATE TRIGGER payments_count_insert AFTER INSERT ON payments
WHEN NEW.state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
BEGIN
	INSERT INTO spend (scope, unit, key, amount, n) VALUES
		('total', NEW.unit, '', NEW.amount, 1),
		('tool', NEW.unit, NEW.tool, NEW.amount, 1),
		('host', NEW.unit, NEW.host, NEW.amount, 1),
		('session', NEW.unit, NEW.session, NEW.amount, 1),
		('network', NEW.unit, NEW.network, NEW.amount, 1),
		('hour', NEW.unit, printf('%010d', NEW.created_at / 3600000), NEW.amount, 1)
	ON CONFLICT (scope, unit, key) DO UPDATE SET amount = amount + excluded.amount, n = n + excluded.n;
END;

CREATE TRIGGER payments_count_again AFTER UPDATE OF state ON payments
WHEN OLD.state NOT IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
	AND NEW.state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
BEGIN
	INSERT INTO spend (scope, unit, key, amount, n) VALUES
		('total', NEW.unit, '', NEW.amount, 1),
		('tool', NEW.unit, NEW.tool, NEW.amount, 1),
		('host', NEW.unit, NEW.host, NEW.amount, 1),
		('session', NEW.unit, NEW.session, NEW.amount, 1),
		('network', NEW.unit, NEW.network, NEW.amount, 1),
		('hour', NEW.unit, printf('%010d', NEW.created_at / 3600000), NEW.amount, 1)
	ON CONFLICT (scope, unit, key) DO UPDATE SET amount = amount + excluded.amount, n = n + excluded.n;
END;

CREATE TRIGGER payments_uncount AFTER UPDATE OF state ON payments
WHEN OLD.state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
	AND NEW.state NOT IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
BEGIN
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1 WHERE scope = 'total' AND unit = OLD.unit AND key = '';
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1 WHERE scope = 'tool' AND unit = OLD.unit AND key = OLD.tool;
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1 WHERE scope = 'host' AND unit = OLD.unit AND key = OLD.host;
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1 WHERE scope = 'session' AND unit = OLD.unit AND key = OLD.session;
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1 WHERE scope = 'network' AND unit = OLD.unit AND key = OLD.network;
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1
		WHERE scope = 'hour' AND unit = OLD.unit AND key = printf('%010d', OLD.created_at / 3600000);
END;

CREATE TRIGGER payments_settled_insert AFTER INSERT ON payments
WHEN NEW.state = 'settled'
BEGIN
	INSERT INTO spend (scope, unit, key, amount, n) VALUES ('settled', NEW.unit, '', NEW.amount, 1)
	ON CONFLICT (scope, unit, key) DO UPDATE SET amount = amount + excluded.amount, n = n + excluded.n;
END;

CREATE TRIGGER payments_settled AFTER UPDATE OF state ON payments
WHEN NEW.state = 'settled' AND OLD.state <> 'settled'
BEGIN
	INSERT INTO spend (scope, unit, key, amount, n) VALUES ('settled', NEW.unit, '', NEW.amount, 1)
	ON CONFLICT (scope, unit, key) DO UPDATE SET amount = amount + excluded.amount, n = n + excluded.n;
END;

CREATE TRIGGER payments_unsettled AFTER UPDATE OF state ON payments
WHEN OLD.state = 'settled' AND NEW.state <> 'settled'
BEGIN
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1 WHERE scope = 'settled' AND unit = OLD.unit AND key = '';
END;

CREATE TRIGGER payments_tip_count_insert AFTER INSERT ON payments
WHEN NEW.kind = 'tip' AND NEW.state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
BEGIN
	INSERT INTO spend (scope, unit, key, amount, n) VALUES ('tip_hour', NEW.unit, printf('%010d', NEW.created_at / 3600000), NEW.amount, 1)
	ON CONFLICT (scope, unit, key) DO UPDATE SET amount = amount + excluded.amount, n = n + excluded.n;
END;

CREATE TRIGGER payments_tip_count_again AFTER UPDATE OF state ON payments
WHEN NEW.kind = 'tip' AND OLD.state NOT IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
	AND NEW.state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
BEGIN
	INSERT INTO spend (scope, unit, key, amount, n) VALUES ('tip_hour', NEW.unit, printf('%010d', NEW.created_at / 3600000), NEW.amount, 1)
	ON CONFLICT (scope, unit, key) DO UPDATE SET amount = amount + excluded.amount, n = n + excluded.n;
END;

CREATE TRIGGER payments_tip_uncount AFTER UPDATE OF state ON payments
WHEN OLD.kind = 'tip' AND OLD.state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
	AND NEW.state NOT IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
BEGIN
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1
		WHERE scope = 'tip_hour' AND unit = OLD.unit AND key = printf('%010d', OLD.created_at / 3600000);
END;
