-- The last box image build that `cloudclaude image build` reported (the package builds it in
-- the background after installing): its progress while it runs, then how it ended, so the
-- dashboard shows it. One row.
CREATE TABLE image_build (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    percent integer NOT NULL DEFAULT 0,
    stage text NOT NULL DEFAULT '',
    message text NOT NULL DEFAULT '',
    image text,
    error_code text,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
