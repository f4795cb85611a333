-- refusals: how many deliveries in a row the push service refused for good (a 4xx other
-- than 404/410, which remove the subscription at once); past a few it is removed.
ALTER TABLE subscriptions ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0;

-- New and removed subscriptions counted per hour (UTC, 'YYYY-MM-DDTHH'), for the organizers'
-- dashboard. Counts only: a subscription itself keeps just the day it was made.
CREATE TABLE subscription_growth (
    hour TEXT PRIMARY KEY,
    added INTEGER NOT NULL DEFAULT 0,
    removed INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
