import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startLocalIssuer, type LocalIssuer } from '../../src/demo/issuer.js';
import { leakedLines, newJob, runStep } from '../helpers/runner.js';
import { startLocalSts, type LocalSts } from '../helpers/sts.js';

// No real AWS STS can run here: the bundles talk, through the real SDK and `sts-endpoint`, to a
// local STS-compatible endpoint that verifies the token against the local issuer's JWKS.
const run = promisify(execFile);
const ROLE = 'arn:aws:iam::123456789012:role/deploy';
const SUBJECT = 'repo:acme/app:ref:refs/heads/main';
let issuer: LocalIssuer;
let sts: LocalSts;
let trusted = SUBJECT;

beforeAll(async () => {
  issuer = await startLocalIssuer({
    repository: 'acme/app',
    repository_id: '1',
    run_id: '777',
    run_attempt: '2',
    sub: SUBJECT
  });
  sts = await startLocalSts({
    issuer: issuer.issuer,
    jwksUri: `${issuer.issuer}/.well-known/jwks`,
    maxSessionDuration: 7200,
    trust: (claims) => claims.sub === trusted
  });
});
afterAll(async () => {
  await sts?.close();
  await issuer?.close();
});

const inputs = (extra: Record<string, string> = {}) => ({
  provider: 'aws',
  'role-to-assume': ROLE,
  'aws-region': 'eu-west-2',
  'sts-endpoint': sts.endpoint,
  ttl: '5m',
  ...extra
});

describe('provider aws on a GitHub runner', () => {
  test('main exports a masked session that the AWS SDK reads; post clears it', async () => {
    const job = newJob();
    const main = await runStep('main', inputs(), job, issuer.actionsEnv);
    expect(main.code).toBe(0);
    const request = sts.requests.at(-1)!;
    expect(request).toMatchObject({ RoleArn: ROLE, DurationSeconds: 900, signed: false });
    expect(request.RoleSessionName).toMatch(/^ci-777-2-[0-9a-f]{8}$/);
    expect(main.stdout).toMatch(
      /::notice::ttl 5m is shorter than STS allows; the session lasts 15m/
    );

    const issued = sts.issued.at(-1)!;
    expect(main.env).toEqual({
      AWS_ACCESS_KEY_ID: issued.accessKeyId,
      AWS_SECRET_ACCESS_KEY: issued.secretAccessKey,
      AWS_SESSION_TOKEN: issued.sessionToken,
      AWS_REGION: 'eu-west-2',
      AWS_DEFAULT_REGION: 'eu-west-2'
    });
    expect(main.outputs).toEqual({
      'aws-access-key-id': issued.accessKeyId,
      'aws-secret-access-key': issued.secretAccessKey,
      'aws-session-token': issued.sessionToken,
      'aws-account-id': '123456789012',
      'expires-at': issued.expiration.toISOString(),
      'lease-id': request.RoleSessionName
    });
    const secrets = [
      issued.accessKeyId,
      issued.secretAccessKey,
      issued.sessionToken,
      encodeURIComponent(issued.secretAccessKey)
    ];
    for (const secret of secrets.slice(0, 3))
      expect(main.stdout).toContain(`::add-mask::${secret}`);
    for (const text of [main.stdout, main.stderr, main.summary, JSON.stringify(main.state)]) {
      expect(leakedLines(text, secrets)).toEqual([]);
    }

    // What every AWS SDK reads: the credential chain's environment source and AWS_REGION.
    const probe = `import { fromEnv } from '@aws-sdk/credential-provider-env';
      import { STSClient } from '@aws-sdk/client-sts';
      const c = await fromEnv()();
      const region = await new STSClient({}).config.region();
      console.log(JSON.stringify({ id: c.accessKeyId, secret: c.secretAccessKey, token: c.sessionToken, region }));`;
    const { stdout } = await run(
      process.execPath,
      ['--input-type=module', '--no-warnings', '-e', probe],
      {
        env: { PATH: process.env.PATH ?? '', ...main.env }
      }
    );
    expect(JSON.parse(stdout)).toEqual({
      id: issued.accessKeyId,
      secret: issued.secretAccessKey,
      token: issued.sessionToken,
      region: 'eu-west-2'
    });

    const post = await runStep('post', inputs(), job);
    expect(post.code).toBe(0);
    expect(post.env).toMatchObject({
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_SESSION_TOKEN: ''
    });
    expect(post.summary).toContain(`expires at ${issued.expiration.toISOString()}`);
    expect(leakedLines(post.stdout, secrets)).toEqual([]);
  });

  test('a failing STS is retried with a fresh token; access denied is not retried and explained', async () => {
    sts.failNext(503, 'ServiceUnavailable', 'Service is unavailable', 1);
    const before = sts.requests.length;
    const retried = await runStep('main', inputs({ ttl: '1h' }), newJob(), issuer.actionsEnv);
    expect(retried.code).toBe(0);
    const [failed, ok] = sts.requests.slice(before);
    expect(ok).toBeDefined();
    expect(failed!.WebIdentityToken).not.toBe(ok!.WebIdentityToken);
    expect(ok!.DurationSeconds).toBe(3600);

    trusted = 'repo:acme/other:ref:refs/heads/main';
    try {
      const count = sts.requests.length;
      const denied = await runStep('main', inputs(), newJob(), issuer.actionsEnv);
      expect(denied.code).toBe(1);
      expect(sts.requests.length).toBe(count + 1);
      expect(denied.stdout).toMatch(
        /::error::STS refused to let this job assume arn:aws:iam::123456789012:role\/deploy: .*subject "repo:acme\/app:ref:refs\/heads\/main"/
      );
      expect(denied.stdout).toContain('id-token: write');
      expect(denied.env).toEqual({});
    } finally {
      trusted = SUBJECT;
    }
  });

  test("a ttl over the role's maximum comes back as an error that says so", async () => {
    const main = await runStep('main', inputs({ ttl: '3h' }), newJob(), issuer.actionsEnv);
    expect(main.code).toBe(1);
    expect(main.stdout).toMatch(
      /::error::ttl 3h is longer than the maximum session duration of arn:aws:iam::123456789012:role\/deploy; lower ttl or raise the role's MaxSessionDuration/
    );
    expect(main.env).toEqual({});
  });

  test.each([
    [
      { 'role-to-assume': 'arn:aws:iam::123:role/x' },
      'role-to-assume "arn:aws:iam::123:role/x" is not an IAM role ARN'
    ],
    [{ 'aws-region': 'xx-name' }, 'aws-region "xx-name" is not a region'],
    [{ ttl: '13h' }, 'ttl "13h" is longer than the maximum 12h']
  ])('bad input %p fails before STS is asked, with nothing exported', async (extra, message) => {
    const count = sts.requests.length;
    const main = await runStep('main', inputs(extra), newJob(), issuer.actionsEnv);
    expect(main.code).toBe(1);
    expect(main.stdout).toContain(`::error::${message}`);
    expect(main.env).toEqual({});
    expect(main.outputs).toEqual({});
    expect(sts.requests.length).toBe(count);
  });

  test('without id-token: write the error names the permission to add', async () => {
    const main = await runStep('main', inputs(), newJob());
    expect(main.code).toBe(1);
    expect(main.stdout).toContain(
      '::error::This job has no OIDC token. Add `permissions: id-token: write`'
    );
    expect(main.env).toEqual({});
  });

  test('the CLI issues a session for a GitLab job from --id-token-env', async () => {
    const token = await issuer.mint('sts.amazonaws.com');
    const args = [
      'dist/cli/index.js',
      'issue',
      '--provider',
      'aws',
      '--role-to-assume',
      ROLE,
      '--aws-region',
      'us-east-1',
      '--sts-endpoint',
      sts.endpoint,
      '--id-token-env',
      'JOB_TOKEN',
      '--format',
      'json',
      '--env-prefix',
      'PROD_'
    ];
    const { stdout, stderr } = await run(process.execPath, ['--no-warnings', ...args], {
      env: { PATH: process.env.PATH ?? '', JOB_TOKEN: token }
    });
    const issued = sts.issued.at(-1)!;
    expect(JSON.parse(stdout)).toEqual({
      PROD_AWS_ACCESS_KEY_ID: issued.accessKeyId,
      PROD_AWS_SECRET_ACCESS_KEY: issued.secretAccessKey,
      PROD_AWS_SESSION_TOKEN: issued.sessionToken,
      PROD_AWS_REGION: 'us-east-1',
      PROD_AWS_DEFAULT_REGION: 'us-east-1'
    });
    expect(leakedLines(stderr, [issued.secretAccessKey, issued.sessionToken])).toEqual([]);
  });
});
