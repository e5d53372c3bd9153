-- 0012: the `quota_insufficient` alert rule (theset_daemon/monitoring/rules.py).
--
-- It fires when the refresh plan needs more requests a day of a provider than the jobs'
-- background share of that provider's day. Its alerts are per provider, kept like a job's under
-- job_name `upstream:<provider>` (one active per job and rule, as before).
--
-- Runs inside the migrator's transaction; a second run replaces the check with the same one.

ALTER TABLE cron_alerts DROP CONSTRAINT IF EXISTS cron_alerts_rule_valid;
ALTER TABLE cron_alerts ADD CONSTRAINT cron_alerts_rule_valid CHECK (
    rule IN ('error_rate', 'slow_run', 'consecutive_failures', 'missed_execution',
             'quota_insufficient')
);
