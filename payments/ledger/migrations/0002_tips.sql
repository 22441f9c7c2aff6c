-- 0002: tips. A row's kind is 'payment' (a paid tool call; every row written
-- before this migration) or 'tip' (x402_tip, paid through a facilitator).
-- A tip keeps its note (for the books only: it is never sent anywhere), and
-- tips have their own per-day budget on top of every other one: the spend
-- scope 'tip_hour' sums the tips that always count per hour of created_at,
-- kept exact by the triggers below as 'hour' is for every payment.

ALTER TABLE payments ADD COLUMN note TEXT NOT NULL DEFAULT '';

CREATE TRIGGER payments_kind_known BEFORE INSERT ON payments
WHEN NEW.kind NOT IN ('payment', 'tip')
BEGIN
	SELECT RAISE(ABORT, 'ledger: a payment''s kind is payment or tip');
END;

CREATE TRIGGER payments_kind_immutable BEFORE UPDATE OF kind, note ON payments
BEGIN
	SELECT RAISE(ABORT, 'ledger: kind and note never change');
END;

CREATE TRIGGER payments_tip_count_insert AFTER INSERT ON payments
WHEN NEW.kind = 'tip' AND NEW.state IN ('reserved', 'signed', 'settled', 'unknown')
BEGIN
	INSERT INTO spend (scope, key, amount, n) VALUES ('tip_hour', printf('%010d', NEW.created_at / 3600000), NEW.amount, 1)
	ON CONFLICT (scope, key) DO UPDATE SET amount = amount + excluded.amount, n = n + excluded.n;
END;

CREATE TRIGGER payments_tip_count_again AFTER UPDATE OF state ON payments
WHEN NEW.kind = 'tip' AND OLD.state NOT IN ('reserved', 'signed', 'settled', 'unknown')
	AND NEW.state IN ('reserved', 'signed', 'settled', 'unknown')
BEGIN
	INSERT INTO spend (scope, key, amount, n) VALUES ('tip_hour', printf('%010d', NEW.created_at / 3600000), NEW.amount, 1)
	ON CONFLICT (scope, key) DO UPDATE SET amount = amount + excluded.amount, n = n + excluded.n;
END;

CREATE TRIGGER payments_tip_uncount AFTER UPDATE OF state ON payments
WHEN OLD.kind = 'tip' AND OLD.state IN ('reserved', 'signed', 'settled', 'unknown')
	AND NEW.state NOT IN ('reserved', 'signed', 'settled', 'unknown')
BEGIN
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1
		WHERE scope = 'tip_hour' AND key = printf('%010d', OLD.created_at / 3600000);
END;

-- List by kind (x402_spend_history and `ledger list --kind tip`).
CREATE INDEX payments_kind ON payments (kind) WHERE kind <> 'payment';
