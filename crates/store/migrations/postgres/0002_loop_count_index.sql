-- The rate limit counts a sender's messages on a record by From when the author is unknown:
-- without this index that count reads every message of the record.
CREATE INDEX messages_record_from_created ON messages (record_id, email_from, created_at);
