-- Large contents in pieces of 1 MiB: the first stays in the owner's row (`content`), the
-- others are here, numbered from 1 (see crates/store/src/chunks.rs).
CREATE TABLE raw_message_chunks (
    raw_message_id BIGINT NOT NULL REFERENCES raw_messages(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (raw_message_id, seq)
);
CREATE TABLE attachment_chunks (
    attachment_id BIGINT NOT NULL REFERENCES attachments(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (attachment_id, seq)
);
