-- Rolling boxes forward to a new image. ``box_image`` holds the current box image (one row,
-- written whenever the agent reports the image it builds from the current inputs); a host whose
-- ``image_ref`` differs is "image outdated". ``roll_pending`` marks a running host to be
-- rebuilt at its next stop (``cloudclaudectl hosts roll``).
CREATE TABLE box_image (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    ref text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE hosts ADD COLUMN roll_pending boolean NOT NULL DEFAULT false;
