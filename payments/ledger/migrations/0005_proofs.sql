-- 0005: every signed payment names the scheme that proves its fate, and
-- keeps what that scheme needs (payments.Proof).
--
-- `family` and `scheme` name the network family and the x402 scheme that
-- signed the payment and prove it on chain ('evm', 'exact'). `nonce` keeps
-- the payment's id on chain in its family's form (EVM: the EIP-3009 nonce;
-- Solana: the payer's own signature), `valid_before` the time by which it
-- is expected to expire (EVM: validBefore itself), `expiry` the point past
-- which the chain can never take it, in the family's own measure (EVM:
-- validBefore in unix seconds; Solana: the blockhash's last valid block
-- height), and `proof` the family's own record as JSON ('' when the columns
-- say it all). A reservation that was never signed has no proof: family
-- and scheme ''.
--
-- Every payment signed before this migration is an EVM exact payment: its
-- expiry is its validBefore in seconds (rounded up, never earlier).

ALTER TABLE payments ADD COLUMN family TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN scheme TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN expiry INTEGER CHECK (expiry IS NULL OR expiry >= 0);
ALTER TABLE payments ADD COLUMN proof TEXT NOT NULL DEFAULT '';

UPDATE payments SET family = 'evm', scheme = 'exact' WHERE nonce <> '';
UPDATE payments SET expiry = (valid_before + 999) / 1000 WHERE nonce <> '' AND valid_before > 0;
