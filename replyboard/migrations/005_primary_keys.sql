-- The declared keys (replyboard/contract.py TABLES; tests/test_contract.py checks both agree). 004 left one
-- row per key. lines, agents, meta, etl_runs and the sync tables have had theirs since 001 and 003.
ALTER TABLE messages ADD PRIMARY KEY (message_id);
ALTER TABLE conversations ADD PRIMARY KEY (conversation_id);
ALTER TABLE inquiry_blocks ADD PRIMARY KEY (block_id);
ALTER TABLE survey_responses ADD PRIMARY KEY (response_id, origin);
ALTER TABLE calls ADD PRIMARY KEY (call_id);
