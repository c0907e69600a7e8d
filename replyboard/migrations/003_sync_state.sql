-- API sync (issue 16): where each source and account got to, written in the same publish as the data.
CREATE TABLE sync_state (
    source          VARCHAR NOT NULL,  -- quo | twilio
    account         VARCHAR NOT NULL,  -- Twilio AccountSid; for Quo a fingerprint of the key (never the key)
    high_water      TIMESTAMPTZ,       -- newest updatedAt / date_updated loaded; the next run re-reads before it
    cursor          VARCHAR,           -- an API cursor, where the API pages by cursor across runs
    last_run_id     INTEGER,
    last_success_at TIMESTAMPTZ,
    last_error      VARCHAR,           -- masked: never holds a credential
    last_error_at   TIMESTAMPTZ,
    PRIMARY KEY (source, account)
);

-- Quo conversation objects as the API gave them (assignedTo, participants, phoneNumberId), newest kept:
-- the ownership work reads them; nothing is derived from them here.
CREATE TABLE sync_conversations (
    source          VARCHAR NOT NULL,
    conversation_id VARCHAR NOT NULL,
    phone_number_id VARCHAR,
    participants    VARCHAR[],
    assigned_to     VARCHAR,
    updated_at      TIMESTAMPTZ,
    raw             JSON NOT NULL,
    run_id          INTEGER,
    PRIMARY KEY (source, conversation_id)
);
