import { InputError } from './errors.js';

const UNIT_SECONDS: Record<string, number> = { h: 3600, m: 60, s: 1 };
const DURATION = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** Parses `900s`, `15m`, `1h`, `1h30m` into seconds; `name` labels the error. */
export function parseDuration(name: string, text: string, maxSeconds: number): number {
  const value = text.trim();
  const match = DURATION.exec(value);
  if (!value || !match) {
    throw new InputError(`${name} "${text}" is not a duration; use e.g. 900s, 15m, 1h, 1h30m`);
  }
  const [, h, m, s] = match;
  const seconds =
    Number(h ?? 0) * UNIT_SECONDS.h! + Number(m ?? 0) * UNIT_SECONDS.m! + Number(s ?? 0);
  if (seconds <= 0) throw new InputError(`${name} "${text}" must be longer than zero`);
  if (seconds > maxSeconds) {
    throw new InputError(
      `${name} "${text}" is longer than the maximum ${formatDuration(maxSeconds)}`
    );
  }
  return seconds;
}

/** Formats seconds the way parseDuration reads them (5400 -> "1h30m"). */
export function formatDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s || seconds === 0 ? `${s}s` : ''}`;
}
