-- Self-service boxes: the exits an admin allows a user to choose for the boxes they make
-- themselves (besides egress.default_exit). Rows go with their user or exit.
CREATE TABLE user_exits (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    exit_id uuid NOT NULL REFERENCES egress_ips (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, exit_id)
);
CREATE INDEX user_exits_exit ON user_exits (exit_id);
