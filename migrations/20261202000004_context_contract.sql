-- The context a policy version declares it needs (issue 17): keys with a JSON
-- type each, checked against a creation's context. NULL: not declared, and
-- the context is not checked (the spec's default).
ALTER TABLE policy
    ADD COLUMN expected_context jsonb
        CHECK (expected_context IS NULL OR jsonb_typeof(expected_context) = 'object');
