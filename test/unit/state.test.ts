import { describe, expect, test } from '@jest/globals';
import { parseState, stringifyState, type LeaseState } from '../../src/state.js';

const state: LeaseState = {
  v: 1,
  provider: 'postgres',
  leaseId: 'ci_0a1b2c3d_k3j4h5g6',
  username: 'ci_0a1b2c3d_k3j4h5g6',
  expiresAt: '2030-01-01T01:00:00.000Z',
  target: 'db.internal:5432/app',
  exported: ['DATABASE_URL', 'PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE']
};

describe('state', () => {
  test('reads back exactly what was saved', () => {
    expect(parseState(stringifyState(state))).toEqual(state);
  });

  test('reads a state file with a trailing newline', () => {
    expect(parseState(`${stringifyState(state)}\n`)).toEqual(state);
  });

  test.each([undefined, '', '  \n'])('has no state for %j', (text) => {
    expect(parseState(text)).toBeUndefined();
  });

  test.each(['not json', '{"v":1,', 'v=1 username=ci_x'])(
    'rejects %j as not JSON, saying it is not ours',
    (text) => {
      expect(() => parseState(text)).toThrow(
        'the saved state is not JSON; it was not written by ephemeral-credentials'
      );
    }
  );

  test.each([
    '{"foo":1}',
    '[]',
    'null',
    '42',
    '"lease"',
    JSON.stringify({ ...state, v: 2 }),
    JSON.stringify({ ...state, username: undefined }),
    JSON.stringify({ ...state, username: 7 }),
    JSON.stringify({ ...state, provider: undefined })
  ])('rejects the foreign JSON %s with a clear message', (text) => {
    expect(() => parseState(text)).toThrow('the saved state is not one this version understands');
  });
});
