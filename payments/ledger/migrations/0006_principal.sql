-- 0006: every row names its principal: who made the call (the HTTP
-- transport's authenticated principal, "default" over stdio). Rows written
-- before this migration belong to no principal (''), and so count against
-- the gateway's budgets only, as before.
--
-- A principal's own budgets count its payments through running sums in
-- spend, per unit as 0004 keeps the others, made exact in the same
-- statement as every change of state by the triggers below. They are new
-- triggers beside those of 0004, which they leave as they are. Rows without
-- a principal are in none of these sums.
--   scope 'principal'         unit, key the principal
--   scope 'principal_settled' unit, key the principal   (settled payments only)
--   scope 'principal_tool'    unit, key principal/tool
--   scope 'principal_hour'    unit, key principal/hour of created_at (unix ms / 3600000, 10 digits)
-- A principal's name never holds '/', so a key splits at its first one.

ALTER TABLE payments ADD COLUMN principal TEXT NOT NULL DEFAULT '';

CREATE TRIGGER payments_principal_name BEFORE INSERT ON payments
WHEN instr(NEW.principal, '/') > 0
BEGIN
	SELECT RAISE(ABORT, 'ledger: a principal''s name may not hold /');
END;

CREATE TRIGGER payments_principal_immutable BEFORE UPDATE OF principal ON payments
BEGIN
	SELECT RAISE(ABORT, 'ledger: a payment''s principal never changes');
END;

-- A principal's payments by time: its day window's edge, its list.
CREATE INDEX payments_principal ON payments (principal, created_at) WHERE principal <> '';

CREATE TRIGGER payments_principal_count_insert AFTER INSERT ON payments
WHEN NEW.principal <> '' AND NEW.state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
BEGIN
	INSERT INTO spend (scope, unit, key, amount, n) VALUES
		('principal', NEW.unit, NEW.principal, NEW.amount, 1),
		('principal_tool', NEW.unit, NEW.principal || '/' || NEW.tool, NEW.amount, 1),
		('principal_hour', NEW.unit, NEW.principal || '/' || printf('%010d', NEW.created_at / 3600000), NEW.amount, 1)
	ON CONFLICT (scope, unit, key) DO UPDATE SET amount = amount + excluded.amount, n = n + excluded.n;
END;

CREATE TRIGGER payments_principal_count_again AFTER UPDATE OF state ON payments
WHEN NEW.principal <> '' AND OLD.state NOT IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
	AND NEW.state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
BEGIN
	INSERT INTO spend (scope, unit, key, amount, n) VALUES
		('principal', NEW.unit, NEW.principal, NEW.amount, 1),
		('principal_tool', NEW.unit, NEW.principal || '/' || NEW.tool, NEW.amount, 1),
		('principal_hour', NEW.unit, NEW.principal || '/' || printf('%010d', NEW.created_at / 3600000), NEW.amount, 1)
	ON CONFLICT (scope, unit, key) DO UPDATE SET amount = amount + excluded.amount, n = n + excluded.n;
END;

CREATE TRIGGER payments_principal_uncount AFTER UPDATE OF state ON payments
WHEN OLD.principal <> '' AND OLD.state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
	AND NEW.state NOT IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')
BEGIN
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1
		WHERE scope = 'principal' AND unit = OLD.unit AND key = OLD.principal;
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1
		WHERE scope = 'principal_tool' AND unit = OLD.unit AND key = OLD.principal || '/' || OLD.tool;
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1
		WHERE scope = 'principal_hour' AND unit = OLD.unit AND key = OLD.principal || '/' || printf('%010d', OLD.created_at / 3600000);
END;

CREATE TRIGGER payments_principal_settled_insert AFTER INSERT ON payments
WHEN NEW.principal <> '' AND NEW.state = 'settled'
BEGIN
	INSERT INTO spend (scope, unit, key, amount, n) VALUES ('principal_settled', NEW.unit, NEW.principal, NEW.amount, 1)
	ON CONFLICT (scope, unit, key) DO UPDATE SET amount = amount + excluded.amount, n = n + excluded.n;
END;

CREATE TRIGGER payments_principal_settled AFTER UPDATE OF state ON payments
WHEN NEW.principal <> '' AND NEW.state = 'settled' AND OLD.state <> 'settled'
BEGIN
	INSERT INTO spend (scope, unit, key, amount, n) VALUES ('principal_settled', NEW.unit, NEW.principal, NEW.amount, 1)
	ON CONFLICT (scope, unit, key) DO UPDATE SET amount = amount + excluded.amount, n = n + excluded.n;
END;

CREATE TRIGGER payments_principal_unsettled AFTER UPDATE OF state ON payments
WHEN OLD.principal <> '' AND OLD.state = 'settled' AND NEW.state <> 'settled'
BEGIN
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1
		WHERE scope = 'principal_settled' AND unit = OLD.unit AND key = OLD.principal;
END;
