-- 0001: payments and the running sums that Reserve checks budgets against.
--
-- Amounts are INTEGER atomic units (at most 2^63-1); times are unix
-- milliseconds. STRICT tables refuse a value of the wrong type, so a sum that
-- would overflow into REAL fails instead of rounding money.

CREATE TABLE payments (
	id            INTEGER PRIMARY KEY,
	kind          TEXT    NOT NULL DEFAULT 'payment',
	call_id       TEXT    NOT NULL DEFAULT '',
	tool          TEXT    NOT NULL DEFAULT '',
	resource      TEXT    NOT NULL DEFAULT '',
	host          TEXT    NOT NULL DEFAULT '',
	session       TEXT    NOT NULL DEFAULT '',
	network       TEXT    NOT NULL DEFAULT '',
	asset         TEXT    NOT NULL DEFAULT '',
	pay_to        TEXT    NOT NULL DEFAULT '',
	amount        INTEGER NOT NULL CHECK (amount >= 0),
	state         TEXT    NOT NULL CHECK (state IN ('reserved', 'signed', 'settled', 'rejected', 'unknown', 'released')),
	payer         TEXT    NOT NULL DEFAULT '',
	nonce         TEXT    NOT NULL DEFAULT '',
	valid_after   INTEGER,
	valid_before  INTEGER,
	x402_version  INTEGER NOT NULL DEFAULT 0,
	header        TEXT    NOT NULL DEFAULT '',
	payload       TEXT    NOT NULL DEFAULT '',
	payment_id    TEXT    NOT NULL DEFAULT '',
	tx            TEXT    NOT NULL DEFAULT '',
	reason        TEXT    NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	reconciled_at INTEGER
) STRICT;

-- At most one payment per tool call.
CREATE UNIQUE INDEX payments_call_id ON payments (call_id) WHERE call_id <> '';
-- List by tool, newest first.
CREATE INDEX payments_tool ON payments (tool);
-- The edges of the day window and its oldest counted payment; List by time.
-- (Not a partial index on the counted states: it would be rewritten at every
-- change of state.)
CREATE INDEX payments_created ON payments (created_at);
-- Rejected payments count until their authorization expires.
CREATE INDEX payments_rejected ON payments (valid_before) WHERE state = 'rejected';
-- What reconciliation looks at.
CREATE INDEX payments_open ON payments (state, created_at)
	WHERE state IN ('reserved', 'signed', 'unknown', 'rejected');

-- spend holds, per budget scope, the sum and count of the payments in the
-- states that always count (reserved, signed, settled, unknown); rejected
-- payments are added at read time while their authorization is valid. The
-- triggers below keep it exact in the same statement as every change of
-- state, so it can never disagree with the rows.
--   scope 'total'   key ''
--   scope 'tool'    key the tool
--   scope 'host'    key host:port
--   scope 'session' key the session
--   scope 'network' key the CAIP-2 network
--   scope 'hour'    key the hour of created_at (unix ms / 3600000), 10 digits
--   scope 'settled' key ''   (settled payments only)
CREATE TABLE spend (
	scope  TEXT    NOT NULL,
	key    TEXT    NOT NULL,
	amount INTEGER NOT NULL CHECK (amount >= 0),
	n      INTEGER NOT NULL CHECK (n >= 0),
	PRIMARY KEY (scope, key)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER payments_no_delete BEFORE DELETE ON payments
BEGIN
	SELECT RAISE(ABORT, 'ledger: payments are never deleted');
END;

CREATE TRIGGER payments_immutable BEFORE UPDATE OF amount, tool, host, session, network, created_at ON payments
BEGIN
	SELECT RAISE(ABORT, 'ledger: amount, tool, host, session, network and created_at never change');
END;

CREATE TRIGGER payments_transition BEFORE UPDATE OF state ON payments
WHEN NOT (
	(OLD.state = 'reserved' AND NEW.state IN ('signed', 'released')) OR
	(OLD.state = 'signed' AND NEW.state IN ('settled', 'rejected', 'unknown', 'released')) OR
	(OLD.state IN ('unknown', 'rejected') AND NEW.state IN (OLD.state, 'settled', 'released')) OR
	(OLD.state = 'settled' AND NEW.state = 'settled')
)
BEGIN
	SELECT RAISE(ABORT, 'ledger: invalid state transition');
END;

CREATE TRIGGER payments_count_insert AFTER INSERT ON payments
WHEN NEW.state IN ('reserved', 'signed', 'settled', 'unknown')
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
WHEN OLD.state NOT IN ('reserved', 'signed', 'settled', 'unknown')
	AND NEW.state IN ('reserved', 'signed', 'settled', 'unknown')
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
WHEN OLD.state IN ('reserved', 'signed', 'settled', 'unknown')
	AND NEW.state NOT IN ('reserved', 'signed', 'settled', 'unknown')
BEGIN
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1 WHERE scope = 'total' AND key = '';
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1 WHERE scope = 'tool' AND key = OLD.tool;
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1 WHERE scope = 'host' AND key = OLD.host;
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1 WHERE scope = 'session' AND key = OLD.session;
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1 WHERE scope = 'network' AND key = OLD.network;
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1
		WHERE scope = 'hour' AND key = printf('%010d', OLD.created_at / 3600000);
END;

CREATE TRIGGER payments_settled_insert AFTER INSERT ON payments
WHEN NEW.state = 'settled'
BEGIN
	INSERT INTO spend (scope, key, amount, n) VALUES ('settled', '', NEW.amount, 1)
	ON CONFLICT (scope, key) DO UPDATE SET amount = amount + excluded.amount, n = n + excluded.n;
END;

CREATE TRIGGER payments_settled AFTER UPDATE OF state ON payments
WHEN NEW.state = 'settled' AND OLD.state <> 'settled'
BEGIN
	INSERT INTO spend (scope, key, amount, n) VALUES ('settled', '', NEW.amount, 1)
	ON CONFLICT (scope, key) DO UPDATE SET amount = amount + excluded.amount, n = n + excluded.n;
END;

CREATE TRIGGER payments_unsettled AFTER UPDATE OF state ON payments
WHEN OLD.state = 'settled' AND NEW.state <> 'settled'
BEGIN
	UPDATE spend SET amount = amount - OLD.amount, n = n - 1 WHERE scope = 'settled' AND key = '';
END;
