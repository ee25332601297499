-- How `raw_messages.content` is stored: NULL as received, 'lz4' an LZ4 block of the whole
-- message (SQLite only, for messages of at most 1 MiB; see crates/store/src/chunks.rs).
ALTER TABLE raw_messages ADD COLUMN content_encoding TEXT;
