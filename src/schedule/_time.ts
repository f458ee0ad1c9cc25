/** Croner options shared by validation and fire-time computation: 5 fields, minute precision. */
export const CRON_MODE = "5-part" as const;

/** Milliseconds in a minute. */
export const MINUTE_MS = 60_000;

const UNITS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: MINUTE_MS };

/**
 * Parses a duration such as `30m`, `2h`, `1d` or `1h30m`.
 * @param text The duration.
 * @returns Milliseconds, or `null` when the text is not a positive duration that a
 *   safe integer can hold.
 */
export function parseDuration(text: string): number | null {
  const match = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$/.exec(text.trim());
  if (!match || text.trim() === "") return null;
  const [, d, h, m] = match;
  const ms = Number(d ?? 0) * UNITS.d + Number(h ?? 0) * UNITS.h + Number(m ?? 0) * UNITS.m;
  return ms > 0 && Number.isSafeInteger(ms) ? ms : null;
}

const knownZones = new Map<string, boolean>();

/**
 * @param name A time zone name.
 * @returns Whether the runtime knows `name` as an IANA time zone (remembered per name:
 *   building an `Intl.DateTimeFormat` costs about 0.2 ms, once per schedule otherwise).
 */
export function isTimezone(name: string): boolean {
  let known = knownZones.get(name);
  if (known === undefined) {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: name });
      known = name.trim() !== "";
    } catch {
      known = false;
    }
    knownZones.set(name, known);
  }
  return known;
}

/** @returns The machine's local IANA time zone, as cron uses. */
export function localTimezone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/**
 * @param at An instant.
 * @returns The start of its minute.
 */
export function floorMinute(at: Date): Date {
  return new Date(Math.floor(at.getTime() / MINUTE_MS) * MINUTE_MS);
}

/**
 * @param timezone An IANA time zone.
 * @returns Whether it is UTC by name (`UTC`, `Etc/UTC`), so fire times and local minutes
 *   can be computed without `Intl`.
 */
export function isUtc(timezone: string): boolean {
  return timezone === "UTC" || timezone === "Etc/UTC";
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/**
 * The wall-clock minute of an instant in a time zone.
 * @param at The instant.
 * @param timezone An IANA time zone.
 * @returns `YYYY-MM-DDTHH:MM` local to `timezone`.
 */
export function localMinute(at: Date, timezone: string): string {
  const year = at.getUTCFullYear();
  if (isUtc(timezone) && year >= 0 && year <= 9999) return at.toISOString().slice(0, 16);
  let format = formatters.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: timezone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
    });
    formatters.set(timezone, format);
  }
  const p: Record<string, string> = {};
  for (const part of format.formatToParts(at)) p[part.type] = part.value;
  return `${p.year.padStart(4, "0")}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}
