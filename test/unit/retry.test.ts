import { describe, expect, test } from '@jest/globals';
import { createServer, connect, type AddressInfo } from 'node:net';
import { isNetworkError, retry, type RetryOptions } from '../../src/util/retry.js';

class Transient extends Error {}
class Permanent extends Error {}

/** Options with a recorded sleep, so no test waits. */
function options(overrides: Partial<RetryOptions> = {}) {
  const sleeps: number[] = [];
  const opts: RetryOptions = {
    attempts: 5,
    baseMs: 100,
    maxMs: 1000,
    retryable: (err) => err instanceof Transient,
    sleep: async (ms) => void sleeps.push(ms),
    random: () => 0.5,
    ...overrides
  };
  return { opts, sleeps };
}

/** A function that fails with the given errors in turn, then returns "ok". */
function failing(...errors: Error[]) {
  const calls: number[] = [];
  const fn = async (attempt: number) => {
    calls.push(attempt);
    const err = errors[calls.length - 1];
    if (err) throw err;
    return 'ok';
  };
  return { fn, calls };
}

describe('retry', () => {
  test('returns at once when the first call succeeds', async () => {
    const { opts, sleeps } = options();
    const { fn, calls } = failing();
    await expect(retry(fn, opts)).resolves.toBe('ok');
    expect(calls).toEqual([1]);
    expect(sleeps).toEqual([]);
  });

  test('retries retryable errors until a call succeeds, numbering the attempts', async () => {
    const { opts, sleeps } = options();
    const { fn, calls } = failing(new Transient('503'), new Transient('503'));
    await expect(retry(fn, opts)).resolves.toBe('ok');
    expect(calls).toEqual([1, 2, 3]);
    expect(sleeps).toHaveLength(2);
  });

  test('does not retry an error that cannot succeed, and throws that very error', async () => {
    const { opts, sleeps } = options();
    const denied = new Permanent('401 bad credentials');
    const { fn, calls } = failing(new Transient('503'), denied);
    await expect(retry(fn, opts)).rejects.toBe(denied);
    expect(calls).toEqual([1, 2]);
    expect(sleeps).toHaveLength(1);
  });

  test('gives up after the given number of attempts and throws the last error', async () => {
    const { opts, sleeps } = options({ attempts: 3 });
    const last = new Transient('third');
    const { fn, calls } = failing(
      new Transient('first'),
      new Transient('second'),
      last,
      new Transient('never')
    );
    await expect(retry(fn, opts)).rejects.toBe(last);
    expect(calls).toEqual([1, 2, 3]);
    expect(sleeps).toHaveLength(2);
  });

  test('makes one call when attempts is 1', async () => {
    const { opts } = options({ attempts: 1 });
    const { fn, calls } = failing(new Transient('503'));
    await expect(retry(fn, opts)).rejects.toThrow('503');
    expect(calls).toEqual([1]);
  });

  test('sleeps with full jitter: random * base * 2^attempt, capped at the maximum', async () => {
    const errors = Array.from({ length: 6 }, () => new Transient('503'));
    const top = options({ attempts: 6, random: () => 1 - Number.EPSILON });
    await expect(retry(failing(...errors).fn, top.opts)).rejects.toBeInstanceOf(Transient);
    // Bounds 200, 400, 800, then the 1000 cap; a sleep never reaches its bound.
    expect(top.sleeps).toEqual([199, 399, 799, 999, 999]);

    const half = options({ attempts: 6, random: () => 0.5 });
    await expect(retry(failing(...errors).fn, half.opts)).rejects.toBeInstanceOf(Transient);
    expect(half.sleeps).toEqual([100, 200, 400, 500, 500]);

    const none = options({ attempts: 6, random: () => 0 });
    await expect(retry(failing(...errors).fn, none.opts)).rejects.toBeInstanceOf(Transient);
    expect(none.sleeps).toEqual([0, 0, 0, 0, 0]);
  });

  test('really waits when no sleep is injected', async () => {
    const started = Date.now();
    const { fn, calls } = failing(new Transient('503'));
    await expect(
      retry(fn, { attempts: 2, baseMs: 40, maxMs: 40, retryable: () => true, random: () => 1 })
    ).resolves.toBe('ok');
    expect(calls).toEqual([1, 2]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(35);
  });
});

/** A real ECONNREFUSED from this machine: a port that was just closed. */
async function refusedConnectError(): Promise<unknown> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', resolve);
    socket.on('connect', () => {
      socket.destroy();
      resolve(new Error('port unexpectedly open'));
    });
  });
}

const coded = (code: string, message = `connect ${code} 10.0.0.1:5432`) =>
  Object.assign(new Error(message), { code });

describe('isNetworkError', () => {
  test.each([
    'ECONNREFUSED',
    'ECONNRESET',
    'ETIMEDOUT',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'EAI_AGAIN',
    'EPIPE'
  ])('counts %s as a network error', (code) => {
    expect(isNetworkError(coded(code))).toBe(true);
  });

  test('counts a real refused connection as a network error', async () => {
    const err = await refusedConnectError();
    expect((err as { code?: string }).code).toBe('ECONNREFUSED');
    expect(isNetworkError(err)).toBe(true);
  });

  test('counts a dual-stack AggregateError whose parts are network errors', () => {
    const aggregate = new AggregateError(
      [
        coded('ECONNREFUSED', 'connect ECONNREFUSED ::1:5432'),
        coded('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432')
      ],
      ''
    );
    expect(isNetworkError(aggregate)).toBe(true);
    expect(isNetworkError({ errors: [new Error('x'), { code: 'ETIMEDOUT' }] })).toBe(true);
  });

  test('does not count an AggregateError made only of other errors', () => {
    expect(
      isNetworkError(new AggregateError([new Error('syntax error'), coded('28P01', 'auth')], ''))
    ).toBe(false);
    expect(isNetworkError({ errors: [] })).toBe(false);
  });

  test.each([
    'Connection terminated unexpectedly',
    'timeout expired',
    'Query read timeout',
    'Connection Timeout'
  ])('counts the driver message %j as a network error', (message) => {
    expect(isNetworkError(new Error(message))).toBe(true);
  });

  test.each([
    ['a failed password', coded('28P01', 'password authentication failed for user "admin"')],
    ['missing privileges', coded('42501', 'permission denied to create role')],
    ['an unknown host', coded('ENOTFOUND', 'getaddrinfo ENOTFOUND db.invalid')],
    ['a plain error', new Error('role "x" already exists')],
    ['null', null],
    ['undefined', undefined],
    ['a string', 'ECONNREFUSED'],
    ['a number', 503]
  ])('does not count %s', (_label, err) => {
    expect(isNetworkError(err)).toBe(false);
  });
});
