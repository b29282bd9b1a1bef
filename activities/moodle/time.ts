/**
 * Dates in command files (spec decision 9): `YYYY-MM-DD hh:mm:ss`, `YYYY-MM-DD`, ISO 8601 and Unix
 * seconds, read in the site's time zone unless the value carries its own offset.
 */

/** Offset of `timeZone` from UTC at the given instant, in minutes (Europe/London in July: 60). */
function zoneOffsetMinutes(timeZone: string, utcMs: number): number {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(utcMs)).map((p) => [p.type, p.value]));
  const asUtc = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return Math.round((asUtc - utcMs) / 60000);
}

/** Unix seconds of a wall-clock time in `timeZone`. */
function fromZonedWallClock(y: number, mo: number, d: number, h: number, mi: number, s: number, timeZone: string): number {
  const naive = Date.UTC(y, mo - 1, d, h, mi, s);
  let offset = zoneOffsetMinutes(timeZone, naive);
  offset = zoneOffsetMinutes(timeZone, naive - offset * 60000); // settle across a DST change
  return Math.floor((naive - offset * 60000) / 1000);
}

export function isValidTimeZone(tz: string): boolean {
  try { new Intl.DateTimeFormat('en', { timeZone: tz }); return true; } catch { return false; }
}

/** Unix seconds, or a reason the value is not a date. */
export function parseMoodleTime(raw: string, siteTimeZone: string): { ok: true; value: number } | { ok: false; reason: string } {
  const v = raw.trim();
  if (/^\d{1,11}$/.test(v)) return { ok: true, value: Number(v) };
  const tz = isValidTimeZone(siteTimeZone) ? siteTimeZone : 'UTC';
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(v);
  if (m) {
    const [y, mo, d, h = '0', mi = '0', s = '0'] = m.slice(1);
    const value = fromZonedWallClock(Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s), tz);
    const back = new Date((value + zoneOffsetMinutes(tz, value * 1000) * 60) * 1000);
    if (back.getUTCDate() !== Number(d) || back.getUTCMonth() + 1 !== Number(mo)) return { ok: false, reason: `"${raw}" is not a real date` };
    return { ok: true, value };
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(v)) {
    const ms = Date.parse(v);
    if (!Number.isNaN(ms)) return { ok: true, value: Math.floor(ms / 1000) };
  }
  return { ok: false, reason: `"${raw}" is not a date: use YYYY-MM-DD, YYYY-MM-DD hh:mm:ss, ISO 8601 or Unix seconds` };
}

/** The site time zone: config forcetimezone when set, else config timezone (99 means the server's). */
export function siteTimeZone(config: { timezone?: string; forcetimezone?: string }): string {
  const forced = config.forcetimezone;
  if (forced && forced !== '99' && isValidTimeZone(forced)) return forced;
  const tz = config.timezone;
  if (tz && tz !== '99' && isValidTimeZone(tz)) return tz;
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}
