import { describe, expect, test } from '@jest/globals';
import {
  errorMessage,
  InputError,
  redact,
  registerSecret,
  withContext
} from '../../src/util/errors.js';

// The registry is per module instance, and jest gives every test file its own.

describe('redact and registerSecret', () => {
  test('strips a registered secret wherever it appears, every time', () => {
    registerSecret('hunter2-admin-pw');
    expect(redact('password authentication failed: hunter2-admin-pw, again hunter2-admin-pw')).toBe(
      'password authentication failed: ***, again ***'
    );
  });

  test('strips the URL-encoded form of a secret too', () => {
    const secret = 'p@ss/w:rd&x y+z%';
    registerSecret(secret);
    const url = `postgres://admin:${encodeURIComponent(secret)}@db.internal:5432/app`;
    expect(url).not.toContain(secret); // the encoded form really is a different string
    const out = redact(`could not connect to ${url}`);
    expect(out).not.toContain(encodeURIComponent(secret));
    expect(out).toBe('could not connect to postgres://admin:***@db.internal:5432/app');
    expect(redact(`raw ${secret}`)).toBe('raw ***');
  });

  test('strips a longer secret whole even when a shorter one is part of it', () => {
    registerSecret('tok-1234');
    registerSecret('tok-1234-and-the-rest-of-it');
    expect(redact('got tok-1234-and-the-rest-of-it')).toBe('got ***');
  });

  test('leaves text without secrets alone, and ignores secrets too short to mask usefully', () => {
    registerSecret('a');
    registerSecret('');
    expect(redact('a plain message about a database')).toBe('a plain message about a database');
  });
});

describe('errorMessage', () => {
  test('takes the message of an Error, with secrets stripped', () => {
    registerSecret('s3cret-value-9');
    expect(errorMessage(new Error('login failed for s3cret-value-9'))).toBe('login failed for ***');
  });

  test('takes the name of an Error with no message', () => {
    expect(errorMessage(new TypeError())).toBe('TypeError');
  });

  test('turns thrown non-errors into text, with secrets stripped', () => {
    registerSecret('thrown-secret-7');
    expect(errorMessage('boom thrown-secret-7')).toBe('boom ***');
    expect(errorMessage(42)).toBe('42');
    expect(errorMessage(undefined)).toBe('undefined');
  });
});

describe('withContext', () => {
  test('says where it happened and why, with secrets stripped', () => {
    registerSecret('ctx-password-1');
    const wrapped = withContext(
      'Could not create PostgreSQL user on db.internal:5432',
      new Error('auth failed for ctx-password-1')
    );
    expect(wrapped.message).toBe(
      'Could not create PostgreSQL user on db.internal:5432: auth failed for ***'
    );
    expect(wrapped).not.toBeInstanceOf(InputError);
  });

  test('keeps an InputError an InputError, so the CLI still exits 2', () => {
    const wrapped = withContext('Reading settings', new InputError('ttl "9x" is not a duration'));
    expect(wrapped).toBeInstanceOf(InputError);
    expect(wrapped.name).toBe('InputError');
    expect(wrapped.message).toBe('Reading settings: ttl "9x" is not a duration');
  });
});
