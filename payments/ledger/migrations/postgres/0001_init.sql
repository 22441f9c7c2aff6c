-- PostgreSQL 0001: the whole ledger schema as SQLite's migrations 0001 to
-- 0007 leave it (each row's principal and its running sums: 0006; an upto
-- payment's maximum, and its amount only lowered, to what settled: 0007),
-- with the same rules enforced by the database: CHECK constraints and
-- triggers refuse a deletion, a change of what a row counts against, and
-- any change of state the state machine does not allow; the running sums
-- in spend are kept exact by a trigger in the same statement as every row
-- change. Amounts are BIGINT atomic units; times are unix milliseconds.

CREATE TABLE payments (
	id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind          TEXT    NOT NULL DEFAULT 'payment' CHECK (kind IN ('payment', 'tip')),
	call_id       TEXT    NOT NULL DEFAULT '',
	tool          TEXT    NOT NULL DEFAULT '',
	resource      TEXT    NOT NULL DEFAULT '',
	host          TEXT    NOT NULL DEFAULT '',
	session       TEXT    NOT NULL DEFAULT '',
	network       TEXT    NOT NULL DEFAULT '',
	asset         TEXT    NOT NULL DEFAULT '',
	pay_to        TEXT    NOT NULL DEFAULT '',
	amount        BIGINT  NOT NULL CHECK (amount >= 0),
	state         TEXT    NOT NULL CHECK (state IN ('reserved', 'signed', 'settled', 'rejected', 'unknown', 'released')),
	payer         TEXT    NOT NULL DEFAULT '',
	nonce         TEXT    NOT NULL DEFAULT '',
	valid_after   BIGINT,
	valid_before  BIGINT,
	x402_version  INTEGER NOT NULL DEFAULT 0,
	header        TEXT    NOT NULL DEFAULT '',
	payload       TEXT    NOT NULL DEFAULT '',
	payment_id    TEXT    NOT NULL DEFAULT '',
	tx            TEXT    NOT NULL DEFAULT '',
	reason        TEXT    NOT NULL DEFAULT '',
	created_at    BIGINT  NOT NULL,
	updated_at    BIGINT  NOT NULL,
	reconciled_at BIGINT,
	note          TEXT    NOT NULL DEFAULT '',
	symbol        TEXT    NOT NULL DEFAULT 'USDC',
	decimals      INTEGER NOT NULL DEFAULT 6 CHECK (decimals BETWEEN 0 AND 18),
	unit          TEXT    NOT NULL DEFAULT 'USDC',
	family        TEXT    NOT NULL DEFAULT '',
	scheme        TEXT    NOT NULL DEFAULT '',
	expiry        BIGINT  CHECK (expiry IS NULL OR expiry >= 0),
	proof         TEXT    NOT NULL DEFAULT '',
	-- Who made the call (the HTTP transport's principal); '' for none.
	principal     TEXT    NOT NULL DEFAULT '' CHECK (strpos(principal, '/') = 0),
	-- The maximum an upto payment signed (0 for a payment of exactly its
	-- amount): its amount starts there, and is lowered to what settled.
	authorized    BIGINT  NOT NULL DEFAULT 0 CHECK (authorized >= 0)
);

-- At most one payment per tool call.
CREATE UNIQUE INDEX payments_call_id ON payments (call_id) WHERE call_id <> '';
-- List by tool.
CREATE INDEX payments_tool ON payments (tool);
-- The edges of the day window and its oldest counted payment; List by time.
CREATE INDEX payments_created ON payments (created_at);
-- What reconciliation looks at.
CREATE INDEX payments_open ON payments (state, created_at)
	WHERE state IN ('reserved', 'signed', 'unknown', 'rejected');
-- List by kind.
CREATE INDEX payments_kind ON payments (kind) WHERE kind <> 'payment';
-- Payments by unit, for what an asset's budgets count row by row.
CREATE INDEX payments_unit ON payments (unit, created_at) WHERE unit <> 'USDC';
-- A principal's payments by time.
CREATE INDEX payments_principal ON payments (principal, created_at) WHERE principal <> '';

-- spend holds, per budget scope, unit and key, the sum and count of the
-- payments that count (reserved, signed, settled, unknown, rejected), as in
-- SQLite (0004, and 0006 for the principal's scopes):
--   scope 'total'             key ''
--   scope 'tool'              key the tool
--   scope 'host'              key host:port
--   scope 'session'           key the session
--   scope 'network'           key the CAIP-2 network
--   scope 'hour'              key the hour of created_at (unix ms / 3600000), 10 digits
--   scope 'tip_hour'          key the hour, tips only
--   scope 'settled'           key ''   (settled payments only)
--   scope 'principal'         key the principal
--   scope 'principal_settled' key the principal (settled payments only)
--   scope 'principal_tool'    key principal/tool
--   scope 'principal_hour'    key principal/hour
CREATE TABLE spend (
	scope  TEXT   NOT NULL,
	unit   TEXT   NOT NULL,
	key    TEXT   NOT NULL,
	amount BIGINT NOT NULL CHECK (amount >= 0),
	n      BIGINT NOT NULL CHECK (n >= 0),
	PRIMARY KEY (scope, unit, key)
);

-- Rows are never deleted, nor the table emptied.
CREATE FUNCTION payments_no_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'ledger: payments are never deleted' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER payments_no_delete BEFORE DELETE ON payments FOR EACH ROW EXECUTE FUNCTION payments_no_delete();
CREATE TRIGGER payments_no_truncate BEFORE TRUNCATE ON payments FOR EACH STATEMENT EXECUTE FUNCTION payments_no_delete();

-- What a row counts against never changes, and its state moves only as
-- the state machine allows (SQLite: payments_immutable,
-- payments_transition, payments_kind_immutable, payments_asset_immutable,
-- payments_principal_immutable). The one change of an amount: an upto
-- payment's (authorized > 0) is lowered, never raised, as it settles or
-- once settled (SQLite's 0007); its maximum, authorized, never changes.
CREATE FUNCTION payments_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.tool IS DISTINCT FROM OLD.tool OR NEW.host IS DISTINCT FROM OLD.host
		OR NEW.session IS DISTINCT FROM OLD.session OR NEW.network IS DISTINCT FROM OLD.network
		OR NEW.created_at IS DISTINCT FROM OLD.created_at OR NEW.id IS DISTINCT FROM OLD.id
		OR NEW.authorized IS DISTINCT FROM OLD.authorized
		OR (NEW.amount IS DISTINCT FROM OLD.amount AND NOT (OLD.authorized > 0 AND NEW.amount < OLD.amount AND NEW.state = 'settled'
			AND OLD.state IN ('signed', 'unknown', 'rejected', 'settled'))) THEN
		RAISE EXCEPTION 'ledger: amount, tool, host, session, network and created_at never change (an upto payment''s amount is only lowered, to what settled)'
			USING ERRCODE = 'restrict_violation';
	END IF;
	IF NEW.kind IS DISTINCT FROM OLD.kind OR NEW.note IS DISTINCT FROM OLD.note THEN
		RAISE EXCEPTION 'ledger: kind and note never change' USING ERRCODE = 'restrict_violation';
	END IF;
	IF NEW.asset IS DISTINCT FROM OLD.asset OR NEW.symbol IS DISTINCT FROM OLD.symbol
		OR NEW.decimals IS DISTINCT FROM OLD.decimals OR NEW.unit IS DISTINCT FROM OLD.unit THEN
		RAISE EXCEPTION 'ledger: a payment''s asset, symbol, decimals and unit never change' USING ERRCODE = 'restrict_violation';
	END IF;
	IF NEW.principal IS DISTINCT FROM OLD.principal THEN
		RAISE EXCEPTION 'ledger: a payment''s principal never changes' USING ERRCODE = 'restrict_violation';
	END IF;
	IF NEW.state IS DISTINCT FROM OLD.state AND NOT (
		(OLD.state = 'reserved' AND NEW.state IN ('signed', 'released')) OR
		(OLD.state = 'signed' AND NEW.state IN ('settled', 'rejected', 'unknown', 'released')) OR
		(OLD.state IN ('unknown', 'rejected') AND NEW.state IN ('settled', 'released'))
	) THEN
		RAISE EXCEPTION 'ledger: invalid state transition' USING ERRCODE = 'check_violation';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER payments_guard BEFORE UPDATE ON payments FOR EACH ROW EXECUTE FUNCTION payments_guard();

-- spend_add adds counted (and counted_n payments) to every running sum of
-- the scopes p counts in, and settled (settled_n) to its settled sums; a
-- negative amount or count takes away. It visits the sums in one fixed
-- order of scopes, so that two transactions never lock the same sums in
-- opposite orders: when nothing is taken away (a reservation, a
-- settlement), in one statement, its rows in that order; else sum by sum,
-- in the same order (an insert of a negative amount would fail its CHECK
-- before finding the row, and a join would lock the rows in whatever
-- order its plan reads them).
CREATE FUNCTION spend_add(p payments, counted BIGINT, counted_n INTEGER, settled BIGINT, settled_n INTEGER) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	hour  TEXT := lpad((p.created_at / 3600000)::text, 10, '0');
	cnt   BOOLEAN := counted <> 0 OR counted_n <> 0;
	sett  BOOLEAN := settled <> 0 OR settled_n <> 0;
	s     TEXT[] := ARRAY[]::TEXT[];
	k     TEXT[] := ARRAY[]::TEXT[];
	a     BIGINT[] := ARRAY[]::BIGINT[];
	c     INTEGER[] := ARRAY[]::INTEGER[];
BEGIN
	IF cnt THEN
		s := ARRAY['total', 'tool', 'host', 'session', 'network', 'hour'];
		k := ARRAY['', p.tool, p.host, p.session, p.network, hour];
		a := array_fill(counted, ARRAY[6]);
		c := array_fill(counted_n, ARRAY[6]);
		IF p.kind = 'tip' THEN
			s := s || 'tip_hour'::TEXT;
			k := k || hour;
			a := a || counted;
			c := c || counted_n;
		END IF;
	END IF;
	IF sett THEN
		s := s || 'settled'::TEXT;
		k := k || ''::TEXT;
		a := a || settled;
		c := c || settled_n;
	END IF;
	IF p.principal <> '' THEN
		IF cnt THEN
			s := s || ARRAY['principal', 'principal_tool', 'principal_hour'];
			k := k || ARRAY[p.principal, p.principal || '/' || p.tool, p.principal || '/' || hour];
			a := a || array_fill(counted, ARRAY[3]);
			c := c || array_fill(counted_n, ARRAY[3]);
		END IF;
		IF sett THEN
			s := s || 'principal_settled'::TEXT;
			k := k || p.principal;
			a := a || settled;
			c := c || settled_n;
		END IF;
	END IF;
	IF counted >= 0 AND counted_n >= 0 AND settled >= 0 AND settled_n >= 0 THEN
		INSERT INTO spend (scope, unit, key, amount, n)
			SELECT x.scope, p.unit, x.key, x.amount, x.n FROM unnest(s, k, a, c) WITH ORDINALITY AS x(scope, key, amount, n, i) ORDER BY x.i
		ON CONFLICT (scope, unit, key) DO UPDATE SET amount = spend.amount + EXCLUDED.amount, n = spend.n + EXCLUDED.n;
	ELSE
		FOR i IN 1 .. coalesce(array_length(s, 1), 0) LOOP
			IF a[i] >= 0 AND c[i] >= 0 THEN
				INSERT INTO spend (scope, unit, key, amount, n) VALUES (s[i], p.unit, k[i], a[i], c[i])
				ON CONFLICT (scope, unit, key) DO UPDATE SET amount = spend.amount + EXCLUDED.amount, n = spend.n + EXCLUDED.n;
			ELSE
				UPDATE spend SET amount = amount + a[i], n = n + c[i] WHERE scope = s[i] AND unit = p.unit AND key = k[i];
			END IF;
		END LOOP;
	END IF;
END $$;

-- payments_count keeps the running sums exact in the statement that
-- inserts a row, changes its state, or lowers an upto payment's amount:
-- what the row counted before (nothing, for an insert) is taken away and
-- what it counts now is added, per group of sums (counting, settled). A
-- row's keys (tool, host, session, network, hour, kind, unit, principal)
-- never change (payments_guard).
CREATE FUNCTION payments_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	counting CONSTANT TEXT[] := ARRAY['reserved', 'signed', 'settled', 'unknown', 'rejected'];
	was_counted BOOLEAN := false;
	was_settled BOOLEAN := false;
	old_amount  BIGINT := 0;
	is_counted  BOOLEAN := NEW.state = ANY (counting);
	is_settled  BOOLEAN := NEW.state = 'settled';
BEGIN
	IF TG_OP = 'UPDATE' THEN
		was_counted := OLD.state = ANY (counting);
		was_settled := OLD.state = 'settled';
		old_amount := OLD.amount;
	END IF;
	IF was_counted IS DISTINCT FROM is_counted OR was_settled IS DISTINCT FROM is_settled OR old_amount <> NEW.amount THEN
		PERFORM spend_add(NEW,
			CASE WHEN is_counted THEN NEW.amount ELSE 0 END - CASE WHEN was_counted THEN old_amount ELSE 0 END,
			is_counted::INTEGER - was_counted::INTEGER,
			CASE WHEN is_settled THEN NEW.amount ELSE 0 END - CASE WHEN was_settled THEN old_amount ELSE 0 END,
			is_settled::INTEGER - was_settled::INTEGER);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER payments_count_insert AFTER INSERT ON payments FOR EACH ROW EXECUTE FUNCTION payments_count();
CREATE TRIGGER payments_count_update AFTER UPDATE OF state, amount ON payments FOR EACH ROW
	WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.amount IS DISTINCT FROM NEW.amount) EXECUTE FUNCTION payments_count();

-- flushes: one row per open ledger (a process), written by the
-- transaction that waits for the server's disk after a payment's signed
-- record was committed without waiting (a commit that wrote nothing would
-- not wait). The log is one sequence: that flush covers every commit
-- before it.
CREATE TABLE flushes (
	owner TEXT   PRIMARY KEY,
	n     BIGINT NOT NULL,
	at    BIGINT NOT NULL
);
