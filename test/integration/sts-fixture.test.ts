import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import {
  AssumeRoleWithWebIdentityCommand,
  STSClient,
  type AssumeRoleWithWebIdentityCommandInput
} from '@aws-sdk/client-sts';
import { startLocalIssuer, type LocalIssuer } from '../../src/demo/issuer.js';
import { startLocalSts, type LocalSts } from '../helpers/sts.js';

// The fixture stands in for AWS STS in every aws test, so it is proven here against the real SDK
// client: if the SDK reads its answers, it reads the real service's.

const ROLE = 'arn:aws:iam::123456789012:role/ci/deploy';
let issuer: LocalIssuer;
let stranger: LocalIssuer;
let sts: LocalSts;
let trusted = true;
const savedEnv = { ...process.env };

/** Calls the fixture as the provider will: the real client, one attempt, no credentials at all. */
async function assume(input: Partial<AssumeRoleWithWebIdentityCommandInput> = {}, maxAttempts = 1) {
  const client = new STSClient({ region: 'us-east-1', endpoint: sts.endpoint, maxAttempts });
  try {
    return await client.send(
      new AssumeRoleWithWebIdentityCommand({
        RoleArn: ROLE,
        RoleSessionName: 'gh-777-1',
        WebIdentityToken: await issuer.mint('sts.amazonaws.com'),
        DurationSeconds: 900,
        ...input
      })
    );
  } finally {
    client.destroy();
  }
}

/** The SDK error a call ends in. */
async function failure(input: Partial<AssumeRoleWithWebIdentityCommandInput> = {}) {
  const error = await assume(input).then(
    () => undefined,
    (e: unknown) => e as Error & { $metadata: { httpStatusCode?: number; requestId?: string } }
  );
  if (!error) throw new Error('the call succeeded');
  return error;
}

beforeAll(async () => {
  // No credentials anywhere the SDK looks: AssumeRoleWithWebIdentity must go out unsigned.
  for (const name of Object.keys(process.env))
    if (name.startsWith('AWS_') && name !== 'AWS_REGION') delete process.env[name];
  process.env.AWS_CONFIG_FILE = '/nonexistent/aws-config';
  process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/aws-credentials';
  process.env.AWS_EC2_METADATA_DISABLED = 'true';

  issuer = await startLocalIssuer({ sub: 'repo:acme/app:ref:refs/heads/main', repository_id: '1' });
  stranger = await startLocalIssuer({ sub: 'repo:acme/app:ref:refs/heads/main' });
  sts = await startLocalSts({
    issuer: issuer.issuer,
    jwksUri: `${issuer.issuer}/.well-known/jwks`,
    maxSessionDuration: 7200,
    trust: (claims) => trusted && claims.repository_id === '1'
  });
});

afterAll(async () => {
  await sts?.close();
  await issuer?.close();
  await stranger?.close();
  process.env = savedEnv;
});

beforeEach(() => {
  trusted = true;
});

describe('local STS fixture, read by the real @aws-sdk/client-sts', () => {
  test('listens on loopback only', () => {
    expect(sts.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test('issues credentials the SDK parses, and records the call', async () => {
    const before = sts.requests.length;
    const policy = '{"Version":"2012-10-17","Statement":[]}';
    const started = Date.now();
    const out = await assume({
      DurationSeconds: 1800,
      Policy: policy,
      PolicyArns: [{ arn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' }]
    });

    const creds = out.Credentials!;
    expect(creds.AccessKeyId).toMatch(/^ASIA[A-Z0-9]{16}$/);
    expect(creds.SecretAccessKey).toHaveLength(40);
    expect(creds.SessionToken!.length).toBeGreaterThan(500);
    expect(creds.Expiration).toBeInstanceOf(Date);
    const ttl = creds.Expiration!.getTime() - started;
    expect(ttl).toBeGreaterThan(1795_000);
    expect(ttl).toBeLessThanOrEqual(1801_000);
    expect(sts.issued.at(-1)).toEqual({
      accessKeyId: creds.AccessKeyId,
      secretAccessKey: creds.SecretAccessKey,
      sessionToken: creds.SessionToken,
      expiration: creds.Expiration
    });

    expect(out.AssumedRoleUser).toEqual({
      Arn: 'arn:aws:sts::123456789012:assumed-role/deploy/gh-777-1',
      AssumedRoleId: expect.stringMatching(/^AROA[A-Z0-9]{17}:gh-777-1$/)
    });
    expect(out.SubjectFromWebIdentityToken).toBe('repo:acme/app:ref:refs/heads/main');
    expect(out.Audience).toBe('sts.amazonaws.com');
    expect(out.Provider).toBe(issuer.issuer);
    expect(out.PackedPolicySize).toBeGreaterThan(0);
    expect(out.$metadata.httpStatusCode).toBe(200);
    expect(out.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);

    expect(sts.requests.slice(before)).toEqual([
      {
        RoleArn: ROLE,
        RoleSessionName: 'gh-777-1',
        DurationSeconds: 1800,
        Policy: policy,
        PolicyArns: ['arn:aws:iam::aws:policy/ReadOnlyAccess'],
        WebIdentityToken: expect.stringMatching(/^ey/),
        ProviderId: undefined,
        signed: false
      }
    ]);
  });

  test('a token signed by another issuer is an InvalidIdentityToken', async () => {
    const error = await failure({ WebIdentityToken: await stranger.mint('sts.amazonaws.com') });
    expect(error.name).toBe('InvalidIdentityTokenException');
    expect(error.$metadata.httpStatusCode).toBe(400);
  });

  test("a token whose signature is not the issuer's key's is an InvalidIdentityToken", async () => {
    const [header, payload] = (await issuer.mint('sts.amazonaws.com')).split('.');
    const [, , signature] = (await stranger.mint('sts.amazonaws.com')).split('.');
    const error = await failure({ WebIdentityToken: `${header}.${payload}.${signature}` });
    expect(error.name).toBe('InvalidIdentityTokenException');
    expect(error.message).toMatch(/signature/i);
  });

  test('a token for another audience is an InvalidIdentityToken', async () => {
    const error = await failure({ WebIdentityToken: await issuer.mint('https://example.com') });
    expect(error.name).toBe('InvalidIdentityTokenException');
    expect(error.message).toBe('Incorrect token audience');
  });

  test('an expired token is an ExpiredTokenException', async () => {
    const error = await failure({
      WebIdentityToken: await issuer.mint('sts.amazonaws.com', {}, -60)
    });
    expect(error.name).toBe('ExpiredTokenException');
    expect(error.$metadata.httpStatusCode).toBe(400);
  });

  test('a duration over the role maximum is a ValidationError naming MaxSessionDuration', async () => {
    const error = await failure({ DurationSeconds: 7201 });
    expect(error.name).toBe('ValidationError');
    expect(error.message).toBe(
      'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.'
    );
    expect(error.$metadata.httpStatusCode).toBe(400);
  });

  test.each([
    [{ DurationSeconds: 899 }, /durationSeconds.*greater than or equal to 900/],
    [{ RoleArn: 'arn:aws:iam::123:role/x' }, /ARN is invalid/],
    [{ RoleArn: 'deploy' }, /ARN is invalid/],
    [{ RoleSessionName: 'has space' }, /roleSessionName.*regular expression/],
    [{ RoleSessionName: 'x' }, /roleSessionName.*length/],
    [{ Policy: 'not json' }, /valid JSON/]
  ])('bad input %j is refused as STS refuses it', async (input, message) => {
    const error = await failure(input);
    expect(error.message).toMatch(message);
    expect(error.$metadata.httpStatusCode).toBe(400);
  });

  test('a trust policy that does not match is AccessDenied', async () => {
    trusted = false;
    const error = await failure();
    expect(error.name).toBe('AccessDenied');
    expect(error.message).toBe('Not authorized to perform sts:AssumeRoleWithWebIdentity');
    expect(error.$metadata.httpStatusCode).toBe(403);
  });

  test('a role in another account is AccessDenied, as STS cannot see it', async () => {
    const error = await failure({ RoleArn: 'arn:aws:iam::210987654321:role/deploy' });
    expect(error.name).toBe('AccessDenied');
  });

  test('failNext makes exactly the next calls fail with the given status and code', async () => {
    sts.failNext(503, 'ServiceUnavailable', 'Service is unavailable', 2);
    for (let i = 0; i < 2; i++) {
      const error = await failure();
      expect(error.name).toBe('ServiceUnavailable');
      expect(error.message).toBe('Service is unavailable');
      expect(error.$metadata.httpStatusCode).toBe(503);
    }
    await expect(assume()).resolves.toHaveProperty('Credentials');
  });

  test('throttling looks like STS throttling to the SDK, which retries it', async () => {
    sts.failNext(400, 'Throttling', 'Rate exceeded');
    const error = await failure();
    expect(error.name).toBe('Throttling');
    expect(error.$metadata.httpStatusCode).toBe(400);

    // The SDK retries by error code (Throttling is one of its throttling codes), not by status.

    const before = sts.requests.length;
    sts.failNext(400, 'Throttling', 'Rate exceeded');
    await expect(assume({}, 2)).resolves.toHaveProperty('Credentials');
    expect(sts.requests.length - before).toBe(2);
  });
});
