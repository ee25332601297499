-- DKIM keys kept in a file that the configuration names (issue 17): `[[dkim_keys]]` of
-- `postern apply` / `serve --config` records the file's path and its public key; the private
-- key stays in the file (private_key is '' for such a key) and the delivery runner reads it
-- when it loads its signers. Keep in step with the other backend's 0013_dkim_key_files.sql.
ALTER TABLE dkim_keys ADD COLUMN key_file TEXT;
