import { describe, expect, test } from '@jest/globals';
import { formatDuration, parseDuration } from '../../src/util/duration.js';
import { InputError } from '../../src/util/errors.js';

const MAX = 12 * 3600;

describe('parseDuration', () => {
  test.each([
    ['900s', 900],
    ['15m', 900],
    ['1h', 3600],
    ['1h30m', 5400],
    ['2s', 2],
    ['90m', 5400],
    ['1h0m30s', 3630],
    ['12h', MAX],
    [' 15m ', 900]
  ])('reads %j as %i seconds', (text, seconds) => {
    expect(parseDuration('ttl', text, MAX)).toBe(seconds);
  });

  test.each(['0', 'abc', '1.5h', '', '   ', '-1h', '15', '15 m', '1m1h', '1H', '1d', 'h'])(
    'rejects %j, naming the value and the expected form',
    (text) => {
      let caught: unknown;
      try {
        parseDuration('ttl', text, MAX);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(InputError);
      const message = (caught as Error).message;
      expect(message).toContain(`ttl "${text}"`);
      expect(message).toMatch(/use e\.g\. .*15m.*1h30m/);
    }
  );

  test.each(['0s', '0h0m0s', '0m'])('rejects the zero duration %j', (text) => {
    expect(() => parseDuration('ttl', text, MAX)).toThrow(InputError);
    expect(() => parseDuration('ttl', text, MAX)).toThrow(`ttl "${text}" must be longer than zero`);
  });

  test.each(['13h', '12h1s', '721m', '43201s', '99999999999999999999h'])(
    'rejects %j as longer than the 12h maximum and says what the maximum is',
    (text) => {
      expect(() => parseDuration('ttl', text, MAX)).toThrow(InputError);
      expect(() => parseDuration('ttl', text, MAX)).toThrow(
        `ttl "${text}" is longer than the maximum 12h`
      );
    }
  );

  test('labels the error with the name it is given', () => {
    expect(() => parseDuration('connect-timeout', '10x', 300)).toThrow(
      /^connect-timeout "10x" is not a duration/
    );
    expect(() => parseDuration('connect-timeout', '6m', 300)).toThrow(
      'connect-timeout "6m" is longer than the maximum 5m'
    );
  });
});

describe('formatDuration', () => {
  test.each([
    [5400, '1h30m'],
    [3600, '1h'],
    [900, '15m'],
    [2, '2s'],
    [MAX, '12h'],
    [3661, '1h1m1s'],
    [0, '0s']
  ])('formats %i seconds as %j', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });

  test('prints every allowed duration in a form that parseDuration reads back', () => {
    const wrong: string[] = [];
    for (let seconds = 1; seconds <= MAX; seconds += 7) {
      const text = formatDuration(seconds);
      if (parseDuration('ttl', text, MAX) !== seconds) wrong.push(`${seconds} -> ${text}`);
    }
    expect(wrong).toEqual([]);
  });
});
