import { describe, expect, test } from '@jest/globals';
import { readSettings, type DbSettings, type InputReader } from '../../src/settings.js';
import { errorMessage, InputError } from '../../src/util/errors.js';

const ADMIN_URL = 'postgres://admin:s3cr3t-Admin-pw@db.internal:5432/app?sslmode=require';

function reader(inputs: Record<string, string>): InputReader {
  return (name) => inputs[name] ?? '';
}

function read(inputs: Record<string, string> = {}): DbSettings {
  return readSettings(
    reader({ provider: 'postgres', 'admin-url': ADMIN_URL, ...inputs })
  ) as DbSettings;
}

/** The InputError that reading these inputs throws. */
function failure(inputs: Record<string, string>, base = true): InputError {
  try {
    readSettings(
      reader(base ? { provider: 'postgres', 'admin-url': ADMIN_URL, ...inputs } : inputs)
    );
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error(`inputs were accepted: ${JSON.stringify(inputs)}`);
}

describe('readSettings defaults', () => {
  test('needs only a provider and an admin URL', () => {
    const s = read();
    expect(s).toMatchObject({
      provider: 'postgres',
      roles: [],
      database: 'app',
      ttlSeconds: 3600,
      usernamePrefix: 'ci',
      envPrefix: '',
      exportEnv: true,
      revoke: true
    });
    expect(s.audience).not.toBe('');
    expect(s.connectTimeoutMs).toBeGreaterThan(0);
  });

  test('keeps the admin password for connecting but never in the printable form', () => {
    const s = read();
    expect(decodeURIComponent(s.adminUrl.url.password)).toBe('s3cr3t-Admin-pw');
    expect(s.adminUrl.redacted).not.toContain('s3cr3t-Admin-pw');
    expect(s.adminUrl.redacted).toContain('db.internal:5432');
    expect(s.adminUrl.redacted).toContain('admin');
  });

  test('registers the admin password as a secret as soon as it is read', () => {
    read();
    expect(errorMessage(new Error('FATAL: password s3cr3t-Admin-pw rejected'))).toBe(
      'FATAL: password *** rejected'
    );
  });

  test('accepts the postgresql:// scheme and a provider in any case', () => {
    const s = read({ provider: 'PostgreS', 'admin-url': 'postgresql://admin:pw-1234@db/app' });
    expect(s.provider).toBe('postgres');
    expect(s.adminUrl.url.hostname).toBe('db');
  });

  test('passes the given audience through', () => {
    expect(read({ audience: 'https://creds.example.com' }).audience).toBe(
      'https://creds.example.com'
    );
  });
});

describe('ttl', () => {
  test.each([
    ['15m', 900],
    ['1h30m', 5400],
    ['12h', 43200]
  ])('reads %j', (ttl, seconds) => {
    expect(read({ ttl }).ttlSeconds).toBe(seconds);
  });

  test.each(['0', '13h', 'abc', '90x'])('rejects %j, naming it', (ttl) => {
    expect(failure({ ttl }).message).toContain(`ttl "${ttl}"`);
  });
});

describe('roles', () => {
  test('splits on commas and newlines, trims, drops empties and duplicates', () => {
    expect(
      read({ roles: 'app_readonly, app_writer\napp_readonly\r\n\n ,reporting' }).roles
    ).toEqual(['app_readonly', 'app_writer', 'reporting']);
  });

  test('accepts names with $ . - that PostgreSQL allows', () => {
    expect(read({ roles: 'pg_read_all_data,team-a.readers,role$1' }).roles).toEqual([
      'pg_read_all_data',
      'team-a.readers',
      'role$1'
    ]);
  });

  test.each([
    `app"; DROP ROLE admin; --`,
    "o'brien",
    'app readonly',
    '"app_readonly"',
    '1role',
    'r'.repeat(64)
  ])('rejects %j, naming it', (role) => {
    const err = failure({ roles: `app_readonly,${role}` });
    expect(err.message).toContain(`role "${role}" is not a plain name`);
  });
});

describe('admin-url', () => {
  test.each([
    ['without a scheme', 'admin:hunter2-pw@db.internal/app'],
    ['with one slash', 'postgres:/admin:hunter2-pw@db.internal/app'],
    ['without slashes', 'postgres:admin:hunter2-pw@db.internal/app'],
    ['with a bad port', 'postgres://admin:hunter2-pw@db.internal:99999/app'],
    ['with port 0', 'postgres://admin:hunter2-pw@db.internal:0/app'],
    ['with two ports', 'postgres://admin:hunter2-pw@db.internal:5432:5432/app'],
    ['without a host', 'postgres://admin:hunter2-pw@/app'],
    ['with a space in the host', 'postgres://admin:hunter2-pw@db internal/app'],
    ['of another scheme', 'mysql://admin:hunter2-pw@db.internal/app'],
    ['of https', 'https://admin:hunter2-pw@db.internal/app'],
    ['with the password in the query', 'postgres://db.internal/app?user=admin&password=hunter2-pw'],
    ['that is not a URL at all', 'host=db.internal user=admin password=hunter2-pw']
  ])('rejects a URL %s without echoing its password', (_label, url) => {
    const err = failure({ 'admin-url': url });
    expect(err.message).toMatch(/^admin-url /);
    expect(err.message).not.toContain('hunter2');
    expect(err.message).toContain('postgres://user:password@host:5432/database');
  });

  test('says which scheme it wanted', () => {
    expect(failure({ 'admin-url': 'mysql://admin:pw-1234@db/app' }).message).toContain(
      'is not a postgres URL'
    );
  });

  test.each([
    ['no host', 'postgres:///app'],
    ['no user', 'postgres://db.internal:5432/app'],
    ['no user but a password in the query', 'postgres://db.internal/app?password=hunter2-pw']
  ])('asks for a user and a host when there is %s', (_label, url) => {
    const err = failure({ 'admin-url': url });
    expect(err.message).toContain('needs a user and a host');
    expect(err.message).not.toContain('hunter2');
  });

  test('is required', () => {
    expect(failure({ provider: 'postgres' }, false).message).toBe(
      'admin-url is required for provider "postgres"'
    );
  });

  test('registers a password with a stray % (which the driver takes literally) without failing', () => {
    const s = read({ 'admin-url': 'postgres://admin:50%off-pw@db.internal/app' });
    expect(s.adminUrl.redacted).not.toContain('50%off');
    expect(errorMessage(new Error('password 50%off-pw rejected'))).toBe('password *** rejected');
  });

  test('registers the password in the form it was written in the URL', () => {
    const s = read({ 'admin-url': 'postgres://admin:a&b%40c-pw@db.internal/app' });
    expect(s.adminUrl.redacted).not.toContain('a&b');
    expect(
      errorMessage(new Error('bad url postgres://admin:a&b%40c-pw@db.internal/app'))
    ).not.toContain('a&b');
    expect(errorMessage(new Error('password a&b@c-pw rejected'))).toBe('password *** rejected');
  });
});

describe('admin-url and broker-url', () => {
  test('exclude each other', () => {
    expect(failure({ 'broker-url': 'https://creds.example.com' }).message).toBe(
      'admin-url and broker-url exclude each other; set one'
    );
  });

  test('broker mode takes a broker URL and a profile; the audience defaults to the broker', () => {
    const settings = readSettings(
      reader({
        provider: 'postgres',
        'broker-url': 'https://creds.example.com/',
        profile: 'app-readonly'
      })
    );
    expect(settings).toMatchObject({
      provider: 'postgres',
      brokerUrl: 'https://creds.example.com',
      profile: 'app-readonly',
      audience: 'https://creds.example.com'
    });
  });

  test.each([
    [{ profile: 'app ro' }, 'profile "app ro" is not a broker profile name'],
    [
      { 'broker-url': 'http://creds.example.com' },
      'broker-url "http://creds.example.com" must use https (plain http only on localhost)'
    ],
    [{ provider: 'aws' }, 'broker-url is for database providers; provider aws talks to STS']
  ])('broker mode refuses %p', (inputs, message) => {
    const err = failure(
      { provider: 'postgres', 'broker-url': 'https://creds.example.com', profile: 'p', ...inputs },
      false
    );
    expect(err.message).toContain(message);
  });
});

describe('provider', () => {
  test('is required, and the error lists the choices', () => {
    expect(failure({ 'admin-url': ADMIN_URL }, false).message).toBe(
      'provider is required; use one of postgres, mysql, aws'
    );
  });

  test('mysql takes mysql:// and mariadb:// admin URLs, and a user-host pattern', () => {
    for (const scheme of ['mysql', 'mariadb']) {
      const settings = readSettings(
        reader({ provider: 'mysql', 'admin-url': `${scheme}://admin:pw-1234@db:3306/app` })
      );
      expect(settings).toMatchObject({ provider: 'mysql', database: 'app', userHost: '%' });
    }
    const narrowed = readSettings(
      reader({ provider: 'mysql', 'admin-url': 'mysql://a:b@db/app', 'user-host': '10.0.%' })
    ) as DbSettings;
    expect(narrowed.userHost).toBe('10.0.%');
  });

  test('an unknown provider is named, with the choices', () => {
    expect(failure({ provider: 'oracle' }).message).toBe(
      'provider "oracle" is not known; use one of postgres, mysql, aws'
    );
  });
});

describe('username-prefix', () => {
  test.each(['app', 'ci_2', 'a', 'abcdefghijklmn'])('accepts %j', (prefix) => {
    expect(read({ 'username-prefix': prefix }).usernamePrefix).toBe(prefix);
  });

  test.each(['Ci', '1ci', '_ci', 'ci-x', 'ci x', 'ci"', 'ünï', 'abcdefghijklmno'])(
    'rejects %j, saying the form',
    (prefix) => {
      const err = failure({ 'username-prefix': prefix });
      expect(err.message).toContain(`username-prefix "${prefix}" must match [a-z][a-z0-9_]*`);
    }
  );
});

describe('env-prefix', () => {
  test.each(['TWO_', 'db2_', '_X'])('accepts %j', (prefix) => {
    expect(read({ 'env-prefix': prefix }).envPrefix).toBe(prefix);
  });

  test.each(['TWO-', '1X', 'A B', 'X=', "X'"])('rejects %j, saying the form', (prefix) => {
    expect(failure({ 'env-prefix': prefix }).message).toContain(
      `env-prefix "${prefix}" must match`
    );
  });
});

describe('database', () => {
  test("defaults to the admin URL's database, decoded", () => {
    expect(read({ 'admin-url': 'postgres://admin:pw-1234@db/my%2Ddb' }).database).toBe('my-db');
  });

  test('can be set explicitly', () => {
    expect(read({ database: 'reporting' }).database).toBe('reporting');
  });

  test('is required when the URL names none', () => {
    expect(failure({ 'admin-url': 'postgres://admin:pw-1234@db' }).message).toBe(
      'database is not set and the admin-url names none'
    );
  });

  test.each(['app; DROP DATABASE x', 'my db', 'a"b'])('rejects %j', (database) => {
    expect(failure({ database }).message).toContain(`database "${database}" is not a plain name`);
  });

  test('rejects a database path with a stray % as a bad name, not a crash', () => {
    expect(failure({ 'admin-url': 'postgres://admin:pw-1234@db/50%off' }).message).toContain(
      'database "50%off" is not a plain name'
    );
  });

  test('rejects a bad name taken from the URL', () => {
    expect(failure({ 'admin-url': 'postgres://admin:pw-1234@db/app/extra' }).message).toContain(
      'database "app/extra"'
    );
  });
});

describe('booleans', () => {
  test.each([
    ['false', false],
    ['FALSE', false],
    [' False ', false],
    ['true', true],
    ['True', true]
  ])('read %j', (text, value) => {
    const s = read({ 'export-env': text, revoke: text });
    expect(s.exportEnv).toBe(value);
    expect(s.revoke).toBe(value);
  });

  test.each(['yes', '0', 'off'])('reject %j, naming the input', (text) => {
    expect(failure({ revoke: text }).message).toBe(
      `revoke "${text}" is not a boolean; use true or false`
    );
    expect(failure({ 'export-env': text }).message).toBe(
      `export-env "${text}" is not a boolean; use true or false`
    );
  });
});

describe('provider aws', () => {
  const ROLE = 'arn:aws:iam::123456789012:role/deploy';
  const aws = (inputs: Record<string, string> = {}) =>
    readSettings(
      reader({ provider: 'aws', 'role-to-assume': ROLE, 'aws-region': 'eu-west-2', ...inputs })
    );
  const awsFailure = (inputs: Record<string, string>) =>
    failure(
      { provider: 'aws', 'role-to-assume': ROLE, 'aws-region': 'eu-west-2', ...inputs },
      false
    );

  test('needs a role and a region; the audience defaults to sts.amazonaws.com', () => {
    expect(aws()).toMatchObject({
      provider: 'aws',
      roleArn: ROLE,
      region: 'eu-west-2',
      audience: 'sts.amazonaws.com',
      ttlSeconds: 3600,
      sessionPolicyArns: [],
      maskAccountId: false
    });
    expect(
      aws({
        'aws-region': 'us-gov-west-1',
        'role-to-assume': 'arn:aws-us-gov:iam::123456789012:role/a/b'
      })
    ).toMatchObject({ region: 'us-gov-west-1' });
  });

  test('takes session scoping, a session name and a loopback or https endpoint', () => {
    expect(
      aws({
        'session-policy': '{"Version":"2012-10-17","Statement":[]}',
        'session-policy-arns':
          'arn:aws:iam::aws:policy/ReadOnlyAccess,\narn:aws:iam::123456789012:policy/x',
        'role-session-name': 'deploy@main',
        'sts-endpoint': 'http://127.0.0.1:9000',
        'mask-aws-account-id': 'true'
      })
    ).toMatchObject({
      sessionPolicyArns: [
        'arn:aws:iam::aws:policy/ReadOnlyAccess',
        'arn:aws:iam::123456789012:policy/x'
      ],
      sessionName: 'deploy@main',
      stsEndpoint: 'http://127.0.0.1:9000/',
      maskAccountId: true
    });
  });

  test.each([
    [
      { 'role-to-assume': 'deploy' },
      'role-to-assume "deploy" is not an IAM role ARN; use arn:aws:iam::123456789012:role/name'
    ],
    [
      { 'role-to-assume': 'arn:aws:iam::12345:role/x' },
      'role-to-assume "arn:aws:iam::12345:role/x" is not an IAM role ARN; use arn:aws:iam::123456789012:role/name'
    ],
    [
      { 'aws-region': 'mars' },
      'aws-region "mars" is not a region; use e.g. us-east-1 or eu-west-2'
    ],
    [
      { 'aws-region': 'us_east_1' },
      'aws-region "us_east_1" is not a region; use e.g. us-east-1 or eu-west-2'
    ],
    [{ ttl: '13h' }, 'ttl "13h" is longer than the maximum 12h'],
    [
      { 'admin-url': 'postgres://a:b@db/x' },
      'admin-url is for database providers; provider aws uses role-to-assume'
    ],
    [{ roles: 'app_read' }, 'roles is for database providers; provider aws uses role-to-assume'],
    [
      { 'sts-endpoint': 'http://sts.example.com' },
      'sts-endpoint "http://sts.example.com" must use https (plain http only on localhost)'
    ],
    [{ 'session-policy': '{nope' }, 'session-policy is not JSON; give an IAM policy document'],
    [
      { 'session-policy-arns': 'ReadOnlyAccess' },
      'session-policy-arns: "ReadOnlyAccess" is not an IAM policy ARN; use arn:aws:iam::aws:policy/ReadOnlyAccess'
    ],
    [
      { 'role-session-name': 'a b' },
      'role-session-name "a b" must be 2 to 64 of letters, digits and _ + = , . @ -'
    ]
  ])('%p is refused: %s', (inputs, message) => {
    expect(awsFailure(inputs).message).toBe(message);
  });
});
