"""Self-monitoring: each job's health, the alert rules, and the notifiers that page a person.

``health`` and ``rules`` are pure (a function of the schedule, the runs and the clock), so they
are tested as tables over time; the service that reads runs from Postgres, stores ``cron_alerts``
and sends notifications sits on top of them.
"""
