import { InputError, registerSecret } from './util/errors.js';
import { parseDuration } from './util/duration.js';
import { NAME_SUFFIX_LENGTH } from './util/names.js';
import { percentDecoded } from './util/text.js';

/** The databases we create users in. */
export type DbProvider = 'postgres' | 'mysql';
/** What we create credentials in. */
export type ProviderName = DbProvider | 'aws';

/** Which database to reach and how: all that revoke and sweep need. */
export interface Target {
  provider: DbProvider;
  adminUrl: AdminUrl;
  connectTimeoutMs: number;
}

/** What every provider reads. */
interface Common {
  ttlSeconds: number;
  usernamePrefix: string;
  envPrefix: string;
  exportEnv: boolean;
  revoke: boolean;
  audience: string;
}

/** Everything issuing a database user needs, validated: nothing is created from an unchecked value. */
export interface DbSettings extends Target, Common {
  roles: string[];
  database: string;
  /** MySQL: the host pattern of the new account. */
  userHost: string;
}

/** Everything an STS session needs, validated. */
export interface AwsSettings extends Common {
  provider: 'aws';
  roleArn: string;
  region: string;
  sessionName?: string;
  stsEndpoint?: string;
  sessionPolicy?: string;
  sessionPolicyArns: string[];
  maskAccountId: boolean;
}

/** Everything asking a broker for a database user needs, validated. */
export interface BrokerSettings extends Common {
  provider: DbProvider;
  brokerUrl: string;
  profile: string;
}

/** The settings of one issue, for whichever provider and mode. */
export type Settings = DbSettings | AwsSettings | BrokerSettings;

/** True when a broker creates the user, not this process. */
export function isBrokerMode(settings: Settings): settings is BrokerSettings {
  return 'brokerUrl' in settings;
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
const ROLE_ARN = /^arn:aws(-[a-z]+)*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const POLICY_ARN = /^arn:aws(-[a-z]+)*:iam::(\d{12}|aws):policy\/[\w+=,.@/-]{1,512}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const MYSQL_SSL_MODES = ['DISABLED', 'REQUIRED', 'VERIFY_CA', 'VERIFY_IDENTITY'];
const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/;
const URL_SCHEMES: Record<string, string[]> = {
  postgres: ['postgres:', 'postgresql:'],
  mysql: ['mysql:', 'mariadb:']
};

/** Turns raw inputs into Settings, or throws an InputError naming the bad value. */
export function readSettings(get: InputReader): Settings {
  const provider = readProvider(get('provider'));
  const common = readCommon(get, provider);
  if (get('broker-url')) {
    if (get('admin-url'))
      throw new InputError('admin-url and broker-url exclude each other; set one');
    if (provider === 'aws')
      throw new InputError('broker-url is for database providers; provider aws talks to STS');
    const brokerUrl = readEndpoint('broker-url', get('broker-url')).replace(/\/$/, '');
    const profile = get('profile').trim();
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(profile)) {
      throw new InputError(
        `profile "${profile}" is not a broker profile name; use the name the broker's config gives it`
      );
    }
    return { ...common, provider, brokerUrl, profile, audience: get('audience') || brokerUrl };
  }
  if (provider === 'aws') return { ...common, ...readAws(get) };
  const target = readTarget(get, provider);
  const database = get('database') || percentDecoded(target.adminUrl.url.pathname.slice(1));
  if (!database) throw new InputError('database is not set and the admin-url names none');
  checkSqlName('database', database);
  return {
    ...common,
    ...target,
    roles: parseRoles(get('roles')),
    database,
    userHost: readUserHost(get('user-host'))
  };
}

function readCommon(get: InputReader, provider: ProviderName): Common {
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
  return {
    ttlSeconds: parseDuration('ttl', get('ttl') || '1h', MAX_TTL_SECONDS),
    usernamePrefix,
    envPrefix,
    exportEnv: readBoolean('export-env', get('export-env'), true),
    revoke: readBoolean('revoke', get('revoke'), true),
    audience: get('audience') || (provider === 'aws' ? 'sts.amazonaws.com' : DEFAULT_AUDIENCE)
  };
}

function readAws(get: InputReader): Omit<AwsSettings, keyof Common> {
  for (const name of ['admin-url', 'roles', 'database']) {
    if (get(name)) {
      throw new InputError(`${name} is for database providers; provider aws uses role-to-assume`);
    }
  }
  const roleArn = get('role-to-assume').trim();
  if (!ROLE_ARN.test(roleArn)) {
    throw new InputError(
      `role-to-assume "${roleArn}" is not an IAM role ARN; use arn:aws:iam::123456789012:role/name`
    );
  }
  const region = get('aws-region').trim();
  if (!REGION.test(region)) {
    throw new InputError(`aws-region "${region}" is not a region; use e.g. us-east-1 or eu-west-2`);
  }
  const sessionName = get('role-session-name').trim();
  if (sessionName && !SESSION_NAME.test(sessionName)) {
    throw new InputError(
      `role-session-name "${sessionName}" must be 2 to 64 of letters, digits and _ + = , . @ -`
    );
  }
  const sessionPolicy = get('session-policy').trim();
  if (sessionPolicy) {
    let policy: unknown;
    try {
      policy = JSON.parse(sessionPolicy);
    } catch {
      throw new InputError('session-policy is not JSON; give an IAM policy document');
    }
    if (!policy || typeof policy !== 'object' || Array.isArray(policy)) {
      throw new InputError('session-policy is not a policy document (a JSON object)');
    }
  }
  const sessionPolicyArns = splitList(get('session-policy-arns'));
  for (const arn of sessionPolicyArns) {
    if (!POLICY_ARN.test(arn)) {
      throw new InputError(
        `session-policy-arns: "${arn}" is not an IAM policy ARN; use arn:aws:iam::aws:policy/ReadOnlyAccess`
      );
    }
  }
  if (sessionPolicyArns.length > 10) {
    throw new InputError(
      `session-policy-arns lists ${sessionPolicyArns.length}; STS takes at most 10`
    );
  }
  return {
    provider: 'aws',
    roleArn,
    region,
    ...(sessionName ? { sessionName } : {}),
    ...(get('sts-endpoint')
      ? { stsEndpoint: readEndpoint('sts-endpoint', get('sts-endpoint')) }
      : {}),
    ...(sessionPolicy ? { sessionPolicy } : {}),
    sessionPolicyArns,
    maskAccountId: readBoolean('mask-aws-account-id', get('mask-aws-account-id'), false)
  };
}

// The OIDC token travels to this endpoint, so only TLS, or plain HTTP on this machine.
function readEndpoint(name: string, text: string): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new InputError(`${name} "${text}" is not a URL; use e.g. https://creds.example.com`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.test(url.hostname))) {
    throw new InputError(`${name} "${text}" must use https (plain http only on localhost)`);
  }
  return url.href;
}

/** Reads the provider and admin URL; the provider may come from a saved state instead. */
export function readTarget(get: InputReader, provider = readProvider(get('provider'))): Target {
  if (provider === 'aws') {
    throw new InputError('provider aws has no database: STS sessions cannot be listed or swept');
  }
  if (!get('admin-url')) throw new InputError(`admin-url is required for provider "${provider}"`);
  return {
    provider,
    adminUrl: parseAdminUrl(provider, get('admin-url')),
    connectTimeoutMs: parseDuration('connect-timeout', get('connect-timeout') || '10s', 300) * 1000
  };
}

/** Checks the provider name. */
export function readProvider(text: string): ProviderName {
  const provider = text.trim().toLowerCase() as ProviderName;
  if (!text) throw new InputError(`provider is required; use one of ${PROVIDERS.join(', ')}`);
  if (!PROVIDERS.includes(provider)) {
    throw new InputError(`provider "${text}" is not known; use one of ${PROVIDERS.join(', ')}`);
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
    registerSecret(percentDecoded(url.password));
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
  const sslMode = url.searchParams.get('ssl-mode');
  if (provider === 'mysql' && sslMode && !MYSQL_SSL_MODES.includes(sslMode.toUpperCase())) {
    throw new InputError(
      `admin-url ssl-mode "${sslMode}" is not one of ${MYSQL_SSL_MODES.join(', ')}` +
        (/^preferred$/i.test(sslMode) ? ' (PREFERRED would fall back to plain text unnoticed)' : '')
    );
  }
  if (url.port && !(Number(url.port) > 0)) {
    throw new InputError(`admin-url "${redacted}" has a bad port; use ${example}`);
  }
  return { url, redacted };
}

// The driver takes a % that starts no escape literally, so must we.

function splitList(text: string): string[] {
  return text
    .split(/[,\n]/)
    .map((item) => item.trim())
    .filter(Boolean);
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
  const roles = splitList(text);
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
