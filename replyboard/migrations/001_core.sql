-- Core schema. Timestamps are UTC (TIMESTAMPTZ); *_local columns are the same instant as a naive
-- wall-clock time in the team timezone, materialised at load so daily buckets never drift.

CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR);

CREATE TABLE lines (
    line_number VARCHAR PRIMARY KEY,      -- E.164 (or a short code / sender id)
    name        VARCHAR,                  -- purpose, e.g. "Support", "Rides today"
    source_id   VARCHAR                   -- e.g. OpenPhone phoneNumberId
);

CREATE TABLE agents (
    agent_id VARCHAR PRIMARY KEY,
    name     VARCHAR,
    team     VARCHAR
);

CREATE TABLE contacts (
    contact_number VARCHAR PRIMARY KEY,
    first_seen_at  TIMESTAMPTZ,
    last_seen_at   TIMESTAMPTZ,
    conversations  INTEGER
);

-- One row per message; written by merge (append / update on message_id), derived columns by derive.
CREATE TABLE messages (
    message_id             VARCHAR NOT NULL,
    source                 VARCHAR NOT NULL,  -- kind of file it came from
    created_at             TIMESTAMPTZ NOT NULL,
    direction              VARCHAR NOT NULL,  -- inbound | outbound
    line_number            VARCHAR NOT NULL,
    contact_number         VARCHAR NOT NULL,
    agent_id               VARCHAR,
    is_automated           BOOLEAN NOT NULL,
    body                   VARCHAR,
    channel                VARCHAR NOT NULL,
    source_conversation_id VARCHAR,
    status                 VARCHAR,
    content_hash           UBIGINT NOT NULL,  -- tells a re-sent duplicate from a changed row
    run_id                 INTEGER NOT NULL,
    -- derived at load
    conversation_id        VARCHAR,
    kind                   VARCHAR,  -- inquiry | human_reply | failed_reply | automated | survey_prompt | survey_answer | opt_out
    survey                 VARCHAR,  -- csat | nps on survey prompts and answers
    is_opt_out             BOOLEAN,
    created_local          TIMESTAMP,
    sensitive              VARCHAR   -- card, ssn (comma-separated) when the body holds such data
);

CREATE TABLE conversations (
    conversation_id VARCHAR NOT NULL,
    line_number     VARCHAR NOT NULL,
    contact_number  VARCHAR NOT NULL,
    channel         VARCHAR,
    started_at      TIMESTAMPTZ NOT NULL,
    ended_at        TIMESTAMPTZ NOT NULL,
    started_local   TIMESTAMP NOT NULL,
    messages        INTEGER NOT NULL,
    inbound         INTEGER NOT NULL,
    human_replies   INTEGER NOT NULL,
    first_agent_id  VARCHAR
);

-- A maximal run of customer inquiries with no human reply in between, and what answered it.
CREATE TABLE inquiry_blocks (
    block_id         VARCHAR NOT NULL,
    conversation_id  VARCHAR NOT NULL,
    line_number      VARCHAR NOT NULL,
    contact_number   VARCHAR NOT NULL,
    channel          VARCHAR,
    block_seq        INTEGER NOT NULL,   -- 1 = the conversation's first inquiry block
    is_follow_up     BOOLEAN NOT NULL,   -- a human reply came earlier in the conversation
    started_at       TIMESTAMPTZ NOT NULL,
    started_local    TIMESTAMP NOT NULL,
    inquiries        INTEGER NOT NULL,
    reply_message_id VARCHAR,
    replied_at       TIMESTAMPTZ,
    reply_agent_id   VARCHAR,
    calendar_seconds DOUBLE,             -- NULL while unanswered
    business_seconds DOUBLE,
    deadline_at      TIMESTAMPTZ,        -- same-business-day deadline
    started_in_hours BOOLEAN
);

CREATE TABLE survey_responses (
    response_id       VARCHAR NOT NULL,
    origin            VARCHAR NOT NULL,  -- file | message
    received_at       TIMESTAMPTZ NOT NULL,
    received_local    TIMESTAMP,
    contact_number    VARCHAR NOT NULL,
    line_number       VARCHAR,
    channel           VARCHAR,
    survey            VARCHAR NOT NULL,  -- csat | nps
    reply_text        VARCHAR,
    score             INTEGER,
    parse_status      VARCHAR NOT NULL,  -- valid | out_of_range | ambiguous | not_a_number | opt_out | empty
    conversation_id   VARCHAR,
    agent_id          VARCHAR,           -- last human replier before the survey
    prompt_message_id VARCHAR,
    run_id            INTEGER,
    content_hash      UBIGINT
);

CREATE TABLE calls (
    call_id          VARCHAR NOT NULL,
    source           VARCHAR NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    created_local    TIMESTAMP,
    direction        VARCHAR,
    line_number      VARCHAR,
    contact_number   VARCHAR,
    agent_id         VARCHAR,
    status           VARCHAR,
    duration_seconds DOUBLE,
    run_id           INTEGER
);

CREATE SEQUENCE etl_run_seq START 1;

CREATE TABLE etl_runs (
    run_id         INTEGER PRIMARY KEY,
    started_at     TIMESTAMPTZ NOT NULL,
    finished_at    TIMESTAMPTZ,
    status         VARCHAR NOT NULL,
    rows_read      BIGINT,
    rows_loaded    BIGINT,
    rows_updated   BIGINT,
    rows_rejected  BIGINT,
    rows_duplicate BIGINT,
    settings_key   VARCHAR
);

CREATE TABLE etl_files (
    run_id         INTEGER NOT NULL,
    path           VARCHAR NOT NULL,
    kind           VARCHAR NOT NULL,
    rows_read      BIGINT,
    rows_loaded    BIGINT,
    rows_updated   BIGINT,
    rows_rejected  BIGINT,
    rows_duplicate BIGINT,
    first_at       TIMESTAMPTZ,
    last_at        TIMESTAMPTZ
);

CREATE TABLE rejected_rows (
    run_id INTEGER NOT NULL,
    path   VARCHAR NOT NULL,
    kind   VARCHAR,
    line   BIGINT,
    reason VARCHAR NOT NULL,
    raw    VARCHAR
);
