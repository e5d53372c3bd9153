"""How old each kind of an artist's data may get, by tier (``catalog/plan.py``).

The ``[plan]`` table of ``config.toml``; every key is live (a SIGHUP applies it to the next
run and the next forecast).

The defaults are issue 16's: the artists fans are busy with have their shows and releases at
most 6 hours old, touring or trending artists a day, everyone else a week; setlists are read
within a day of a played show.
"""

from __future__ import annotations

from pydantic import Field

from theset_daemon.config.section import Section


class PlanSettings(Section):
    active_target_age_h: float = Field(6, gt=0)
    touring_target_age_h: float = Field(24, gt=0)
    other_target_age_h: float = Field(168, gt=0)
    setlist_after_show_h: float = Field(24, gt=0)
