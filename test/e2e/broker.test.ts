import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importJWK, exportSPKI, SignJWT, type JWK } from 'jose';
import { parseBrokerConfig } from '../../src/broker/config.js';
import { startBroker, type Broker } from '../../src/broker/server.js';
import { startLocalIssuer, type LocalIssuer } from '../../src/demo/issuer.js';
import { freePort } from '../../src/demo/postgres.js';
import {
  loginError,
  query,
  roleFacts,
  startLocalPostgres,
  type LocalPostgres
} from '../helpers/postgres.js';
import { leakedLines, newJob, runStep } from '../helpers/runner.js';

const RUN = {
  repository: 'acme/app',
  repository_id: '123456789',
  run_id: '555',
  run_attempt: '1',
  ref: 'refs/heads/main',
  sub: 'repo:acme/app:ref:refs/heads/main'
};
let db: LocalPostgres;
let issuer: LocalIssuer;
let broker: Broker;
let dir: string;
const audience = 'https://creds.example.com';

/** A broker config: the admin URL comes from the environment, never the YAML. */
function config(extra: Record<string, unknown> = {}) {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    issuers: [{ issuer: issuer.issuer, audiences: [audience] }],
    targets: { 'app-db': { provider: 'postgres', admin_url_env: 'APP_DB_ADMIN_URL' } },
    profiles: {
      'app-readonly': {
        target: 'app-db',
        roles: ['app_read'],
        default_ttl: '15m',
        max_ttl: '1h',
        bound_claims: { repository_id: '123456789', ref: ['refs/heads/main', 'refs/tags/v*'] }
      },
      'app-sub': { target: 'app-db', bound_claims: { sub: 'repo:acme/app*' } }
    },
    sweep_interval: '1s',
    audit_log: join(dir, 'audit.log'),
    ...extra
  };
}

const post = (token: string | undefined, body: unknown, base = broker.url) =>
  fetch(`${base}/v1/credentials`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {})
    },
    body: typeof body === 'string' ? body : JSON.stringify(body)
  });
const del = (token: string, leaseId: string, base = broker.url) =>
  fetch(`${base}/v1/credentials/${encodeURIComponent(leaseId)}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${token}` }
  });
const jobUsers = async () =>
  (
    await query<{ n: number }>(
      db.adminUrl,
      `SELECT count(*)::int AS n FROM pg_roles WHERE rolname LIKE 'ci\\_%'`
    )
  ).rows[0]!.n;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ec-broker-'));
  db = await startLocalPostgres();
  await query(db.adminUrl, 'CREATE ROLE app_read NOLOGIN');
  issuer = await startLocalIssuer(RUN);
  // Its sweeper stays out of the way of the restart test below, which needs a leftover user.
  broker = await startBroker(
    parseBrokerConfig(config({ sweep_interval: '1h' }), { APP_DB_ADMIN_URL: db.adminUrl })
  );
});
afterAll(async () => {
  await broker?.close();
  await issuer?.close();
  await db?.stop();
});

describe('the broker', () => {
  test('issues a user for a token that satisfies the profile; only the same run revokes it', async () => {
    const response = await post(await issuer.mint(audience), {
      profile: 'app-readonly',
      ttl: '2h'
    });
    expect(response.status).toBe(201);
    const lease = (await response.json()) as Record<string, string>;
    expect(Object.keys(lease).sort()).toEqual([
      'database',
      'expires_at',
      'host',
      'lease_id',
      'password',
      'port',
      'url',
      'username'
    ]);
    expect(Date.parse(lease.expires_at!) - Date.now()).toBeLessThanOrEqual(3600_000 + 1000); // capped at max_ttl
    expect(await loginError(lease.url!)).toBeUndefined();
    expect((await roleFacts(db.adminUrl, lease.username!))!.roles).toEqual(['app_read']);

    const other = await del(await issuer.mint(audience, { run_id: '556' }), lease.lease_id!);
    expect(other.status).toBe(403);
    expect(await loginError(lease.url!)).toBeUndefined();

    expect((await del(await issuer.mint(audience), lease.lease_id!)).status).toBe(204);
    expect(await loginError(lease.url!)).toMatch(/password authentication failed/);
    expect((await del(await issuer.mint(audience), lease.lease_id!)).status).toBe(204);
    expect((await fetch(`${broker.url}/healthz`)).status).toBe(200);
  });

  test('the attack matrix: each answered 401, 403 or 413 with nothing created', async () => {
    const before = await jobUsers();
    const good = await issuer.mint(audience);
    const [header, payload] = good.split('.');
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    const stranger = await startLocalIssuer(RUN);
    const publicPem = await exportSPKI(
      (await importJWK(issuer.jwks.keys[0] as JWK, 'RS256')) as CryptoKey
    );
    const { privateKey: otherKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string | undefined, unknown, number][] = [
      ['no token', undefined, { profile: 'app-readonly' }, 401],
      ['expired token', await issuer.mint(audience, {}, -120), { profile: 'app-readonly' }, 401],
      [
        'token not yet valid',
        await issuer.mint(audience, { nbf: now + 600 }),
        { profile: 'app-readonly' },
        401
      ],
      ['wrong issuer', await stranger.mint(audience), { profile: 'app-readonly' }, 401],
      [
        'wrong audience',
        await issuer.mint('https://other.example.com'),
        { profile: 'app-readonly' },
        401
      ],
      [
        'alg none',
        `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`,
        { profile: 'app-readonly' },
        401
      ],
      [
        'HMAC signed with the public key',
        await new SignJWT(claims)
          .setProtectedHeader({ alg: 'HS256', kid: issuer.jwks.keys[0]!.kid! })
          .sign(new TextEncoder().encode(publicPem)),
        { profile: 'app-readonly' },
        401
      ],
      [
        'unknown kid',
        await new SignJWT(claims)
          .setProtectedHeader({ alg: 'RS256', kid: 'not-a-known-key' })
          .sign(otherKey),
        { profile: 'app-readonly' },
        401
      ],
      [
        'tampered payload',
        `${header}.${b64({ ...claims, repository_id: '999' })}.${good.split('.')[2]}`,
        { profile: 'app-readonly' },
        401
      ],
      [
        'claims that do not match the profile',
        await issuer.mint(audience, { ref: 'refs/heads/feature' }),
        { profile: 'app-readonly' },
        403
      ],
      [
        'a tag glob crossing "/"',
        await issuer.mint(audience, { ref: 'refs/tags/v1/evil' }),
        { profile: 'app-readonly' },
        403
      ],
      [
        'a sub glob crossing ":"',
        await issuer.mint(audience, { sub: 'repo:acme/app-evil:ref:refs/heads/main' }),
        { profile: 'app-sub' },
        403
      ],
      [
        'a token that names no run',
        await issuer.mint(audience, { run_id: undefined }),
        { profile: 'app-readonly' },
        403
      ],
      ['oversized body', good, { profile: 'app-readonly', pad: 'x'.repeat(64 * 1024) }, 413]
    ];
    try {
      for (const [name, token, body, status] of cases) {
        const response = await post(token, body);
        expect({ name, status: response.status }).toEqual({ name, status });
        const answer = (await response.json()) as { error: string; message: string };
        expect(typeof answer.error).toBe('string');
      }
    } finally {
      await stranger.close();
    }
    expect(await jobUsers()).toBe(before);
    expect((await post(good, { profile: 'no-such-profile' })).status).toBe(404);
    expect((await post(good, '{not json')).status).toBe(400);
  });

  test('100 concurrent issues through one broker: 100 distinct users, all revoked after', async () => {
    const before = await jobUsers();
    const answers = await Promise.all(
      Array.from(
        { length: 100 },
        async () =>
          (await post(await issuer.mint(audience), { profile: 'app-readonly' })).json() as Promise<
            Record<string, string>
          >
      )
    );
    const names = new Set(answers.map((lease) => lease.username));
    expect(names.size).toBe(100);
    expect(await jobUsers()).toBe(before + 100);
    const statuses = await Promise.all(
      answers.map(async (lease) => (await del(await issuer.mint(audience), lease.lease_id!)).status)
    );
    expect(new Set(statuses)).toEqual(new Set([204]));
    expect(await jobUsers()).toBe(before);
  }, 120_000);

  test('closing finishes a request in flight and then refuses new ones', async () => {
    const closing = await startBroker(
      parseBrokerConfig(config({ sweep_interval: '1h' }), { APP_DB_ADMIN_URL: db.adminUrl })
    );
    const token = await issuer.mint(audience);
    const { port } = new URL(closing.url);
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/v1/credentials',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
        },
        (res) => {
          let body = '';
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        }
      );
      req.on('error', reject);
      req.write('{"profile": ');
      // The request is in flight (headers in, body half sent) when the broker is told to stop.
      setTimeout(() => {
        closed = closing.close();
        setTimeout(() => req.end('"app-readonly"}'), 100);
      }, 100);
    });
    let closed: Promise<void> | undefined;
    const { status, body } = await answer;
    expect(status).toBe(201);
    await closed;
    await expect(fetch(`${closing.url}/healthz`)).rejects.toThrow();
    await del(await issuer.mint(audience), (JSON.parse(body) as { lease_id: string }).lease_id);
  });

  test('audit lines record the decisions with their claims and never a secret', async () => {
    const response = await post(await issuer.mint(audience), { profile: 'app-readonly' });
    const lease = (await response.json()) as Record<string, string>;
    await del(await issuer.mint(audience), lease.lease_id!);
    const lines = (await import('node:fs'))
      .readFileSync(join(dir, 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const mine = lines.filter((l) => l.lease_id === lease.lease_id);
    expect(mine.map((l) => l.event)).toEqual(['issued', 'revoked']);
    expect(mine[0]!.claims).toMatchObject({ repository_id: '123456789', run_id: '555' });
    expect(lines.some((l) => l.event === 'denied' && /does not match/.test(String(l.reason)))).toBe(
      true
    );
    const text = lines.map((l) => JSON.stringify(l)).join('\n');
    expect(text).not.toContain(lease.password!);
    expect(text).not.toContain(new URL(db.adminUrl).password);
    expect(text).not.toMatch(/eyJ[\w-]+\.eyJ/); // no token
  });
});

describe('broker processes', () => {
  const children: ChildProcess[] = [];
  async function serve(port: number): Promise<{ url: string; child: ChildProcess }> {
    const file = join(dir, `broker-${port}.json`);
    writeFileSync(
      file,
      JSON.stringify(
        config({ listen: { host: '127.0.0.1', port }, audit_log: join(dir, `audit-${port}.log`) })
      )
    );
    const child = spawn(process.execPath, ['dist/cli/index.js', 'serve', '--config', file], {
      env: { PATH: process.env.PATH ?? '', APP_DB_ADMIN_URL: db.adminUrl },
      stdio: ['ignore', 'ignore', 'pipe']
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on(
        'data',
        (chunk: Buffer) => String(chunk).includes('listening on') && resolve()
      );
      child.once('exit', (code) => reject(new Error(`broker exited ${code}`)));
    });
    return { url: `http://127.0.0.1:${port}`, child };
  }
  afterAll(() => children.forEach((child) => child.kill('SIGKILL')));

  test('issue through one broker, revoke through another: the database holds the lease', async () => {
    const [a, b] = await Promise.all([freePort().then(serve), freePort().then(serve)]);
    const lease = (await (
      await post(await issuer.mint(audience), { profile: 'app-readonly' }, a.url)
    ).json()) as Record<string, string>;
    expect((await del(await issuer.mint(audience), lease.lease_id!, b.url)).status).toBe(204);
    expect(await roleFacts(db.adminUrl, lease.username!)).toBeUndefined();
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
  });

  test('a broker killed mid-lease: after a restart its sweeper removes the expired user', async () => {
    const port = await freePort();
    const first = await serve(port);
    const lease = (await (
      await post(await issuer.mint(audience), { profile: 'app-readonly', ttl: '1s' }, first.url)
    ).json()) as Record<string, string>;
    first.child.kill('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(await roleFacts(db.adminUrl, lease.username!)).toBeDefined();
    const second = await serve(port);
    const deadline = Date.now() + 10_000;
    while ((await roleFacts(db.adminUrl, lease.username!)) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 250));
    expect(await roleFacts(db.adminUrl, lease.username!)).toBeUndefined();
    second.child.kill('SIGTERM');
  }, 30_000);

  test('the action in broker mode: main posts the token, post deletes the lease with a fresh one', async () => {
    const job = newJob();
    const inputs = {
      provider: 'postgres',
      'broker-url': broker.url,
      profile: 'app-readonly',
      audience,
      ttl: '10m'
    };
    // The runner's token endpoint signs for whatever audience the step asks.
    const main = await runStep('main', inputs, job, issuer.actionsEnv);
    expect(main.stderr).toBe('');
    expect(main.code).toBe(0);
    expect(await loginError(main.env.DATABASE_URL!)).toBeUndefined();
    const secrets = [main.outputs.password!, main.outputs.url!];
    expect(leakedLines(main.stdout, secrets)).toEqual([]);
    expect(JSON.stringify(main.state)).not.toContain(main.outputs.password!);
    const post = await runStep('post', inputs, job, issuer.actionsEnv);
    expect(post.code).toBe(0);
    expect(post.stdout).toContain(`Revoked postgres user ${main.outputs.username}`);
    expect(await loginError(main.env.DATABASE_URL!)).toMatch(/password authentication failed/);
  });
});
