"""APScheduler triggers from schedule files, and the time windows jobs keep to."""

from __future__ import annotations

import random
import socket
from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from xmpvision.config.schedules import ScheduleJob, TimeWindow

DAY = 24 * 60  # minutes


def trigger_for(job: ScheduleJob, rng: random.Random | None = None) -> BaseTrigger:
    """`Every` is an interval from now; `Cron` a crontab line; daily / weekly a random time
    (and day), as PhotoPrism does: random per machine and schedule, the same on every load
    (a reload or a restart must not move it)."""
    jitter = None if job.jitter is None else max(1, round(job.jitter))
    if job.every is not None:
        return IntervalTrigger(seconds=job.every, jitter=jitter)
    rng = rng or random.Random(
        f"{socket.gethostname()}/{job.name}/{job.cron}/{job.window}")
    if job.cron in ("daily", "weekly"):
        hour, minute = divmod(_random_minute(job.time_window, rng), 60)
        day = rng.randrange(7) if job.cron == "weekly" else None
        return CronTrigger(day_of_week=day, hour=hour, minute=minute, jitter=jitter)
    assert job.cron is not None
    trigger = CronTrigger.from_crontab(job.cron)
    trigger.jitter = jitter
    return trigger


def _random_minute(window: TimeWindow | None, rng: random.Random) -> int:
    """A random minute of the day, inside the window when there is one."""
    if window is None:
        return rng.randrange(DAY)
    length = (window.end - window.start) % DAY or DAY
    return (window.start + rng.randrange(length)) % DAY


def window_end(window: TimeWindow, now: datetime) -> datetime | None:
    """When the window that `now` is in ends; None when `now` is outside it."""
    minute = now.hour * 60 + now.minute
    if not window.contains(minute):
        return None
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    end = midnight + timedelta(minutes=window.end)
    if end <= now:
        end += timedelta(days=1)
    return end


def describe(job: ScheduleJob) -> str:
    when = f"every {job.every:g}s" if job.every is not None else f"cron {job.cron}"
    extra = f", window {job.window}" if job.window else ""
    return f"{when}{extra}, {'+'.join(job.models)}{' (forced)' if job.force else ''}"
