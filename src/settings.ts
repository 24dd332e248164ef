import { InputError, registerSecret } from './util/errors.js';
import { parseDuration } from './util/duration.js';
import { NAME_SUFFIX_LENGTH } from './util/names.js';

/** What we create credentials in. */
export type ProviderName = 'postgres' | 'mysql' | 'aws';

/** Which database to reach and how: all that revoke and sweep need. */
export interface Target {
  provider: ProviderName;
  adminUrl: AdminUrl;
  connectTimeoutMs: number;
}

/** Everything issue needs, validated: nothing is created from an unchecked value. */
export interface Settings extends Target {
  roles: string[];
  database: string;
  ttlSeconds: number;
  usernamePrefix: string;
  envPrefix: string;
  exportEnv: boolean;
  revoke: boolean;
  audience: string;
  /** MySQL: the host pattern of the new account. */
  userHost: string;
}

/** An admin connection URL, parsed; `redacted` is safe to print. */
export interface AdminUrl {
  url: URL;
  redacted: string;
}

/** Reads one named input ("" when unset), from action inputs or CLI flags alike. */
export type InputReader = (name: string) => string;

export const MAX_TTL_SECONDS = 12 * 3600;
const DEFAULT_AUDIENCE = 'ephemeral-credentials';
// MySQL's 32-character user names are the tightest limit we serve.
const MAX_PREFIX = 32 - NAME_SUFFIX_LENGTH;
const PREFIX = /^[a-z][a-z0-9_]*$/;
const ENV_PREFIX = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Quoting would make any name safe; the narrow form catches typos and pasted quotes early.
const SQL_NAME = /^[A-Za-z_][A-Za-z0-9_$.-]{0,62}$/;
const PROVIDERS: readonly ProviderName[] = ['postgres', 'mysql', 'aws'];
const BUILT: readonly ProviderName[] = ['postgres', 'mysql'];
const URL_SCHEMES: Record<string, string[]> = {
  postgres: ['postgres:', 'postgresql:'],
  mysql: ['mysql:', 'mariadb:']
};

/** Turns raw inputs into Settings, or throws an InputError naming the bad value. */
export function readSettings(get: InputReader): Settings {
  if (get('broker-url')) {
    if (get('admin-url'))
      throw new InputError('admin-url and broker-url exclude each other; set one');
    throw new InputError(
      'broker mode (broker-url) is not available in this version yet; use admin-url'
    );
  }
  const target = readTarget(get);
  const { adminUrl } = target;

  const usernamePrefix = get('username-prefix') || 'ci';
  if (!PREFIX.test(usernamePrefix) || usernamePrefix.length > MAX_PREFIX) {
    throw new InputError(
      `username-prefix "${usernamePrefix}" must match [a-z][a-z0-9_]* and be at most ${MAX_PREFIX} characters`
    );
  }
  const envPrefix = get('env-prefix');
  if (envPrefix && !ENV_PREFIX.test(envPrefix)) {
    throw new InputError(`env-prefix "${envPrefix}" must match [A-Za-z_][A-Za-z0-9_]*`);
  }
  const database = get('database') || decodeOr(adminUrl.url.pathname.slice(1));
  if (!database) throw new InputError('database is not set and the admin-url names none');
  checkSqlName('database', database);

  return {
    ...target,
    roles: parseRoles(get('roles')),
    database,
    ttlSeconds: parseDuration('ttl', get('ttl') || '1h', MAX_TTL_SECONDS),
    usernamePrefix,
    envPrefix,
    exportEnv: readBoolean('export-env', get('export-env'), true),
    revoke: readBoolean('revoke', get('revoke'), true),
    audience: get('audience') || DEFAULT_AUDIENCE,
    userHost: readUserHost(get('user-host'))
  };
}

/** Reads the provider and admin URL; the provider may come from a saved state instead. */
export function readTarget(get: InputReader, provider = readProvider(get('provider'))): Target {
  if (!get('admin-url')) throw new InputError(`admin-url is required for provider "${provider}"`);
  return {
    provider,
    adminUrl: parseAdminUrl(provider, get('admin-url')),
    connectTimeoutMs: parseDuration('connect-timeout', get('connect-timeout') || '10s', 300) * 1000
  };
}

/** Checks the provider name and that this version can serve it. */
export function readProvider(text: string): ProviderName {
  const provider = text.trim().toLowerCase() as ProviderName;
  if (!text) throw new InputError(`provider is required; use one of ${PROVIDERS.join(', ')}`);
  if (!PROVIDERS.includes(provider)) {
    throw new InputError(`provider "${text}" is not known; use one of ${PROVIDERS.join(', ')}`);
  }
  if (!BUILT.includes(provider)) {
    throw new InputError(
      `provider "${provider}" is not available in this version yet; use ${BUILT.join(', ')}`
    );
  }
  return provider;
}

/** Parses an admin URL; its password is registered as a secret before anything can print it. */
export function parseAdminUrl(provider: ProviderName, text: string): AdminUrl {
  const example =
    provider === 'mysql'
      ? 'mysql://user:password@host:3306/database'
      : 'postgres://user:password@host:5432/database';
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    // The text may hold a password, so it is not echoed.
    throw new InputError(`admin-url is not a URL (value hidden); use ${example}`);
  }
  if (url.password) {
    registerSecret(url.password); // as written, e.g. "a&b%40c"
    registerSecret(decodeOr(url.password));
  }
  const shown = new URL(url.href);
  if (shown.password) shown.password = '***';
  // libpq also takes ?password=, and a URL without a host (no scheme?) may hold one anywhere.
  const queryPassword = shown.searchParams.get('password');
  if (queryPassword) {
    registerSecret(queryPassword);
    shown.searchParams.set('password', '***');
  }
  const redacted = shown.host ? shown.href : '(value hidden)';
  if (!URL_SCHEMES[provider]?.includes(url.protocol)) {
    throw new InputError(`admin-url "${redacted}" is not a ${provider} URL; use ${example}`);
  }
  if (!url.hostname || !url.username) {
    throw new InputError(`admin-url "${redacted}" needs a user and a host; use ${example}`);
  }
  if (url.port && !(Number(url.port) > 0)) {
    throw new InputError(`admin-url "${redacted}" has a bad port; use ${example}`);
  }
  return { url, redacted };
}

// The driver takes a % that starts no escape literally, so must we.
function decodeOr(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function readUserHost(text: string): string {
  const host = text.trim() || '%';
  if (!/^[A-Za-z0-9_.%:-]{1,255}$/.test(host)) {
    throw new InputError(
      `user-host "${text}" is not a MySQL host pattern; use e.g. %, 10.0.%, or db-client.example.com`
    );
  }
  return host;
}

/** Splits a comma- or newline-separated role list and checks each name. */
export function parseRoles(text: string): string[] {
  const roles = text
    .split(/[,\n]/)
    .map((r) => r.trim())
    .filter(Boolean);
  for (const role of roles) checkSqlName('role', role);
  return [...new Set(roles)];
}

function checkSqlName(what: string, name: string): void {
  if (!SQL_NAME.test(name)) {
    throw new InputError(
      `${what} "${name}" is not a plain name; use letters, digits and _ $ . - (at most 63, no quotes or spaces)`
    );
  }
}

/** Reads true/false (any case); "" gives the fallback. */
export function readBoolean(name: string, text: string, fallback: boolean): boolean {
  if (!text) return fallback;
  if (/^true$/i.test(text.trim())) return true;
  if (/^false$/i.test(text.trim())) return false;
  throw new InputError(`${name} "${text}" is not a boolean; use true or false`);
}
