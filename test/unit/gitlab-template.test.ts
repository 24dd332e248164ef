import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SCHEMA, load, loadAll, Type } from 'js-yaml';
import { renderVars } from '../../src/platform/cli.js';

// GitLab's rules for a component (a `spec:` header, `---`, then the body; inputs declared, typed
// and used), and the template's scripts run by the shells a runner uses.
const TEMPLATE_PATH = join('gitlab', 'templates', 'ephemeral-credentials.yml');
const TEMPLATE = readFileSync(TEMPLATE_PATH, 'utf8');
const INPUT_KEYS = ['type', 'default', 'description', 'options', 'regex'];
const TYPES = ['string', 'number', 'boolean', 'array'];
const INTERPOLATION = /\$\[\[\s*inputs\.([\w-]+)\s*(?:\|[^\]]*)?\]\]/g;
// `!reference` is GitLab's own tag; README examples use it.
const SCHEMA = DEFAULT_SCHEMA.extend([
  new Type('!reference', { kind: 'sequence', construct: (path) => ({ reference: path }) })
]);

interface Input {
  type?: string;
  default?: unknown;
  description?: string;
  options?: unknown[];
}
interface Job {
  id_tokens?: Record<string, { aud: string }>;
  variables?: Record<string, string>;
  before_script?: string[];
  after_script?: string[];
  script?: string[];
}

const [header, body] = loadAll(TEMPLATE) as [
  { spec: { inputs: Record<string, Input> } },
  Record<string, Job>
];
const inputs = header.spec.inputs;
const envName = (input: string) =>
  `EPHEMERAL_CREDENTIALS_${input.toUpperCase().replace(/-/g, '_')}`;

/** The template's body with the inputs interpolated into its values, as GitLab does it. */
function render(given: Record<string, string | boolean>): Record<string, Job> {
  const value = (name: string) => given[name] ?? inputs[name]!.default;
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node && typeof node === 'object')
      return Object.fromEntries(Object.entries(node).map(([key, item]) => [key, walk(item)]));
    if (typeof node !== 'string') return node;
    // A value that is one interpolation takes the input's own type; in text it becomes text.
    const whole = /^\$\[\[\s*inputs\.([\w-]+)\s*\]\]$/.exec(node);
    if (whole) return value(whole[1]!);
    return node.replace(INTERPOLATION, (_, name: string) => String(value(name)));
  };
  return walk(body) as Record<string, Job>;
}

describe('the component project', () => {
  test('has templates/ with one component and a README for the catalog', () => {
    expect(readdirSync(join('gitlab', 'templates'))).toEqual(['ephemeral-credentials.yml']);
    expect(readFileSync(join('gitlab', 'README.md'), 'utf8')).toMatch(/^# /);
  });

  test('the template is a spec header, then ---, then the body', () => {
    expect(TEMPLATE.startsWith('spec:\n')).toBe(true);
    expect(TEMPLATE.match(/^---$/gm)).toHaveLength(1);
    expect(loadAll(TEMPLATE)).toHaveLength(2);
    expect(Object.keys(header)).toEqual(['spec']);
    expect(Object.keys(header.spec)).toEqual(['inputs']);
    expect(TEMPLATE.slice(0, TEMPLATE.search(/^---$/m))).not.toMatch(/\$\[\[/);
  });

  test('every input is typed and described, and its default fits its type and options', () => {
    for (const [name, input] of Object.entries(inputs)) {
      expect([name, Object.keys(input).filter((key) => !INPUT_KEYS.includes(key))]).toEqual([
        name,
        []
      ]);
      expect(name).toMatch(/^[a-z][a-z0-9-]*$/);
      expect(TYPES).toContain(input.type);
      expect(input.description?.length).toBeGreaterThan(10);
      if ('default' in input) {
        const kind = Array.isArray(input.default) ? 'array' : typeof input.default;
        expect([name, kind]).toEqual([name, input.type]);
      }
      if (input.options && 'default' in input) expect(input.options).toContain(input.default);
    }
    // Only the provider has no sensible default; a missing one stops the pipeline at creation.
    expect(Object.keys(inputs).filter((name) => !('default' in inputs[name]!))).toEqual([
      'provider'
    ]);
    expect(inputs.provider!.options).toEqual(['postgres', 'mysql', 'aws']);
  });

  test('has the inputs the product contract names, and uses every one it declares', () => {
    const named = ['provider', 'admin-url', 'broker-url', 'profile', 'roles', 'ttl', 'audience'];
    expect(Object.keys(inputs)).toEqual(expect.arrayContaining([...named, 'cli']));
    const used = new Set([...TEMPLATE.matchAll(INTERPOLATION)].map((match) => match[1]));
    expect([...used].sort()).toEqual(Object.keys(inputs).sort());
    // Nothing that looks like an interpolation but is not one, which GitLab would reject.
    expect(TEMPLATE.replace(INTERPOLATION, '').includes('$[[')).toBe(false);
  });

  test('defines hidden jobs only, so including it adds no job to a pipeline', () => {
    expect(Object.keys(body)).toEqual(['.ephemeral-credentials', '.ephemeral-credentials-sweep']);
  });
});

describe('.ephemeral-credentials', () => {
  const job = body['.ephemeral-credentials']!;

  test('asks for an OIDC token with the audience input and names its variable to the CLI', () => {
    const [tokenVar, ...others] = Object.keys(job.id_tokens!);
    expect(others).toEqual([]);
    expect(job.id_tokens![tokenVar!]).toEqual({ aud: '$[[ inputs.audience ]]' });
    expect(job.variables!.EPHEMERAL_CREDENTIALS_ID_TOKEN_ENV).toBe(tokenVar);
  });

  test('passes inputs as EPHEMERAL_CREDENTIALS_* variables, never pasted into a script', () => {
    for (const name of Object.keys(inputs).filter((n) => !['cli', 'revoke'].includes(n))) {
      expect([name, job.variables![envName(name)]]).toEqual([name, `$[[ inputs.${name} ]]`]);
    }
    // Only the command itself and a boolean reach the shell's text.
    const scripts = [...job.before_script!, ...job.after_script!].join('\n');
    const inScripts = new Set([...scripts.matchAll(INTERPOLATION)].map((match) => match[1]));
    expect([...inScripts].sort()).toEqual(['cli', 'revoke']);
    expect(inputs.revoke!.type).toBe('boolean');
    expect(scripts).not.toContain('--admin-url');
    expect(String(inputs['admin-url']!.default)).toMatch(/^\$[A-Z_]+$/);
  });

  test('has one multi-line command per script, which GitLab logs as a single line', () => {
    expect(job.before_script).toHaveLength(1);
    expect(job.after_script).toHaveLength(1);
    expect(body['.ephemeral-credentials-sweep']!.script).toEqual(['$[[ inputs.cli ]] sweep']);
  });
});

describe.each(['sh', 'bash'])('the scripts, run by %s', (shell) => {
  const PASSWORD = `p$HOME&x?y:z\`id\`$(id)!*;|<>"#\\ end`;
  let dir = '';
  let project = '';
  let log = '';

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ec-gitlab-template-'));
    project = join(dir, 'builds', 'acme', 'app');
    mkdirSync(project, { recursive: true });
    log = join(dir, 'cli.log');
    writeFileSync(join(dir, 'vars.env'), renderVars({ PGUSER: 'ci_user', PGPASSWORD: PASSWORD }));
    // Stands in for the CLI: records how it was called, and writes what `issue` writes.
    writeFileSync(
      join(dir, 'fake-cli.sh'),
      `{ printf 'args:'; printf ' %s' "$@"; printf '\\n'
  printf 'admin-url:%s\\n' "\${EPHEMERAL_CREDENTIALS_ADMIN_URL-unset}"; } >> "$FAKE_LOG"
command=$1; shift
while [ $# -gt 0 ]; do
  case "$1" in --vars-file) vars=$2 ;; --state-file) state=$2 ;; esac; shift
done
if [ "$command" = issue ] && [ "\${FAKE_EXIT:-0}" = 0 ]; then
  cp "$FAKE_VARS" "$vars"; printf '{"username":"ci_user"}\\n' > "$state"
fi
exit "\${FAKE_EXIT:-0}"
`
    );
  });
  afterEach(() => rmSync(`${project}.tmp`, { recursive: true, force: true }));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs one job script as a runner does: job variables expanded, in a shell with errexit. */
  function runScript(
    script: 'before_script' | 'after_script',
    given: Record<string, string | boolean> = {},
    { env = {}, trailer = '', xtrace = false, errexit = true } = {}
  ) {
    const job = render({ provider: 'postgres', cli: `sh '${join(dir, 'fake-cli.sh')}'`, ...given })[
      '.ephemeral-credentials'
    ]!;
    const runner: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      CI_PROJECT_DIR: project,
      CI_JOB_ID: '4242',
      DATABASE_ADMIN_URL: 'postgres://admin:adminpw@db:5432/app',
      EPHEMERAL_CREDENTIALS_ID_TOKEN: 'the.oidc.token',
      FAKE_LOG: log,
      FAKE_VARS: join(dir, 'vars.env'),
      ...env
    };
    const variables = Object.fromEntries(
      Object.entries(job.variables!).map(([name, value]) => [
        name,
        value.replace(/\$(\w+)/g, (_, ref: string) => runner[ref] ?? '')
      ])
    );
    writeFileSync(log, '');
    const text = `set -${errexit ? 'e' : ''}${xtrace ? 'x' : ''}\n${job[script]!.join('\n')}\n${trailer}`;
    const result = spawnSync(shell, ['-c', text], {
      env: { ...variables, ...runner },
      encoding: 'utf8',
      // bash reads ~/.bashrc when its stdin is a socket, as Node's pipes are.
      stdio: ['ignore', 'pipe', 'pipe']
    });
    return { ...result, calls: readFileSync(log, 'utf8') };
  }

  const jobDir = () => join(`${project}.tmp`, 'ephemeral-credentials-4242');

  test('before_script loads the variables, keeps the files private and drops what it used', () => {
    const probe = `printf 'user=%s pw=%s\\n' "$PGUSER" "$PGPASSWORD"
printf 'token=%s admin=%s\\n' "\${EPHEMERAL_CREDENTIALS_ID_TOKEN-unset}" "\${EPHEMERAL_CREDENTIALS_ADMIN_URL-unset}"
sh -c 'printf "child=%s\\n" "$PGPASSWORD"'
stat -c 'mode=%a' "${jobDir()}"
ls -A "${jobDir()}"`;
    const run = runScript('before_script', {}, { trailer: probe });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(
      `user=ci_user pw=${PASSWORD}\ntoken=unset admin=unset\nchild=${PASSWORD}\n` +
        'mode=700\nstate.json\n'
    );
    expect(run.calls).toBe(
      `args: issue --vars-file ${jobDir()}/vars.env --state-file ${jobDir()}/state.json\n` +
        'admin-url:postgres://admin:adminpw@db:5432/app\n'
    );
  });

  test('a traced shell (set -x) does not print the loaded values, and stays traced', () => {
    const run = runScript('before_script', {}, { xtrace: true, trailer: 'echo "flags=$-"' });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^flags=.*x/);
    expect(run.stderr).not.toContain('ci_user');
    expect(run.stderr).not.toContain(PASSWORD);
  });

  // Runners start the shell with errexit; the script does not count on it.
  test.each([true, false])('a failed issue stops before_script (errexit %p)', (errexit) => {
    const run = runScript(
      'before_script',
      {},
      { env: { FAKE_EXIT: '3' }, trailer: 'echo ran', errexit }
    );
    expect(run.status).toBe(3);
    expect(run.stdout).toBe('');
    expect(readdirSync(jobDir())).toEqual([]);
  });

  test.each([
    [{ provider: 'aws' }, {}, 'unset'],
    [{ 'broker-url': 'https://creds.example.com' }, {}, 'unset'],
    [{ provider: 'aws', 'admin-url': '$OTHER_URL' }, { OTHER_URL: 'mysql://x' }, 'mysql://x'],
    [{ 'admin-url': '$OTHER_URL' }, { OTHER_URL: 'mysql://x' }, 'mysql://x']
  ])('inputs %p with variables %p hand the CLI admin-url %p', (given, env, passed) => {
    const run = runScript('before_script', given, { env });
    expect(run.status).toBe(0);
    expect(run.calls).toContain(`admin-url:${passed}\n`);
  });

  test('after_script revokes with the state file and removes the directory', () => {
    mkdirSync(jobDir(), { recursive: true });
    writeFileSync(join(jobDir(), 'state.json'), '{}');
    const run = runScript('after_script');
    expect(run.status).toBe(0);
    expect(run.calls).toBe(
      `args: revoke --state-file ${jobDir()}/state.json\n` +
        'admin-url:postgres://admin:adminpw@db:5432/app\n'
    );
    expect(existsSync(jobDir())).toBe(false);
  });

  test('after_script warns when revoking fails, and never fails itself', () => {
    mkdirSync(jobDir(), { recursive: true });
    writeFileSync(join(jobDir(), 'state.json'), '{}');
    const run = runScript('after_script', { ttl: '20m' }, { env: { FAKE_EXIT: '1' } });
    expect(run.status).toBe(0);
    expect(run.stderr).toContain('could not revoke; the credential still ends at its ttl (20m)');
    expect(existsSync(jobDir())).toBe(false);
  });

  test('after_script without a credential, or with revoke: false, calls nothing', () => {
    const none = runScript('after_script');
    expect(none.stdout).toContain('no credential was issued in this job; nothing to revoke');
    mkdirSync(jobDir(), { recursive: true });
    writeFileSync(join(jobDir(), 'state.json'), '{}');
    const kept = runScript('after_script', { revoke: false });
    expect(kept.stdout).toContain('revoke is false; the credential lives until its ttl (1h) ends');
    for (const run of [none, kept]) {
      expect(run.status).toBe(0);
      expect(run.calls).toBe('');
    }
  });
});

describe('gitlab/README.md', () => {
  const readme = readFileSync(join('gitlab', 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map(
    (match) => load(match[1]!, { schema: SCHEMA }) as Record<string, unknown>
  );
  const includes = blocks.flatMap(
    (block) => (block.include ?? []) as Array<Record<string, unknown>>
  );

  test('shows include: component: from the catalog and include: project: with file:', () => {
    expect(includes.map((include) => include.component)).toContain(
      '$CI_SERVER_FQDN/<group>/ephemeral-credentials/ephemeral-credentials@1'
    );
    const project = includes.find((include) => include.project)!;
    expect(existsSync(join('gitlab', String(project.file)))).toBe(true);
  });

  test('uses only inputs and hidden jobs that the template has', () => {
    for (const include of includes) {
      for (const name of Object.keys(include.inputs ?? {}))
        expect(Object.keys(inputs)).toContain(name);
    }
    for (const block of blocks) {
      for (const job of Object.values(block)) {
        const extended = (job as { extends?: string }).extends;
        if (extended) expect(Object.keys(body)).toContain(extended);
      }
    }
  });

  test('has a PostgreSQL direct example and a broker one', () => {
    const given = includes.map((include) => (include.inputs ?? {}) as Record<string, string>);
    expect(given.some((i) => i.provider === 'postgres' && !i['broker-url'])).toBe(true);
    expect(given.some((i) => i.provider === 'postgres' && i['broker-url'] && i.profile)).toBe(true);
  });
});
