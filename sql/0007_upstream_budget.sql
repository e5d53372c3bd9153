-- 0007: the upstream budget. One row per provider and UTC day: the requests every daemon sent
-- with that provider's key, by class, so a restart (of a daemon or of Redis) forgets nothing and
-- several daemons on one database share one daily quota.
--
--   interactive / background  units reserved before each send (theset_daemon/upstream/budget.py):
--                             an import's requests, and the jobs'.
--   reported_available        the provider's own Rate-Limit-Available (Ticketmaster), with
--   reported_at_total         our total when it was read: what was sent since counts against it.
--   resets_at                 when the provider says the quota refills (Rate-Limit-Reset), else
--                             the next UTC midnight.
--   spent_until               a provider's own quota answer (a quota 429): nothing is sent
--                             before then, whatever the counts say.
CREATE TABLE IF NOT EXISTS upstream_quota_days (
    provider            text NOT NULL,
    day                 date NOT NULL,
    interactive         integer NOT NULL DEFAULT 0,
    background          integer NOT NULL DEFAULT 0,
    reported_available  integer,
    reported_at_total   integer,
    resets_at           timestamptz NOT NULL,
    spent_until         timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, day),
    CONSTRAINT upstream_quota_days_counts CHECK (interactive >= 0 AND background >= 0)
);

COMMENT ON TABLE upstream_quota_days IS
    'Operations: requests sent per upstream provider, UTC day and class (the daily quota ledger).';
