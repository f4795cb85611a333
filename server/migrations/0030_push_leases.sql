-- Several processes send from one outbox. A delivery being sent is leased to one of them:
-- lease_owner names the process, and while the status is 'sending' next_attempt holds the
-- moment the lease runs out, after which any sender may claim the delivery again. Once a
-- delivery is done, lease_owner names the sender that last tried it.
ALTER TABLE deliveries ADD COLUMN lease_owner TEXT;
