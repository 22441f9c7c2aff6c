-- 0003: reserved for the migration of the ledger's money rules (issue 11),
-- written on another branch. This placeholder changes nothing; it keeps the
-- versions in sequence until that migration replaces it.
SELECT 1;
