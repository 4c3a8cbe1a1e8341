import { describe, expect, it } from 'vitest';
import { isQuiet, nextAllowed, parseQuietHours, shiftOutOfQuiet } from '../../src/reauth/quiet-hours.js';

const berlin = parseQuietHours('22:00-07:30 Europe/Berlin');
const utc = (s: string): number => Date.parse(`${s}Z`);

describe('quiet hours', () => {
  it.each([
    ['22:00-07:30 Europe/Berlin', { startMin: 1320, endMin: 450, timeZone: 'Europe/Berlin' }],
    ['12:00-13:00', { startMin: 720, endMin: 780, timeZone: 'UTC' }],
    ['0:05-6:00 America/New_York', { startMin: 5, endMin: 360, timeZone: 'America/New_York' }],
  ])('parses %s', (spec, want) => {
    expect(parseQuietHours(spec)).toEqual(want);
  });

  it.each(['22:00', '25:00-07:00', '22:00-07:61', '22:00-07:30 Mars/Olympus'])('rejects %s naming the key', (spec) => {
    expect(() => parseQuietHours(spec, 'connections.gmail.quiet_hours')).toThrow(/connections\.gmail\.quiet_hours/);
  });

  it.each([
    // Winter: Berlin is UTC+1.
    ['2026-01-12T20:59:00', false],
    ['2026-01-12T21:00:00', true],
    ['2026-01-12T23:59:00', true],
    ['2026-01-13T06:29:00', true],
    ['2026-01-13T06:30:00', false],
    // Summer: UTC+2, the same wall-clock window moves an hour in UTC.
    ['2026-07-01T05:29:00', true],
    ['2026-07-01T05:30:00', false],
    ['2026-07-01T19:59:00', false],
    ['2026-07-01T20:00:00', true],
  ])('at %s UTC quiet in Berlin: %s', (t, quiet) => {
    expect(isQuiet(berlin, utc(t))).toBe(quiet);
  });

  it('a window within one day', () => {
    const noon = parseQuietHours('12:00-13:00');
    expect(isQuiet(noon, utc('2026-01-12T12:30:00'))).toBe(true);
    expect(isQuiet(noon, utc('2026-01-12T13:00:00'))).toBe(false);
    expect(nextAllowed(noon, utc('2026-01-12T12:30:00'))).toBe(utc('2026-01-12T13:00:00'));
  });

  it('nextAllowed is the end of the quiet period, or the time itself', () => {
    expect(nextAllowed(berlin, utc('2026-01-12T21:30:00'))).toBe(utc('2026-01-13T06:30:00'));
    expect(nextAllowed(berlin, utc('2026-01-13T03:10:20'))).toBe(utc('2026-01-13T06:30:00'));
    expect(nextAllowed(berlin, utc('2026-01-13T12:00:00'))).toBe(utc('2026-01-13T12:00:00'));
    expect(nextAllowed(null, 5)).toBe(5);
    // Across the spring DST change (29 March 2026, 02:00 → 03:00 local).
    expect(nextAllowed(berlin, utc('2026-03-28T23:00:00'))).toBe(utc('2026-03-29T05:30:00'));
  });

  it('shiftOutOfQuiet moves a renewal to the morning, or back to the evening when death comes first', () => {
    const planned = utc('2026-01-11T22:00:00'); // 23:00 Berlin
    expect(shiftOutOfQuiet(berlin, planned, utc('2026-01-12T22:00:00'))).toBe(utc('2026-01-12T06:30:00'));
    // Dies at 05:00 Berlin: the morning is too late, so ask before the quiet period began.
    expect(shiftOutOfQuiet(berlin, planned, utc('2026-01-12T04:00:00'))).toBe(utc('2026-01-11T20:59:00'));
    expect(shiftOutOfQuiet(berlin, utc('2026-01-11T12:00:00'), utc('2026-01-12T12:00:00'))).toBe(
      utc('2026-01-11T12:00:00'),
    );
  });
});
