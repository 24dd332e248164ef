import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import {
  base64url,
  decodeJwt,
  exportSPKI,
  generateKeyPair,
  importJWK,
  SignJWT,
  UnsecuredJWT,
  type JWTPayload
} from 'jose';
import { parseBrokerConfig, type BrokerConfig } from '../../src/broker/config.js';
import { claimMismatch, globMatch } from '../../src/broker/policy.js';
import { runOf } from '../../src/broker/server.js';
import { startLocalIssuer, type LocalIssuer } from '../../src/demo/issuer.js';
import { runKey } from '../../src/oidc/identity.js';
import { TokenError, tokenVerifier } from '../../src/oidc/verify.js';
import { InputError } from '../../src/util/errors.js';

describe('globMatch', () => {
  test.each([
    ['refs/tags/v*', 'refs/tags/v1.2'],
    ['refs/tags/v*', 'refs/tags/v'], // the run may be empty
    ['*', 'anything-at-all'],
    ['*', ''],
    ['**', 'abc'],
    ['a*b*c', 'a--b--c'],
    ['refs/heads/main', 'refs/heads/main'],
    ['repo:acme/app*', 'repo:acme/app-web'],
    ['a.b', 'a.b'],
    ['(x)', '(x)'],
    ['[ab]+?', '[ab]+?'],
    ['^x$|y', '^x$|y'],
    ['\\d{2}', '\\d{2}']
  ])('%j matches %j', (pattern, value) => {
    expect(globMatch(pattern, value)).toBe(true);
  });

  test.each([
    // `*` never crosses "/": a tag pattern cannot reach into a deeper path.
    ['refs/tags/v*', 'refs/tags/v1/evil'],
    ['refs/tags/v*', 'refs/tags/x1'],
    // `*` never crosses ":": a repository name pattern cannot swallow the rest of a sub.
    ['repo:acme/app*', 'repo:acme/app-evil:ref:refs/heads/main'],
    ['*', 'a/b'],
    ['*', 'a:b'],
    ['**', 'a/b'],
    // Regular-expression metacharacters are literal.
    ['a.b', 'axb'],
    ['(x)', 'x'],
    ['[ab]', 'a'],
    ['a+', 'aaa'],
    ['a?', 'a'],
    ['a|b', 'a'],
    ['\\d', '1'],
    ['x{2}', 'xx'],
    ['^main$', 'main'],
    // The whole value must match, in the same case, with nothing after it.
    ['main', 'mainx'],
    ['main', 'xmain'],
    ['main', 'Main'],
    ['refs/heads/main', 'refs/heads/main\n'],
    ['', 'x']
  ])('%j does not match %j', (pattern, value) => {
    expect(globMatch(pattern, value)).toBe(false);
  });
});

describe('claimMismatch', () => {
  const claims: JWTPayload = {
    repository_id: '123456789',
    ref: 'refs/heads/main',
    run_id: 4242,
    aud: ['https://creds.example.com', 'other'],
    environment: 'production',
    nested: { a: 'b' }
  };

  test('passes when every bound claim matches exactly', () => {
    expect(claimMismatch({ repository_id: '123456789', ref: 'refs/heads/main' }, claims)).toBe(
      undefined
    );
  });

  test('names the claim that does not match, and every key must match', () => {
    expect(claimMismatch({ repository_id: '123456789', ref: 'refs/heads/dev' }, claims)).toBe(
      'claim ref does not match'
    );
    expect(claimMismatch({ repository_id: '12345678' }, claims)).toBe(
      'claim repository_id does not match'
    );
  });

  test('a list matches when any item does, globs included', () => {
    const ref = ['refs/heads/main', 'refs/tags/v*'];
    expect(claimMismatch({ ref }, claims)).toBe(undefined);
    expect(claimMismatch({ ref }, { ref: 'refs/tags/v2.0.1' })).toBe(undefined);
    expect(claimMismatch({ ref }, { ref: 'refs/tags/v2/evil' })).toBe('claim ref does not match');
    expect(claimMismatch({ ref }, { ref: 'refs/heads/dev' })).toBe('claim ref does not match');
    expect(claimMismatch({ ref: [] }, claims)).toBe('claim ref does not match');
  });

  test('compares a number claim with the numeric string the config holds', () => {
    expect(claimMismatch({ run_id: '4242' }, claims)).toBe(undefined);
    expect(claimMismatch({ run_id: '424' }, claims)).toBe('claim run_id does not match');
    expect(claimMismatch({ repository_id: '123456789' }, { repository_id: 123456789 })).toBe(
      undefined
    );
  });

  test('a missing claim never matches, not even a lone *', () => {
    expect(claimMismatch({ job_workflow_ref: '*' }, claims)).toBe(
      'claim job_workflow_ref is missing'
    );
    expect(claimMismatch({ repository_id: '*' }, { repository_id: null })).toBeDefined();
  });

  test('a list or object claim never matches, even where one of its items would', () => {
    expect(claimMismatch({ aud: 'https://creds.example.com' }, claims)).toMatch(/^claim aud /);
    expect(claimMismatch({ aud: '*' }, claims)).toMatch(/^claim aud /);
    expect(claimMismatch({ nested: '*' }, claims)).toMatch(/^claim nested /);
    expect(claimMismatch({ flag: 'true' }, { flag: true })).toMatch(/^claim flag /);
  });
});

describe('runOf', () => {
  const github = {
    iss: 'https://token.actions.githubusercontent.com',
    sub: 'repo:acme/app:ref:refs/heads/main',
    repository: 'acme/app',
    repository_id: '123456789',
    repository_owner: 'acme',
    run_id: '4242',
    run_attempt: '2',
    ref: 'refs/heads/main'
  };
  const gitlab = {
    iss: 'https://gitlab.com',
    sub: 'project_path:group/app:ref_type:branch:ref:main',
    project_id: '42',
    project_path: 'group/app',
    job_id: '777',
    pipeline_id: '88',
    ref: 'main'
  };

  test('a GitHub token names its repository id, run id and attempt', () => {
    expect(runOf(github)).toMatchObject({
      platform: 'github',
      repository_id: '123456789',
      run_id: '4242',
      run_attempt: '2'
    });
  });

  test('a GitLab token names its project id and job id', () => {
    expect(runOf(gitlab)).toMatchObject({
      platform: 'gitlab',
      repository_id: '42',
      run_id: '777'
    });
  });

  test('only the run decides the key: another token of the same run gets the same one', () => {
    const key = runKey(runOf(github)!);
    expect(runKey(runOf({ ...github, jti: 'other', ref: 'refs/heads/x', actor: 'y' })!)).toBe(key);
    expect(runKey(runOf({ ...github, run_attempt: '3' })!)).not.toBe(key);
    expect(runKey(runOf({ ...github, repository_id: '1' })!)).not.toBe(key);
    expect(runKey(runOf({ ...gitlab, job_id: '778' })!)).not.toBe(runKey(runOf(gitlab)!));
  });

  test('a token that names no run gets none', () => {
    expect(runOf({ iss: 'https://example.com', sub: 'someone' })).toBeUndefined();
    expect(runOf({ ...github, run_id: undefined })).toBeUndefined();
    expect(runOf({ ...github, repository_id: undefined })).toBeUndefined();
    expect(runOf({ ...gitlab, project_id: undefined })).toBeUndefined();
  });
});

describe('parseBrokerConfig', () => {
  const PASSWORD = 'Adm1n:p@ss/w0rd!';
  const ADMIN_URL = `postgres://ci_admin:${encodeURIComponent(PASSWORD)}@db.internal:5432/app?sslmode=require`;
  const ENV = { APP_DB_ADMIN_URL: ADMIN_URL };
  // SPEC's example, as js-yaml reads it.
  const SPEC_YAML = `
listen: { host: 127.0.0.1, port: 8080 }
issuers:
  - issuer: https://token.actions.githubusercontent.com
    audiences: [https://creds.example.com]
targets:
  app-db:
    provider: postgres
    admin_url_env: APP_DB_ADMIN_URL
profiles:
  app-readonly:
    target: app-db
    roles: [app_readonly]
    default_ttl: 15m
    max_ttl: 1h
    bound_claims:
      repository_id: "123456789"
      ref: ["refs/heads/main", "refs/tags/v*"]
sweep_interval: 60s
audit_log: stdout
`;
  type Raw = Record<string, unknown>;
  type Mapping = Record<string, Record<string, unknown>>;
  const spec = () => load(SPEC_YAML) as Raw;
  const targets = (raw: Raw) => raw.targets as Mapping;
  const profiles = (raw: Raw) => raw.profiles as Mapping;
  const target = (raw: Raw) => targets(raw)['app-db']!;
  const profile = (raw: Raw) => profiles(raw)['app-readonly']!;
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'broker-config-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The InputError that parsing this config throws. */
  function failure(raw: unknown, env: NodeJS.ProcessEnv = ENV): InputError {
    try {
      parseBrokerConfig(raw, env);
    } catch (err) {
      expect(err).toBeInstanceOf(InputError);
      return err as InputError;
    }
    throw new Error(`config was accepted: ${JSON.stringify(raw)}`);
  }

  /** SPEC's config with one change made by `edit`. */
  function edited(edit: (raw: Raw) => void): Raw {
    const raw = spec();
    edit(raw);
    return raw;
  }

  test.each([
    [{ max_body_bytes: 'lots' }, 'config: limits.max_body_bytes must be a whole number above 0'],
    [
      { max_concurrent_creations: 0 },
      'config: limits.max_concurrent_creations must be a whole number above 0'
    ]
  ])('limits %p are checked, not taken as NaN or a cap that never opens', (limits, message) => {
    expect(failure(edited((raw) => (raw.limits = limits))).message).toBe(message);
  });

  test("reads SPEC's example into a typed config, with defaults for what it leaves out", () => {
    const config: BrokerConfig = parseBrokerConfig(spec(), ENV);
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(config.tls).toBeUndefined();
    expect(config.issuers).toEqual([
      {
        issuer: 'https://token.actions.githubusercontent.com',
        audiences: ['https://creds.example.com']
      }
    ]);
    const target = config.targets.get('app-db')!;
    expect(target).toMatchObject({
      name: 'app-db',
      provider: 'postgres',
      userHost: '%',
      connectTimeoutMs: 10_000
    });
    expect(target.adminUrl.url.hostname).toBe('db.internal');
    expect(decodeURIComponent(target.adminUrl.url.password)).toBe(PASSWORD);
    expect(target.adminUrl.redacted).not.toContain(encodeURIComponent(PASSWORD));
    expect(config.profiles.get('app-readonly')).toEqual({
      name: 'app-readonly',
      target: 'app-db',
      roles: ['app_readonly'],
      usernamePrefix: 'ci',
      defaultTtlSeconds: 900,
      maxTtlSeconds: 3600,
      boundClaims: { repository_id: '123456789', ref: ['refs/heads/main', 'refs/tags/v*'] }
    });
    expect(config.sweepIntervalMs).toBe(60_000);
    expect(config.auditLog).toBe('stdout');
    expect(config.limits).toEqual({
      maxBodyBytes: 16 * 1024,
      requestTimeoutMs: 30_000,
      maxConcurrentCreations: 8
    });
  });

  test('fills in every default of a minimal config', () => {
    const config = parseBrokerConfig(
      edited((raw) => {
        delete raw.listen;
        delete raw.sweep_interval;
        delete raw.audit_log;
        delete profile(raw).default_ttl;
        delete profile(raw).max_ttl;
        delete profile(raw).roles;
      }),
      ENV
    );
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(config.sweepIntervalMs).toBe(60_000);
    expect(config.auditLog).toBe('stdout');
    expect(config.profiles.get('app-readonly')).toMatchObject({
      roles: [],
      defaultTtlSeconds: 900,
      maxTtlSeconds: 3600
    });
  });

  test('reads the optional keys the code adds', () => {
    writeFileSync(join(dir, 'cert.pem'), 'CERT');
    writeFileSync(join(dir, 'key.pem'), 'KEY');
    const config = parseBrokerConfig(
      edited((raw) => {
        raw.listen = { host: '0.0.0.0', port: 0 };
        raw.tls = { cert_file: join(dir, 'cert.pem'), key_file: join(dir, 'key.pem') };
        raw.limits = { max_body_bytes: 1024, request_timeout: '5s', max_concurrent_creations: 2 };
        raw.issuers = [
          {
            issuer: 'https://gitlab.example.com',
            audiences: ['a', 'b'],
            jwks_uri: 'https://gitlab.example.com/oauth/discovery/keys'
          }
        ];
        targets(raw)['app-db'] = {
          provider: 'mysql',
          admin_url_env: 'MYSQL_ADMIN',
          user_host: '10.0.%',
          connect_timeout: '3s'
        };
        Object.assign(profile(raw), {
          database: 'reports',
          username_prefix: 'job',
          bound_claims: { project_id: 42 } // a YAML number is compared as its text
        });
        raw.audit_log = '/var/log/broker.jsonl';
      }),
      { MYSQL_ADMIN: 'mysql://root:pw@127.0.0.1:3306/app' }
    );
    expect(config.listen).toEqual({ host: '0.0.0.0', port: 0 });
    expect(config.tls).toEqual({ cert: 'CERT', key: 'KEY' });
    expect(config.limits).toEqual({
      maxBodyBytes: 1024,
      requestTimeoutMs: 5000,
      maxConcurrentCreations: 2
    });
    expect(config.issuers[0]).toEqual({
      issuer: 'https://gitlab.example.com',
      audiences: ['a', 'b'],
      jwksUri: 'https://gitlab.example.com/oauth/discovery/keys'
    });
    expect(config.targets.get('app-db')).toMatchObject({
      provider: 'mysql',
      userHost: '10.0.%',
      connectTimeoutMs: 3000
    });
    expect(config.profiles.get('app-readonly')).toMatchObject({
      database: 'reports',
      usernamePrefix: 'job',
      boundClaims: { project_id: '42' }
    });
    expect(config.auditLog).toBe('/var/log/broker.jsonl');
  });

  test('reads the admin URL from admin_url_file, without its trailing newline', () => {
    const file = join(dir, 'admin-url');
    writeFileSync(file, `${ADMIN_URL}\n`, { mode: 0o600 });
    const config = parseBrokerConfig(
      edited((raw) => {
        targets(raw)['app-db'] = { provider: 'postgres', admin_url_file: file };
      }),
      {}
    );
    const { url } = config.targets.get('app-db')!.adminUrl;
    expect(url.hostname).toBe('db.internal');
    expect(url.searchParams.get('sslmode')).toBe('require');
    expect(decodeURIComponent(url.password)).toBe(PASSWORD);
  });

  const P = 'profiles.app-readonly';
  const T = 'targets.app-db';
  test.each<[string, string, (raw: Raw) => void]>([
    [
      'a profile without bound_claims',
      `${P}.bound_claims`,
      (raw) => delete profile(raw).bound_claims
    ],
    [
      'a profile with empty bound_claims',
      `${P}.bound_claims`,
      (raw) => (profile(raw).bound_claims = {})
    ],
    [
      'a bound claim that is a mapping',
      `${P}.bound_claims.ref`,
      (raw) => (profile(raw).bound_claims = { ref: { a: 1 } })
    ],
    [
      'an inline admin_url',
      `${T}.admin_url`,
      (raw) => (target(raw).admin_url = 'postgres://a:b@h/db')
    ],
    ['a target with no admin URL at all', T, (raw) => delete target(raw).admin_url_env],
    [
      'a profile naming an unknown target',
      `${P}.target`,
      (raw) => (profile(raw).target = 'other-db')
    ],
    ['a bad provider', `${T}.provider`, (raw) => (target(raw).provider = 'oracle')],
    ['provider aws', `${T}.provider`, (raw) => (target(raw).provider = 'aws')],
    [
      'default_ttl longer than max_ttl',
      `${P}.default_ttl`,
      (raw) => (profile(raw).default_ttl = '2h')
    ],
    ['a bad duration', `${P}.max_ttl`, (raw) => (profile(raw).max_ttl = 'soon')],
    ['a duration above 12h', `${P}.max_ttl`, (raw) => (profile(raw).max_ttl = '13h')],
    ['a bad sweep_interval', 'sweep_interval', (raw) => (raw.sweep_interval = '1d')],
    [
      'a bad connect_timeout',
      `${T}.connect_timeout`,
      (raw) => (target(raw).connect_timeout = '10')
    ],
    ['no issuers', 'issuers', (raw) => (raw.issuers = [])],
    ['a missing issuers key', 'issuers', (raw) => delete raw.issuers],
    [
      'an issuer that is not a URL',
      'issuers[0].issuer',
      (raw) => (raw.issuers = [{ issuer: 'github', audiences: ['x'] }])
    ],
    [
      'a jwks_uri that is not a URL',
      'issuers[0].jwks_uri',
      (raw) => (raw.issuers = [{ issuer: 'https://i.example', audiences: ['x'], jwks_uri: 'keys' }])
    ],
    [
      'empty audiences',
      'issuers[0].audiences',
      (raw) => (raw.issuers = [{ issuer: 'https://i.example', audiences: [] }])
    ],
    [
      'a bad role name',
      `${P}.roles`,
      (raw) => (profile(raw).roles = ['app readonly; drop table x'])
    ],
    [
      'a username_prefix that is too long',
      `${P}.username_prefix`,
      (raw) => (profile(raw).username_prefix = 'abcdefghijklmno')
    ],
    [
      'a username_prefix with capitals',
      `${P}.username_prefix`,
      (raw) => (profile(raw).username_prefix = 'CI')
    ],
    ['a bad port', 'listen.port', (raw) => ((raw.listen as Raw).port = 70000)],
    ['no profiles', 'profiles', (raw) => (raw.profiles = {})],
    ['a profile name with a slash', 'profiles.a/b', (raw) => (profiles(raw)['a/b'] = profile(raw))],
    [
      'an unreadable tls.cert_file',
      'tls.cert_file',
      (raw) => (raw.tls = { cert_file: '/nonexistent/cert.pem', key_file: '/nonexistent/k' })
    ]
  ])('refuses %s, naming %s', (_what, key, edit) => {
    expect(failure(edited(edit)).message).toContain(`config: ${key} `);
  });

  test('names the variable admin_url_env points at when it is unset', () => {
    const err = failure(spec(), {});
    expect(err.message).toContain(`${T}.admin_url_env`);
    expect(err.message).toContain('APP_DB_ADMIN_URL');
  });

  test('names admin_url_file and the file when it cannot be read', () => {
    const raw = edited((r) => {
      targets(r)['app-db'] = { provider: 'postgres', admin_url_file: join(dir, 'missing') };
    });
    expect(failure(raw, {}).message).toContain(`${T}.admin_url_file`);
  });

  // Every way an admin URL can be wrong, with the same password in it.
  const encoded = encodeURIComponent(PASSWORD);
  test.each<[string, string, Record<string, unknown>]>([
    ['of the wrong scheme', `mysql://ci_admin:${encoded}@db:3306/app`, {}],
    ['without a user', `postgres://:${encoded}@db:5432/app`, {}],
    ['with port 0', `postgres://ci_admin:${encoded}@db:0/app`, {}],
    ['with a port out of range', `postgres://ci_admin:${encoded}@db:99999/app`, {}],
    ['that is not a URL', `ci_admin:${PASSWORD}`, {}],
    ['with the password in the query', `mysql://db/app?password=${encoded}`, {}],
    [
      'with a bad ssl-mode',
      `mysql://ci_admin:${encoded}@db:3306/app?ssl-mode=preferred`,
      { provider: 'mysql' }
    ]
  ])('never shows the admin password in an error, for a URL %s', (_what, url, extra) => {
    const err = failure(
      edited((raw) => Object.assign(target(raw), extra)),
      { APP_DB_ADMIN_URL: url }
    );
    expect(err.message).toContain(T);
    expect(err.message).not.toContain(PASSWORD);
    expect(err.message).not.toContain(encoded);
  });

  test('never shows an inline admin URL', () => {
    const err = failure(
      edited((raw) => (target(raw).admin_url = `postgres://a:${encoded}@db/app`))
    );
    expect(err.message).not.toContain(encoded);
    expect(err.message).not.toContain(PASSWORD);
  });
});

describe('tokenVerifier', () => {
  const AUDIENCE = 'https://creds.example.com';
  const RUN = {
    sub: 'repo:acme/app:ref:refs/heads/main',
    repository: 'acme/app',
    repository_id: '123456789',
    run_id: '4242',
    run_attempt: '1'
  };
  let issuer: LocalIssuer;
  let verify: ReturnType<typeof tokenVerifier>;
  const now = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    issuer = await startLocalIssuer(RUN);
    // No jwks_uri: the verifier finds it through the issuer's discovery document.
    verify = tokenVerifier([{ issuer: issuer.issuer, audiences: ['other', AUDIENCE] }]);
  });
  afterAll(() => issuer.close());

  /** The TokenError that verifying this token throws, with the reason it gives. */
  async function rejection(token: string, verifier = verify): Promise<TokenError> {
    const err = await verifier(token).then(
      () => undefined,
      (e: unknown) => e
    );
    expect(err).toBeInstanceOf(TokenError);
    return err as TokenError;
  }

  /** Signs the claims a good token would carry, with a header and key of the caller's choosing. */
  function forged(header: Record<string, string>, claims: JWTPayload = {}) {
    return new SignJWT({
      ...RUN,
      iss: issuer.issuer,
      aud: AUDIENCE,
      iat: now(),
      exp: now() + 300,
      ...claims
    }).setProtectedHeader({ alg: 'RS256', ...header });
  }

  test('accepts a good token and returns its claims', async () => {
    const claims = await verify(await issuer.mint(AUDIENCE));
    expect(claims).toMatchObject({ ...RUN, iss: issuer.issuer, aud: AUDIENCE });
  });

  test('accepts a good token with an explicit jwks_uri', async () => {
    const explicit = tokenVerifier([
      { issuer: issuer.issuer, audiences: [AUDIENCE], jwksUri: `${issuer.issuer}/.well-known/jwks` }
    ]);
    await expect(explicit(await issuer.mint(AUDIENCE))).resolves.toMatchObject(RUN);
  });

  test('accepts a token that expired 30 s ago, within the 60 s leeway', async () => {
    const token = await issuer.mint(AUDIENCE, { iat: now() - 330 }, -30);
    await expect(verify(token)).resolves.toMatchObject(RUN);
  });

  test('rejects a token that expired beyond the leeway', async () => {
    const token = await issuer.mint(AUDIENCE, { iat: now() - 420 }, -120);
    expect((await rejection(token)).message).toContain('ERR_JWT_EXPIRED');
  });

  test('rejects a token not valid until later', async () => {
    const token = await issuer.mint(AUDIENCE, { nbf: now() + 300 });
    expect((await rejection(token)).message).toContain('ERR_JWT_CLAIM_VALIDATION_FAILED');
  });

  test('rejects a token issued more than an hour ago, though not expired', async () => {
    const token = await issuer.mint(AUDIENCE, { iat: now() - 2 * 3600 });
    expect((await rejection(token)).message).toContain('ERR_JWT_EXPIRED');
  });

  test('rejects a token of another issuer', async () => {
    const token = await issuer.mint(AUDIENCE, { iss: 'https://evil.example.com' });
    expect((await rejection(token)).message).toBe('token issuer is not trusted');
    expect((await rejection(`${base64url.encode('{}')}.x.y`)).message).toBe(
      'token issuer is not trusted'
    );
    await rejection('not a token');
  });

  test("rejects a token that names a trusted issuer but is signed by another one's key", async () => {
    const other = await startLocalIssuer(RUN);
    try {
      const token = await other.mint(AUDIENCE, { iss: issuer.issuer });
      expect((await rejection(token)).message).toMatch(/^token rejected: ERR_/);
    } finally {
      await other.close();
    }
  });

  test('rejects a token for another audience', async () => {
    const token = await issuer.mint('https://elsewhere.example.com');
    expect((await rejection(token)).message).toContain('ERR_JWT_CLAIM_VALIDATION_FAILED');
  });

  test('rejects an unsigned token (alg: none)', async () => {
    const token = new UnsecuredJWT({ ...RUN, iat: now() })
      .setIssuer(issuer.issuer)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .encode();
    expect(token.endsWith('.')).toBe(true);
    expect((await rejection(token)).message).toMatch(/^token rejected: ERR_/);
  });

  test("rejects HS256 signed with the issuer's public key as the secret", async () => {
    const jwk = issuer.jwks.keys[0]!;
    const pem = await exportSPKI(
      (await importJWK(jwk, 'RS256', { extractable: true })) as CryptoKey
    );
    expect(pem).toContain('BEGIN PUBLIC KEY');
    const token = await forged({ alg: 'HS256', kid: jwk.kid! }).sign(new TextEncoder().encode(pem));
    expect((await rejection(token)).message).toContain('ERR_JOSE_ALG_NOT_ALLOWED');
  });

  test('rejects a token signed with a key the JWKS does not hold', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const token = await forged({ kid: 'not-in-the-jwks' }).sign(privateKey);
    expect((await rejection(token)).message).toContain('ERR_JWKS_NO_MATCHING_KEY');
  });

  test('rejects a token whose payload was changed after signing', async () => {
    const [header, , signature] = (await issuer.mint(AUDIENCE)).split('.');
    const payload = { ...decodeJwt(await issuer.mint(AUDIENCE)), repository_id: '1' };
    const token = `${header}.${base64url.encode(JSON.stringify(payload))}.${signature}`;
    expect((await rejection(token)).message).toContain('ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  });

  test("an issuer that cannot be reached is not the token's fault", async () => {
    const gone = await startLocalIssuer(RUN);
    const token = await gone.mint(AUDIENCE);
    await gone.close();
    const err = await tokenVerifier(
      [{ issuer: gone.issuer, audiences: [AUDIENCE] }],
      1000
    )(token).then(
      () => undefined,
      (e: unknown) => e
    );
    // fetch's own TypeError, from outside Jest's realm: checked by name, not instanceof.
    expect((err as Error).name).toBe('TypeError');
    expect(err).not.toBeInstanceOf(TokenError);
  });
});

describe('tokenVerifier and a failing JWKS endpoint', () => {
  test('a JWKS that answers 500 is the issuer failing (503 upstream), not a bad token', async () => {
    const issuer = await startLocalIssuer({ run_id: '1', repository_id: '2', sub: 's' });
    const broken = createServer((_req, res) => void res.writeHead(500).end('{}'));
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
    try {
      const jwksUri = `http://127.0.0.1:${(broken.address() as { port: number }).port}/jwks`;
      const verify = tokenVerifier([{ issuer: issuer.issuer, audiences: ['a'], jwksUri }], 1000);
      const err = await verify(await issuer.mint('a')).then(
        () => undefined,
        (e: unknown) => e
      );
      expect(err).toBeDefined();
      expect(err).not.toBeInstanceOf(TokenError);
    } finally {
      broken.close();
      await issuer.close();
    }
  });
});
