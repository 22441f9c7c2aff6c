-- 0008: an upto payment's maximum never changes. 0007 added `authorized`
-- but its payments_immutable trigger did not name it, so a direct UPDATE
-- could raise a row's maximum (and the rule that an upto amount is only
-- lowered, to what settled, would be judged against a false maximum), or
-- give an exact payment one (and its amount could then be lowered as if it
-- settled for less). The trigger is recreated with `authorized` in it, as
-- PostgreSQL's payments_guard has it; the rest of its rules are 0007's.

DROP TRIGGER payments_immutable;

CREATE TRIGGER payments_immutable BEFORE UPDATE OF amount, authorized, tool, host, session, network, created_at ON payments
WHEN NEW.tool IS NOT OLD.tool OR NEW.host IS NOT OLD.host OR NEW.session IS NOT OLD.session
	OR NEW.network IS NOT OLD.network OR NEW.created_at IS NOT OLD.created_at
	OR NEW.authorized IS NOT OLD.authorized
	OR (NEW.amount IS NOT OLD.amount AND NOT (OLD.authorized > 0 AND NEW.amount < OLD.amount AND NEW.state = 'settled'
		AND OLD.state IN ('signed', 'unknown', 'rejected', 'settled')))
BEGIN
	SELECT RAISE(ABORT, 'ledger: amount, authorized, tool, host, session, network and created_at never change (an upto payment''s amount is only lowered, to what settled)');
END;
