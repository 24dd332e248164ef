/**
 * The AWS provider and the AWS paths of issue and revoke. aws-sdk-client-mock stands in for AWS STS
 * because no real STS can run here; the end-to-end tests use a local STS-compatible endpoint
 * (test/helpers/sts.ts) that the real SDK talks HTTP to.
 *
 * The mock replaces STSClient.prototype.send, so it answers both the client these tests pass to
 * assumeRole and the one assumeRole builds itself when issue() calls it.
 */
import { afterAll, beforeEach, describe, expect, jest, test } from '@jest/globals';
import {
  AssumeRoleWithWebIdentityCommand,
  ExpiredTokenException,
  IDPCommunicationErrorException,
  IDPRejectedClaimException,
  InvalidIdentityTokenException,
  STSClient,
  STSServiceException,
  type AssumeRoleWithWebIdentityCommandInput
} from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { issue } from '../../src/issue.js';
import type { RunIdentity } from '../../src/oidc/identity.js';
import { githubPlatform } from '../../src/platform/github.js';
import {
  assumeRole,
  explainStsError,
  isRetryableStsError,
  makeSessionName
} from '../../src/providers/aws-sts.js';
import { revokeAtJobEnd } from '../../src/revoke.js';
import { readSettings, type AwsSettings } from '../../src/settings.js';
import { parseState, stringifyState, type LeaseState } from '../../src/state.js';
import { InputError } from '../../src/util/errors.js';
import type { RetryOptions } from '../../src/util/retry.js';
import { recordingPlatform, type Event } from '../helpers/recording.js';

const sts = mockClient(STSClient);
beforeEach(() => {
  sts.reset();
});
afterAll(() => {
  sts.restore();
});

const ROLE = 'arn:aws:iam::123456789012:role/deploy';
const ACCOUNT = '123456789012';
const SUBJECT = 'repo:acme/app:ref:refs/heads/main';
const EXPIRES = '2030-01-01T01:00:00.000Z';
const KEY_ID = 'ASIAEXAMPLEKEYID0001';
const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCY+EXAMPLEKEY';
const SESSION_TOKEN = `IQoJb3JpZ2luX2VjEXAMPLE${'Zm9vYmFy'.repeat(40)}==`;
const CLAIMS = { sub: SUBJECT, repository: 'acme/app', run_id: '987', run_attempt: '2' };

const noSleep: Partial<RetryOptions> = { sleep: async () => undefined };

/** AWS settings read the way the action reads them, from inputs. */
function awsSettings(inputs: Record<string, string> = {}): AwsSettings {
  const all: Record<string, string> = {
    provider: 'aws',
    'role-to-assume': ROLE,
    'aws-region': 'eu-west-2',
    ...inputs
  };
  return readSettings((name) => all[name] ?? '') as AwsSettings;
}

/** A signed OIDC token, as the runner hands out; each one differs by its jti. */
async function mintToken(claims: Record<string, unknown> = CLAIMS): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('https://token.actions.githubusercontent.com')
    .setAudience('sts.amazonaws.com')
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode('a-test-key-of-at-least-32-bytes-long!'));
}

/** A token function that mints a fresh token for every call and remembers each. */
function tokenSource(claims?: Record<string, unknown>) {
  const issued: string[] = [];
  const next = async () => {
    const token = await mintToken(claims);
    issued.push(token);
    return token;
  };
  return { next, issued };
}

/** What STS answers to a successful AssumeRoleWithWebIdentity. */
function answer(account = ACCOUNT, sessionName = 'ci-987-2-0a1b2c3d') {
  return {
    Credentials: {
      AccessKeyId: KEY_ID,
      SecretAccessKey: SECRET_KEY,
      SessionToken: SESSION_TOKEN,
      Expiration: new Date(EXPIRES)
    },
    AssumedRoleUser: {
      Arn: `arn:aws:sts::${account}:assumed-role/deploy/${sessionName}`,
      AssumedRoleId: `AROAEXAMPLEROLEID0001:${sessionName}`
    },
    SubjectFromWebIdentityToken: SUBJECT
  };
}

/** An error as the SDK builds it from an STS error code that has no modeled shape. */
function stsError(name: string, status: number, message = `${name} from STS`): Error {
  return new STSServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    message
  });
}

const modeled = { $metadata: { httpStatusCode: 400 } };

/** The input of every AssumeRoleWithWebIdentity the mock received, in order. */
function sent(): AssumeRoleWithWebIdentityCommandInput[] {
  return sts.commandCalls(AssumeRoleWithWebIdentityCommand).map((call) => call.args[0].input);
}

const client = () => new STSClient({ region: 'us-east-1' });

describe('assumeRole: what it sends', () => {
  test('sends the role, the session name, the token and the ttl, and no session policy unless given', async () => {
    sts.on(AssumeRoleWithWebIdentityCommand).resolves(answer());
    const tokens = tokenSource();
    await assumeRole(awsSettings({ ttl: '1h' }), 'ci-987-2-0a1b2c3d', tokens.next, {}, client());
    expect(sent()).toEqual([
      {
        RoleArn: ROLE,
        RoleSessionName: 'ci-987-2-0a1b2c3d',
        WebIdentityToken: tokens.issued[0],
        DurationSeconds: 3600
      }
    ]);
  });

  test('sends the session policy and each policy ARN as {arn}', async () => {
    sts.on(AssumeRoleWithWebIdentityCommand).resolves(answer());
    const policy =
      '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}';
    const settings = awsSettings({
      'session-policy': policy,
      'session-policy-arns':
        'arn:aws:iam::aws:policy/ReadOnlyAccess, arn:aws:iam::123456789012:policy/team/limits'
    });
    await assumeRole(settings, 'ci-1-1-00000000', tokenSource().next, {}, client());
    expect(sent()[0]).toMatchObject({
      Policy: policy,
      PolicyArns: [
        { arn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' },
        { arn: 'arn:aws:iam::123456789012:policy/team/limits' }
      ]
    });
  });

  test.each([
    ['5m', 900],
    ['300s', 900],
    ['15m', 900],
    ['1h30m', 5400],
    ['12h', 43200]
  ])('asks for ttl %s as DurationSeconds %i, within what STS accepts', async (ttl, seconds) => {
    sts.on(AssumeRoleWithWebIdentityCommand).resolves(answer());
    await assumeRole(awsSettings({ ttl }), 'ci-1-1-00000000', tokenSource().next, {}, client());
    expect(sent()[0]?.DurationSeconds).toBe(seconds);
  });
});

describe('assumeRole: what it returns', () => {
  test('returns the session, with the account read from the assumed-role ARN and no second call', async () => {
    // Another account than the role's, so the test shows where the account is read from.
    sts.on(AssumeRoleWithWebIdentityCommand).resolves(answer('210987654321'));
    const session = await assumeRole(
      awsSettings(),
      'ci-987-2-0a1b2c3d',
      tokenSource().next,
      {},
      client()
    );
    expect(session).toEqual({
      accessKeyId: KEY_ID,
      secretAccessKey: SECRET_KEY,
      sessionToken: SESSION_TOKEN,
      expiresAt: new Date(EXPIRES),
      assumedRoleArn: 'arn:aws:sts::210987654321:assumed-role/deploy/ci-987-2-0a1b2c3d',
      accountId: '210987654321'
    });
    expect(sts.calls()).toHaveLength(1); // no GetCallerIdentity, nor anything else
  });

  test('fails clearly when STS answers without credentials', async () => {
    sts
      .on(AssumeRoleWithWebIdentityCommand)
      .resolves({ AssumedRoleUser: answer().AssumedRoleUser });
    await expect(
      assumeRole(awsSettings(), 'ci-1-1-00000000', tokenSource().next, noSleep, client())
    ).rejects.toThrow(`STS answered without credentials for ${ROLE}`);
  });
});

describe('makeSessionName', () => {
  const identity = (more: Partial<RunIdentity> = {}): RunIdentity => ({
    platform: 'github',
    source: 'oidc',
    run_id: '987',
    run_attempt: '2',
    ...more
  });
  const STS_NAME = /^[\w+=,.@-]{2,64}$/;

  test('is <prefix>-<run_id>-<attempt>-<8 hex>', () => {
    expect(makeSessionName('ci', identity())).toMatch(/^ci-987-2-[0-9a-f]{8}$/);
  });

  test('differs between two sessions of the same run attempt', () => {
    expect(makeSessionName('ci', identity())).not.toBe(makeSessionName('ci', identity()));
  });

  test('keeps every character STS accepts', () => {
    const name = makeSessionName('ci', identity({ run_id: 'a+b=c,d.e@f-g_H9' }));
    expect(name).toMatch(/^ci-a\+b=c,d\.e@f-g_H9-2-[0-9a-f]{8}$/);
  });

  test('replaces other characters and stays within 64 even for a 200-character run id', () => {
    const runId = `host name:42/é*${'x'.repeat(200)}`;
    const name = makeSessionName('ci', identity({ run_id: runId }));
    expect(name).toMatch(STS_NAME);
    expect(name.length).toBeLessThanOrEqual(64);
    expect(name).toMatch(/^ci-host_name_42_{3}x+-2-[0-9a-f]{8}$/);
  });

  test('stays within 64 for an odd, long attempt too', () => {
    const name = makeSessionName('ci', identity({ run_attempt: `1 2/${'9'.repeat(200)}` }));
    expect(name).toMatch(STS_NAME);
    expect(name).toMatch(/^ci-987-1_2_9+-[0-9a-f]{8}$/);
  });

  test('says local when there is no run id, and attempt 1 when there is no attempt', () => {
    const name = makeSessionName('ci', { platform: 'local', source: 'env' });
    expect(name).toMatch(/^ci-local-1-[0-9a-f]{8}$/);
  });
});

describe('isRetryableStsError', () => {
  test.each([
    ['Throttling (400)', stsError('Throttling', 400, 'Rate exceeded')],
    ['ThrottlingException', stsError('ThrottlingException', 400)],
    ['RequestLimitExceeded', stsError('RequestLimitExceeded', 400)],
    ['ServiceUnavailable (503)', stsError('ServiceUnavailable', 503)],
    ['InternalFailure (500)', stsError('InternalFailure', 500)],
    ['any other 5xx', stsError('SomethingNew', 502)],
    ['HTTP 429', stsError('SlowDown', 429)],
    [
      'IDPCommunicationError as the SDK names it',
      new IDPCommunicationErrorException({ ...modeled, message: 'issuer unreachable' })
    ],
    ['a reset connection', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    [
      'the SDK timeout of a hung-up socket',
      Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET' })
    ]
  ])('retries %s', (_label, err) => {
    expect(isRetryableStsError(err)).toBe(true);
  });

  test.each([
    ['AccessDenied (403)', stsError('AccessDenied', 403)],
    ['ValidationError (400)', stsError('ValidationError', 400)],
    [
      'InvalidIdentityTokenException',
      new InvalidIdentityTokenException({ ...modeled, message: 'bad token' })
    ],
    ['ExpiredTokenException', new ExpiredTokenException({ ...modeled, message: 'expired' })],
    [
      'IDPRejectedClaimException',
      new IDPRejectedClaimException({ ...modeled, message: 'rejected' })
    ],
    ['a plain error', new Error('something else')],
    ['null', null]
  ])('does not retry %s', (_label, err) => {
    expect(isRetryableStsError(err)).toBe(false);
  });
});

describe('assumeRole: retries', () => {
  test.each([
    ['Throttling (400)', () => stsError('Throttling', 400, 'Rate exceeded')],
    ['ServiceUnavailable (503)', () => stsError('ServiceUnavailable', 503)],
    ['InternalFailure (500)', () => stsError('InternalFailure', 500)],
    [
      'IDPCommunicationError',
      () => new IDPCommunicationErrorException({ ...modeled, message: 'issuer unreachable' })
    ],
    [
      'a network error (ECONNRESET)',
      () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
    ]
  ])('retries %s, with a fresh token for each attempt', async (_label, error) => {
    sts
      .on(AssumeRoleWithWebIdentityCommand)
      .rejectsOnce(error())
      .rejectsOnce(error())
      .resolves(answer());
    const tokens = tokenSource();
    const sleeps: number[] = [];
    const session = await assumeRole(
      awsSettings(),
      'ci-987-2-0a1b2c3d',
      tokens.next,
      { sleep: async (ms) => void sleeps.push(ms) },
      client()
    );
    expect(session.accessKeyId).toBe(KEY_ID);
    expect(tokens.issued).toHaveLength(3);
    expect(new Set(tokens.issued).size).toBe(3);
    expect(sent().map((input) => input.WebIdentityToken)).toEqual(tokens.issued);
    expect(sleeps).toHaveLength(2);
  });

  test.each([
    ['AccessDenied', () => stsError('AccessDenied', 403, 'Not authorized')],
    [
      'ValidationError',
      () =>
        stsError(
          'ValidationError',
          400,
          'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.'
        )
    ],
    [
      'InvalidIdentityTokenException',
      () => new InvalidIdentityTokenException({ ...modeled, message: 'Incorrect token audience' })
    ]
  ])('does not retry %s: exactly one call', async (_label, error) => {
    sts.on(AssumeRoleWithWebIdentityCommand).rejectsOnce(error()).resolves(answer());
    const tokens = tokenSource();
    const sleeps: number[] = [];
    await expect(
      assumeRole(
        awsSettings(),
        'ci-1-1-00000000',
        tokens.next,
        { sleep: async (ms) => void sleeps.push(ms) },
        client()
      )
    ).rejects.toThrow();
    expect(sts.calls()).toHaveLength(1);
    expect(tokens.issued).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  test('gives up after its attempts and explains the last failure', async () => {
    sts.on(AssumeRoleWithWebIdentityCommand).rejects(stsError('Throttling', 400, 'Rate exceeded'));
    const tokens = tokenSource();
    await expect(
      assumeRole(awsSettings(), 'ci-1-1-00000000', tokens.next, noSleep, client())
    ).rejects.toThrow(`Could not assume ${ROLE}: Rate exceeded`);
    expect(sts.calls()).toHaveLength(5);
    expect(tokens.issued).toHaveLength(5);
  });

  test('stops once the next wait would pass the deadline', async () => {
    let clock = 0;
    // Each call hangs for 10s before STS answers 503; the waits themselves are 0.
    sts.on(AssumeRoleWithWebIdentityCommand).callsFake(async () => {
      clock += 10_000;
      throw stsError('ServiceUnavailable', 503, 'Service unavailable');
    });
    await expect(
      assumeRole(
        awsSettings(),
        'ci-1-1-00000000',
        tokenSource().next,
        { ...noSleep, random: () => 0, now: () => clock, attempts: 10 },
        client()
      )
    ).rejects.toThrow('Service unavailable');
    // Calls end at 10s, 20s, 30s and 40s: the default 30s deadline stops it after the 4th.
    expect(sts.calls()).toHaveLength(4);
    expect(clock).toBe(40_000);
  });

  test('counts its own waits against the deadline', async () => {
    let clock = 0;
    sts.on(AssumeRoleWithWebIdentityCommand).rejects(stsError('Throttling', 400));
    const sleeps: number[] = [];
    await expect(
      assumeRole(
        awsSettings(),
        'ci-1-1-00000000',
        tokenSource().next,
        {
          attempts: 10,
          baseMs: 500,
          maxMs: 5000,
          deadlineMs: 2000,
          random: () => 0.99,
          now: () => clock,
          sleep: async (ms) => {
            sleeps.push(ms);
            clock += ms;
          }
        },
        client()
      )
    ).rejects.toThrow('Throttling');
    // Waits of 990 and then 1980 would end at 2970 > 2000: two calls, one wait.
    expect(sleeps).toEqual([990]);
    expect(sts.calls()).toHaveLength(2);
  });
});

describe('explainStsError', () => {
  test('says what to check when STS denies access: role, subject, sub and aud conditions, permission', () => {
    const message = explainStsError(
      stsError('AccessDenied', 403, 'Not authorized to perform sts:AssumeRoleWithWebIdentity'),
      awsSettings({ audience: 'my-audience' }),
      SUBJECT
    ).message;
    expect(message).toContain(ROLE);
    expect(message).toContain(`"${SUBJECT}"`);
    expect(message).toContain(':sub condition');
    expect(message).toContain(':aud condition');
    expect(message).toContain('"my-audience"');
    expect(message).toContain('trust policy');
    expect(message).toContain('`permissions: id-token: write`');
    expect(message).toContain('Not authorized to perform sts:AssumeRoleWithWebIdentity');
  });

  test('assumeRole names the subject of the token it sent', async () => {
    sts
      .on(AssumeRoleWithWebIdentityCommand)
      .rejects(stsError('AccessDenied', 403, 'Not authorized'));
    await expect(
      assumeRole(awsSettings(), 'ci-1-1-00000000', tokenSource().next, noSleep, client())
    ).rejects.toThrow(`subject "${SUBJECT}"`);
  });

  test('says a ttl is longer than the role allows', () => {
    const err = stsError(
      'ValidationError',
      400,
      'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.'
    );
    const message = explainStsError(err, awsSettings({ ttl: '2h' })).message;
    expect(message).toContain(`ttl 2h is longer than the maximum session duration of ${ROLE}`);
    expect(message).toContain("raise the role's MaxSessionDuration");
    // A ttl under STS's minimum is asked for as 15m, and named so.
    expect(explainStsError(err, awsSettings({ ttl: '5m' })).message).toContain('ttl 15m is longer');
  });

  test.each([
    new InvalidIdentityTokenException({ ...modeled, message: 'Incorrect token audience' }),
    new ExpiredTokenException({ ...modeled, message: 'Token expired' }),
    new IDPRejectedClaimException({ ...modeled, message: 'Claim rejected' })
  ])('points a refused token ($name) at the OIDC identity provider', (err) => {
    const message = explainStsError(err, awsSettings()).message;
    expect(message).toContain(err.message);
    expect(message).toContain('OIDC identity provider');
    expect(message).toContain('"sts.amazonaws.com"');
  });

  test('wraps anything else with the role it was for', () => {
    expect(
      explainStsError(stsError('Throttling', 400, 'Rate exceeded'), awsSettings()).message
    ).toBe(`Could not assume ${ROLE}: Rate exceeded`);
  });
});

/** Each secret is masked before any other event carries it, and it is carried somewhere. */
function expectMaskedFirst(events: Event[], secret: string): void {
  const masked = events.findIndex((e) => e.kind === 'mask' && e.value === secret);
  const used = events.findIndex((e) => e.kind !== 'mask' && e.value.includes(secret));
  expect(masked).toBeGreaterThanOrEqual(0);
  expect(used).toBeGreaterThan(masked);
}

/** Issues an AWS session through issue() on a recording platform. */
async function issueAws(inputs: Record<string, string> = {}, claims = CLAIMS) {
  const all = { provider: 'aws', 'role-to-assume': ROLE, 'aws-region': 'eu-west-2', ...inputs };
  const tokens = tokenSource(claims);
  const rec = recordingPlatform(all, tokens.next);
  await issue(awsSettings(inputs), rec.platform);
  const stateEvent = rec.of('state')[0];
  const state = parseState(stateEvent?.value);
  return { ...rec, tokens, state };
}

describe('issue with provider aws', () => {
  beforeEach(() => {
    sts.on(AssumeRoleWithWebIdentityCommand).resolves(answer());
  });

  test('masks the key id, the secret and the session token before anything carries them', async () => {
    const { events } = await issueAws();
    for (const secret of [KEY_ID, SECRET_KEY, SESSION_TOKEN]) expectMaskedFirst(events, secret);
  });

  test('saves a state that holds no secret', async () => {
    const { of, state } = await issueAws();
    const saved = of('state')[0]!.value;
    for (const secret of [KEY_ID, SECRET_KEY, SESSION_TOKEN]) expect(saved).not.toContain(secret);
    expect(state).toMatchObject({ provider: 'aws', expiresAt: EXPIRES, target: ROLE });
    expect(state?.leaseId).toBe(state?.username);
  });

  test('sets the outputs, with the session name as lease id', async () => {
    const { of, state } = await issueAws();
    const outputs = Object.fromEntries(of('output').map((e) => [e.name!, e.value]));
    expect(outputs).toEqual({
      'aws-access-key-id': KEY_ID,
      'aws-secret-access-key': SECRET_KEY,
      'aws-session-token': SESSION_TOKEN,
      'aws-account-id': ACCOUNT,
      'expires-at': EXPIRES,
      'lease-id': state!.leaseId
    });
    expect(outputs['lease-id']).toMatch(/^ci-987-2-[0-9a-f]{8}$/);
    expect(sent()[0]?.RoleSessionName).toBe(outputs['lease-id']);
  });

  test('exports the AWS variables under the env-prefix and records their names in the state', async () => {
    const { exported, state } = await issueAws({ 'env-prefix': 'DEPLOY_' });
    const expected = {
      DEPLOY_AWS_ACCESS_KEY_ID: KEY_ID,
      DEPLOY_AWS_SECRET_ACCESS_KEY: SECRET_KEY,
      DEPLOY_AWS_SESSION_TOKEN: SESSION_TOKEN,
      DEPLOY_AWS_REGION: 'eu-west-2',
      DEPLOY_AWS_DEFAULT_REGION: 'eu-west-2'
    };
    expect(exported()).toEqual(expected);
    expect([...state!.exported].sort()).toEqual(Object.keys(expected).sort());
  });

  test('exports nothing with export-env false, but still sets the outputs', async () => {
    const { of, state } = await issueAws({ 'export-env': 'false' });
    expect(of('export')).toEqual([]);
    expect(state?.exported).toEqual([]);
    expect(of('output').map((e) => e.name)).toContain('aws-session-token');
  });

  test('uses the token it already has for the first attempt, masked first', async () => {
    const { events, tokens } = await issueAws();
    expect(tokens.issued).toHaveLength(1);
    expect(sent()[0]?.WebIdentityToken).toBe(tokens.issued[0]);
    expect(events[0]).toEqual({ kind: 'mask', value: tokens.issued[0] });
  });

  test('asks the platform for a fresh token on a retry, and masks it', async () => {
    sts.reset();
    sts
      .on(AssumeRoleWithWebIdentityCommand)
      .rejectsOnce(stsError('Throttling', 400, 'Rate exceeded'))
      .resolves(answer());
    const random = jest.spyOn(Math, 'random').mockReturnValue(0); // a wait of 0ms
    try {
      const { of, tokens } = await issueAws();
      expect(tokens.issued).toHaveLength(2);
      expect(sent().map((input) => input.WebIdentityToken)).toEqual(tokens.issued);
      const masks = of('mask').map((e) => e.value);
      for (const token of tokens.issued) expect(masks).toContain(token);
    } finally {
      random.mockRestore();
    }
  });

  test('leaves the account visible unless mask-aws-account-id is set', async () => {
    const { of, state } = await issueAws();
    expect(of('mask').map((e) => e.value)).not.toContain(ACCOUNT);
    expect(state?.target).toBe(ROLE);
  });

  test('with mask-aws-account-id, masks the account first and hides it in the state', async () => {
    const { events, of, state } = await issueAws({ 'mask-aws-account-id': 'true' });
    expectMaskedFirst(events, ACCOUNT);
    expect(state?.target).toBe('arn:aws:iam::***:role/deploy');
    expect(of('state')[0]!.value).not.toContain(ACCOUNT);
    for (const e of [...of('info'), ...of('summary')]) expect(e.value).not.toContain(ACCOUNT);
    expect(Object.fromEntries(of('output').map((e) => [e.name!, e.value]))).toMatchObject({
      'aws-account-id': ACCOUNT
    });
  });

  test('gives a notice when the ttl is shorter than STS allows, and asks for 15 minutes', async () => {
    const { of } = await issueAws({ ttl: '5m' });
    const notices = of('notice').map((e) => e.value);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain('ttl 5m is shorter than STS allows');
    expect(notices[0]).toContain('15m');
    expect(sent()[0]?.DurationSeconds).toBe(900);
  });

  test('gives no notice for a ttl STS accepts', async () => {
    const { of } = await issueAws({ ttl: '15m' });
    expect(of('notice')).toEqual([]);
  });

  test('uses role-session-name when given', async () => {
    const { state } = await issueAws({ 'role-session-name': 'deploy@acme' });
    expect(state?.leaseId).toBe('deploy@acme');
    expect(sent()[0]?.RoleSessionName).toBe('deploy@acme');
  });

  test('without a token, fails with an InputError naming the permission, and hands over nothing', async () => {
    const inputs = { provider: 'aws', 'role-to-assume': ROLE, 'aws-region': 'eu-west-2' };
    const rec = recordingPlatform(inputs);
    // The GitHub platform's token source, in a job without `id-token: write`.
    const platform = { ...rec.platform, tokens: githubPlatform({}).tokens };
    const failure = issue(awsSettings(), platform);
    await expect(failure).rejects.toBeInstanceOf(InputError);
    await expect(failure).rejects.toThrow('Add `permissions: id-token: write`');
    expect(rec.events).toEqual([]);
    expect(sts.calls()).toHaveLength(0);
  });

  test('explains a refusal and hands over nothing', async () => {
    sts.reset();
    sts
      .on(AssumeRoleWithWebIdentityCommand)
      .rejects(stsError('AccessDenied', 403, 'Not authorized'));
    const rec = recordingPlatform({}, tokenSource().next);
    await expect(issue(awsSettings(), rec.platform)).rejects.toThrow(
      `STS refused to let this job assume ${ROLE}`
    );
    expect(rec.events.filter((e) => e.kind !== 'mask')).toEqual([]);
  });
});

describe('revokeAtJobEnd with an AWS session', () => {
  beforeEach(() => {
    sts.on(AssumeRoleWithWebIdentityCommand).resolves(answer());
  });

  test('clears each exported variable and notes in the summary when the session expires', async () => {
    const rec = await issueAws({ 'env-prefix': 'DEPLOY_' });
    const before = rec.events.length;
    await revokeAtJobEnd(rec.platform);
    const after = rec.events.slice(before);
    const cleared = after.filter((e) => e.kind === 'export');
    expect(cleared.map((e) => e.name)).toEqual(rec.state!.exported);
    expect(cleared.every((e) => e.value === '')).toBe(true);
    const notes = after.filter((e) => e.kind === 'summary').map((e) => e.value);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain(rec.state!.username);
    expect(notes[0]).toContain(`expires at ${EXPIRES}`);
    expect(after.filter((e) => e.kind === 'warning')).toEqual([]);
    expect(sts.calls()).toHaveLength(1); // STS is not asked to end anything
  });

  test('with nothing exported, clears nothing and still notes the expiry', async () => {
    const rec = recordingPlatform({});
    const state: LeaseState = {
      v: 1,
      provider: 'aws',
      leaseId: 'ci-987-2-0a1b2c3d',
      username: 'ci-987-2-0a1b2c3d',
      expiresAt: EXPIRES,
      target: ROLE,
      exported: []
    };
    await rec.platform.saveState(state);
    await revokeAtJobEnd(rec.platform);
    expect(rec.of('export')).toEqual([]);
    expect(rec.of('summary').map((e) => e.value)).toEqual([
      expect.stringContaining(`ci-987-2-0a1b2c3d expires at ${EXPIRES}`)
    ]);
  });

  test('never throws: a failure becomes a warning with the expiry', async () => {
    const rec = recordingPlatform({});
    const state: LeaseState = {
      v: 1,
      provider: 'aws',
      leaseId: 'ci-1-1-00000000',
      username: 'ci-1-1-00000000',
      expiresAt: EXPIRES,
      target: ROLE,
      exported: ['AWS_ACCESS_KEY_ID']
    };
    const platform = {
      ...rec.platform,
      loadState: async () => parseState(stringifyState(state)),
      exportVariable: () => {
        throw new Error('GITHUB_ENV is not set');
      },
      summaryNote: async () => {
        throw new Error('summary file is gone');
      }
    };
    await expect(revokeAtJobEnd(platform)).resolves.toBeUndefined();
    const warnings = rec.of('warning').map((e) => e.value);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('GITHUB_ENV is not set');
    expect(warnings[0]).toContain(`It still expires at ${EXPIRES}`);
    expect(warnings[0]).toMatch(/AWS/);
  });
});
