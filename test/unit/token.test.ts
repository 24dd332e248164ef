import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as core from '@actions/core';
import { SignJWT } from 'jose';
import { getIdToken, isTransientTokenError, type TokenSource } from '../../src/oidc/token.js';
import { InputError } from '../../src/util/errors.js';

const noSleep = { sleep: async () => undefined };

/** The text @actions/core builds when its token request fails (oidc-utils getCall + getIDToken). */
function coreError(statusCode: number | undefined, message: string): Error {
  return new Error(`Error message: Failed to get ID Token. \n 
        Error Code : ${statusCode}\n 
        Error Message: ${message}`);
}

async function mintToken(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('https://token.actions.githubusercontent.com')
    .setAudience('ephemeral-credentials')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode('a-test-key-of-at-least-32-bytes-long!'));
}

/** A fake TokenSource answering each request from a script, and counting requests. */
function scriptedSource(script: Array<string | Error>, available = true) {
  const audiences: string[] = [];
  const source: TokenSource = {
    available: () => available,
    request: async (audience) => {
      audiences.push(audience);
      const next = script[audiences.length - 1];
      if (next === undefined) throw new Error('no more answers scripted');
      if (next instanceof Error) throw next;
      return next;
    },
    missingHint: 'Add `permissions: id-token: write` to the job.'
  };
  return { source, audiences };
}

describe('isTransientTokenError', () => {
  test.each([429, 500, 502, 503, 504])('retries the @actions/core error for HTTP %i', (status) => {
    expect(isTransientTokenError(coreError(status, 'Unexpected'))).toBe(true);
  });

  test.each([400, 401, 403, 404])(
    'does not retry the @actions/core error for HTTP %i',
    (status) => {
      expect(isTransientTokenError(coreError(status, 'Denied'))).toBe(false);
    }
  );

  test.each([
    [{ statusCode: 503 }, true],
    [{ statusCode: 429 }, true],
    [{ statusCode: 401 }, false],
    [{ statusCode: 403 }, false]
  ])('reads a statusCode property %j', (err, transient) => {
    expect(isTransientTokenError(Object.assign(new Error('HTTP error'), err))).toBe(transient);
  });

  test('retries network errors, whether raw or flattened into text by @actions/core', () => {
    expect(
      isTransientTokenError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))
    ).toBe(true);
    expect(isTransientTokenError(coreError(undefined, 'connect ECONNREFUSED 10.1.0.4:443'))).toBe(
      true
    );
    expect(
      isTransientTokenError(
        coreError(undefined, 'getaddrinfo EAI_AGAIN pipelines.actions.githubusercontent.com')
      )
    ).toBe(true);
  });

  test.each([
    new Error('Response json body do not have ID Token field'),
    new Error('Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable'),
    'something odd',
    null,
    undefined
  ])('does not retry %p', (err) => {
    expect(isTransientTokenError(err)).toBe(false);
  });
});

describe('isTransientTokenError on errors thrown by the real @actions/core', () => {
  let server: Server;
  let base = '';
  let status = 200;
  const saved = {
    url: process.env.ACTIONS_ID_TOKEN_REQUEST_URL,
    token: process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN
  };

  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: `status ${status}` }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = 'request-token';
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    for (const [key, value] of [
      ['ACTIONS_ID_TOKEN_REQUEST_URL', saved.url],
      ['ACTIONS_ID_TOKEN_REQUEST_TOKEN', saved.token]
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  async function coreFailure(url: string): Promise<unknown> {
    process.env.ACTIONS_ID_TOKEN_REQUEST_URL = url;
    return core.getIDToken('ephemeral-credentials').then(
      () => new Error('getIDToken unexpectedly succeeded'),
      (err: unknown) => err
    );
  }

  // 502-504 are left out: the runner's HTTP client retries those itself for seconds.
  test.each([
    [500, true],
    [429, true],
    [401, false],
    [403, false],
    [400, false]
  ])('HTTP %i from the token service: transient = %p', async (code, transient) => {
    status = code;
    const err = await coreFailure(`${base}/token?api-version=2.0`);
    expect(String(err)).toContain(`Error Code : ${code}`);
    expect(isTransientTokenError(err)).toBe(transient);
  });

  test('a refused connection to the token service is transient', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const err = await coreFailure(`http://127.0.0.1:${port}/token?api-version=2.0`);
    expect(String(err)).toContain('ECONNREFUSED');
    expect(isTransientTokenError(err)).toBe(true);
  });
});

describe('getIdToken', () => {
  test('returns undefined without asking when the job has no token and none is required', async () => {
    const { source, audiences } = scriptedSource(['never'], false);
    await expect(getIdToken(source, 'aud', false)).resolves.toBeUndefined();
    expect(audiences).toEqual([]);
  });

  test('fails with an InputError that tells the user what to add when a token is required', async () => {
    const { source, audiences } = scriptedSource(['never'], false);
    const failure = getIdToken(source, 'aud', true);
    await expect(failure).rejects.toBeInstanceOf(InputError);
    await expect(failure).rejects.toThrow(
      'This job has no OIDC token. Add `permissions: id-token: write` to the job.'
    );
    expect(audiences).toEqual([]);
  });

  test('returns the token and its decoded claims', async () => {
    const claims = {
      repository: 'acme/app',
      repository_id: '123456789',
      run_id: '987',
      run_attempt: '2'
    };
    const token = await mintToken(claims);
    const { source, audiences } = scriptedSource([token]);
    const got = await getIdToken(source, 'https://creds.example.com', true);
    expect(got?.token).toBe(token);
    expect(got?.claims).toMatchObject({
      ...claims,
      iss: 'https://token.actions.githubusercontent.com',
      aud: 'ephemeral-credentials'
    });
    expect(audiences).toEqual(['https://creds.example.com']);
  });

  test('makes a fresh request for every attempt after transient failures', async () => {
    const token = await mintToken({ run_id: '1' });
    const { source, audiences } = scriptedSource([
      coreError(503, 'Service Unavailable'),
      coreError(429, 'Too Many Requests'),
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      token
    ]);
    const got = await getIdToken(source, 'aud', true, noSleep);
    expect(got?.token).toBe(token);
    expect(audiences).toEqual(['aud', 'aud', 'aud', 'aud']);
  });

  test('waits between attempts', async () => {
    const token = await mintToken({ run_id: '1' });
    const { source } = scriptedSource([coreError(500, 'x'), coreError(500, 'x'), token]);
    const sleeps: number[] = [];
    await getIdToken(source, 'aud', true, {
      sleep: async (ms) => void sleeps.push(ms),
      random: () => 0.5
    });
    expect(sleeps).toHaveLength(2);
    expect(sleeps.every((ms) => ms > 0)).toBe(true);
  });

  test('does not retry a denied request', async () => {
    const denied = coreError(403, 'Forbidden');
    const { source, audiences } = scriptedSource([denied, 'never']);
    await expect(getIdToken(source, 'aud', true, noSleep)).rejects.toBe(denied);
    expect(audiences).toHaveLength(1);
  });

  test('gives up after the attempts it is allowed and reports the last failure', async () => {
    const last = coreError(502, 'Bad Gateway (last)');
    const { source, audiences } = scriptedSource([
      coreError(500, 'a'),
      coreError(500, 'b'),
      last,
      'never'
    ]);
    await expect(getIdToken(source, 'aud', true, { ...noSleep, attempts: 3 })).rejects.toBe(last);
    expect(audiences).toHaveLength(3);
  });

  test('gives up by default rather than retrying forever', async () => {
    const { source, audiences } = scriptedSource(
      Array.from({ length: 50 }, () => coreError(500, 'down'))
    );
    await expect(getIdToken(source, 'aud', true, noSleep)).rejects.toThrow('Error Code : 500');
    expect(audiences.length).toBeGreaterThan(1);
    expect(audiences.length).toBeLessThan(10);
  });

  test('rejects a token that is not a JWT instead of returning empty claims', async () => {
    const { source } = scriptedSource(['not-a-jwt']);
    await expect(getIdToken(source, 'aud', true)).rejects.toThrow();
  });
});
