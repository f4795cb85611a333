-- Failed sign-ins per account, where every `serve --workers` process counts them: guesses
-- spread over N processes are one series. The account is a keyed hash of the name typed;
-- rows older than the throttle's window are deleted as new ones are written.
CREATE TABLE sign_in_failures (
    account BLOB NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX sign_in_failures_account ON sign_in_failures (account, at);
