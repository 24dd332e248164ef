import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import type { TrustedIssuer } from '../oidc/verify.js';
import { parseAdminUrl, parseRoles, type AdminUrl, type DbProvider } from '../settings.js';
import { parseDuration } from '../util/duration.js';
import { InputError } from '../util/errors.js';
import type { BoundClaim } from './policy.js';

/** A database the broker creates users in. */
export interface BrokerTarget {
  name: string;
  provider: DbProvider;
  adminUrl: AdminUrl;
  userHost: string;
  connectTimeoutMs: number;
}

/** What a job may ask for, and who may ask. */
export interface BrokerProfile {
  name: string;
  target: string;
  roles: string[];
  database?: string;
  usernamePrefix: string;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
  boundClaims: Record<string, BoundClaim>;
}

/** The broker's configuration, validated at start-up. */
export interface BrokerConfig {
  listen: { host: string; port: number };
  tls?: { cert: string; key: string };
  issuers: TrustedIssuer[];
  targets: Map<string, BrokerTarget>;
  profiles: Map<string, BrokerProfile>;
  sweepIntervalMs: number;
  auditLog: string;
  limits: { maxBodyBytes: number; requestTimeoutMs: number; maxConcurrentCreations: number };
}

type Raw = Record<string, unknown>;
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Reads and validates a YAML config; every error names the key at fault. */
export function loadBrokerConfig(path: string, env: NodeJS.ProcessEnv = process.env): BrokerConfig {
  let raw: unknown;
  try {
    raw = load(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new InputError(`config ${path}: ${(err as Error).message.split('\n')[0]}`);
  }
  return parseBrokerConfig(raw, env);
}

/** Validates an already parsed config. */
export function parseBrokerConfig(
  raw: unknown,
  env: NodeJS.ProcessEnv = process.env
): BrokerConfig {
  const root = object(raw, 'config');
  const listen = object(root.listen ?? {}, 'listen');
  const port = Number(listen.port ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    fail('listen.port', 'must be a port number');

  const issuers = list(root.issuers, 'issuers').map((item, i) => {
    const at = `issuers[${i}]`;
    const issuer = object(item, at);
    const audiences = list(issuer.audiences, `${at}.audiences`).map((a, j) =>
      text(a, `${at}.audiences[${j}]`)
    );
    if (!audiences.length) fail(`${at}.audiences`, 'needs at least one audience');
    return {
      issuer: url(issuer.issuer, `${at}.issuer`),
      audiences,
      ...(issuer.jwks_uri !== undefined ? { jwksUri: url(issuer.jwks_uri, `${at}.jwks_uri`) } : {})
    };
  });
  if (!issuers.length) fail('issuers', 'needs at least one issuer');

  const targets = new Map<string, BrokerTarget>();
  for (const [name, value] of Object.entries(object(root.targets, 'targets'))) {
    const at = `targets.${name}`;
    if (!NAME.test(name)) fail(at, 'names may hold letters, digits and _ . - only');
    const target = object(value, at);
    const provider = text(target.provider, `${at}.provider`);
    if (provider !== 'postgres' && provider !== 'mysql')
      fail(`${at}.provider`, 'must be postgres or mysql');
    if ('admin_url' in target)
      fail(`${at}.admin_url`, 'is not allowed: use admin_url_env or admin_url_file');
    let adminText: string;
    if (target.admin_url_env !== undefined) {
      const variable = text(target.admin_url_env, `${at}.admin_url_env`);
      adminText =
        env[variable] ?? fail(`${at}.admin_url_env`, `names ${variable}, which is not set`);
    } else if (target.admin_url_file !== undefined) {
      const file = text(target.admin_url_file, `${at}.admin_url_file`);
      try {
        adminText = readFileSync(file, 'utf8').trim();
      } catch {
        fail(`${at}.admin_url_file`, `cannot read ${file}`);
      }
    } else {
      fail(at, 'needs admin_url_env or admin_url_file');
    }
    let adminUrl: AdminUrl;
    try {
      adminUrl = parseAdminUrl(provider, adminText);
    } catch (err) {
      fail(at, (err as Error).message);
    }
    targets.set(name, {
      name,
      provider,
      adminUrl,
      userHost: target.user_host === undefined ? '%' : text(target.user_host, `${at}.user_host`),
      connectTimeoutMs: duration(target.connect_timeout ?? '10s', `${at}.connect_timeout`) * 1000
    });
  }
  if (!targets.size) fail('targets', 'needs at least one target');

  const profiles = new Map<string, BrokerProfile>();
  for (const [name, value] of Object.entries(object(root.profiles, 'profiles'))) {
    const at = `profiles.${name}`;
    if (!NAME.test(name)) fail(at, 'names may hold letters, digits and _ . - only');
    const profile = object(value, at);
    const target = text(profile.target, `${at}.target`);
    if (!targets.has(target)) fail(`${at}.target`, `names no target "${target}"`);
    const bound = object(profile.bound_claims ?? {}, `${at}.bound_claims`);
    // A profile anyone with a token from a trusted issuer could use would be a public one.
    if (!Object.keys(bound).length) fail(`${at}.bound_claims`, 'needs at least one bound claim');
    const boundClaims: Record<string, BoundClaim> = {};
    for (const [claim, expected] of Object.entries(bound)) {
      boundClaims[claim] = Array.isArray(expected)
        ? expected.map((item, i) => scalar(item, `${at}.bound_claims.${claim}[${i}]`))
        : scalar(expected, `${at}.bound_claims.${claim}`);
    }
    const maxTtl = duration(profile.max_ttl ?? '1h', `${at}.max_ttl`);
    const defaultTtl = duration(profile.default_ttl ?? '15m', `${at}.default_ttl`);
    if (defaultTtl > maxTtl) fail(`${at}.default_ttl`, 'is longer than max_ttl');
    let roles: string[];
    try {
      roles = parseRoles(
        list(profile.roles ?? [], `${at}.roles`)
          .map((r, i) => text(r, `${at}.roles[${i}]`))
          .join(',')
      );
    } catch (err) {
      fail(`${at}.roles`, (err as Error).message);
    }
    const prefix =
      profile.username_prefix === undefined
        ? 'ci'
        : text(profile.username_prefix, `${at}.username_prefix`);
    if (!/^[a-z][a-z0-9_]{0,13}$/.test(prefix))
      fail(`${at}.username_prefix`, 'must match [a-z][a-z0-9_]*, at most 14');
    profiles.set(name, {
      name,
      target,
      roles,
      ...(profile.database !== undefined
        ? { database: text(profile.database, `${at}.database`) }
        : {}),
      usernamePrefix: prefix,
      defaultTtlSeconds: defaultTtl,
      maxTtlSeconds: maxTtl,
      boundClaims
    });
  }
  if (!profiles.size) fail('profiles', 'needs at least one profile');

  const tls = root.tls === undefined ? undefined : object(root.tls, 'tls');
  const limits = object(root.limits ?? {}, 'limits');
  return {
    listen: {
      host: listen.host === undefined ? '127.0.0.1' : text(listen.host, 'listen.host'),
      port
    },
    ...(tls
      ? {
          tls: {
            cert: readPem(tls.cert_file, 'tls.cert_file'),
            key: readPem(tls.key_file, 'tls.key_file')
          }
        }
      : {}),
    issuers,
    targets,
    profiles,
    sweepIntervalMs: duration(root.sweep_interval ?? '60s', 'sweep_interval') * 1000,
    auditLog: root.audit_log === undefined ? 'stdout' : text(root.audit_log, 'audit_log'),
    limits: {
      maxBodyBytes: count(limits.max_body_bytes ?? 16 * 1024, 'limits.max_body_bytes'),
      requestTimeoutMs: duration(limits.request_timeout ?? '30s', 'limits.request_timeout') * 1000,
      maxConcurrentCreations: count(
        limits.max_concurrent_creations ?? 8,
        'limits.max_concurrent_creations'
      )
    }
  };
}

function fail(key: string, problem: string): never {
  throw new InputError(`config: ${key} ${problem}`);
}

function count(value: unknown, key: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1)
    fail(key, 'must be a whole number above 0');
  return value as number;
}

function object(value: unknown, key: string): Raw {
  if (!value || typeof value !== 'object' || Array.isArray(value)) fail(key, 'must be a mapping');
  return value as Raw;
}

function list(value: unknown, key: string): unknown[] {
  if (!Array.isArray(value)) fail(key, 'must be a list');
  return value;
}

function text(value: unknown, key: string): string {
  if (typeof value !== 'string' || !value.trim()) fail(key, 'must be a non-empty string');
  return value.trim();
}

function scalar(value: unknown, key: string): string {
  if (typeof value === 'number') return String(value);
  return text(value, key);
}

function url(value: unknown, key: string): string {
  // Kept exactly as written: an issuer is compared with the token's iss character for character.
  const raw = text(value, key);
  try {
    new URL(raw);
  } catch {
    fail(key, `"${raw}" is not a URL`);
  }
  return raw;
}

function duration(value: unknown, key: string): number {
  try {
    return parseDuration(key, String(value), 12 * 3600);
  } catch (err) {
    fail(key, (err as Error).message.replace(`${key} `, ''));
  }
}

function readPem(value: unknown, key: string): string {
  const file = text(value, key);
  try {
    return readFileSync(file, 'utf8');
  } catch {
    fail(key, `cannot read ${file}`);
  }
}
