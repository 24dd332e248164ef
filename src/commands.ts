import { parseArgs } from 'node:util';
import { issue } from './issue.js';
import { cliPlatform } from './platform/cli.js';
import { revoke, sweep } from './revoke.js';
import { readBoolean, readSettings, readTarget } from './settings.js';
import { errorMessage, InputError } from './util/errors.js';

type FlagSpec = Record<string, { type: 'string' | 'boolean' }>;

const text = (...names: string[]): FlagSpec =>
  Object.fromEntries(names.map((name) => [name, { type: 'string' as const }]));

const COMMANDS: Record<string, { flags: FlagSpec; help: string }> = {
  issue: {
    flags: text(
      'provider',
      'admin-url',
      'broker-url',
      'profile',
      'roles',
      'database',
      'ttl',
      'username-prefix',
      'env-prefix',
      'audience',
      'id-token-env',
      'vars-file',
      'state-file',
      'format',
      'connect-timeout',
      'user-host',
      'role-to-assume',
      'aws-region',
      'role-session-name',
      'sts-endpoint',
      'session-policy',
      'session-policy-arns',
      'mask-aws-account-id'
    ),
    help: `ephemeral-credentials issue --provider P --admin-url URL [options]
ephemeral-credentials issue --provider aws --role-to-assume ARN --aws-region R --id-token-env VAR

Creates a database user (or an AWS session) for this job and prints its variables (or writes
them to --vars-file).
  --provider P          postgres, mysql (also MariaDB) or aws
  --broker-url URL      broker mode: ask this broker instead of using an admin URL
  --profile NAME        broker mode: the broker profile to ask for
  --admin-url URL       admin connection URL (better from EPHEMERAL_CREDENTIALS_ADMIN_URL)
  --roles R             roles to grant, comma separated
  --database NAME       database in the exported URL (default: the admin URL's)
  --ttl D               lifetime, e.g. 15m, 1h30m (default 1h, at most 12h)
  --username-prefix P   start of the user name (default ci)
  --env-prefix P        prefix for every variable name
  --id-token-env VAR    variable that holds the job's OIDC token (GitLab id_tokens:)
  --vars-file PATH      write NAME='value' lines here (mode 0600) instead of stdout
  --state-file PATH     write what revoke needs here (mode 0600; never a password)
  --format env|json     output form on stdout (default env)
  --connect-timeout D   give up connecting after D (default 10s)
  --user-host H         mysql: host pattern of the new account (default %)
  --role-to-assume ARN  aws: the role to assume with the job's OIDC token (--id-token-env)
  --aws-region R        aws: region, also exported as AWS_REGION and AWS_DEFAULT_REGION
  --role-session-name N aws: session name (default <prefix>-<run>-<attempt>-<random>)
  --sts-endpoint URL    aws: an STS-compatible endpoint
  --session-policy JSON aws: inline policy that scopes the session down
  --session-policy-arns aws: managed policy ARNs that scope the session down
  --mask-aws-account-id aws: true to treat the account id as a secret`
  },
  revoke: {
    flags: text('state-file', 'admin-url', 'connect-timeout', 'id-token-env', 'audience'),
    help: `ephemeral-credentials revoke --state-file PATH [--admin-url URL]

Ends the sessions of the user in the state file and drops it. Revoking twice is not an error.
The admin URL is not in the state file: pass it again or set EPHEMERAL_CREDENTIALS_ADMIN_URL.
For an AWS session it only reports when the session expires: STS cannot revoke one session.
For a broker's lease it asks the broker, with the job's token from --id-token-env.`
  },
  sweep: {
    flags: { ...text('provider', 'admin-url', 'connect-timeout'), 'dry-run': { type: 'boolean' } },
    help: `ephemeral-credentials sweep --provider P --admin-url URL [--dry-run]

Revokes every expired user that ephemeral-credentials created (proven by its marker, never by
name). --dry-run only lists them.`
  },
  serve: {
    flags: text('config'),
    help: `ephemeral-credentials serve --config FILE

Runs the broker: an HTTP service that verifies a job's OIDC token, checks it against a
profile's bound claims and creates the user with admin credentials that only it holds.
SIGTERM or SIGINT stop it after the requests in flight.`
  },
  demo: {
    flags: {},
    help: `ephemeral-credentials demo

Runs the whole life of a credential on this machine: an embedded PostgreSQL, a local OIDC
issuer, issue, connect as the new user, revoke, and show that the login now fails.`
  }
};

const USAGE = `usage: ephemeral-credentials <command> [options]

commands:
  issue    create a short-lived user for this job
  revoke   drop the user in a state file
  sweep    drop expired users this tool created
  serve    run the broker
  demo     show the whole life of a credential on this machine

Every --flag can also be set as EPHEMERAL_CREDENTIALS_<FLAG>. Run a command with --help for more.`;

/** Runs one CLI command and returns its exit code: 0 ok, 1 failure, 2 bad usage or bad input. */
export async function runCli(
  argv: string[],
  out: (text: string) => void = (t) => process.stdout.write(t)
): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    out(`${USAGE}\n`);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`unknown command "${name}"\n\n${USAGE}\n`);
    return 2;
  }
  let flags: Record<string, string | boolean | undefined>;
  try {
    flags = parseArgs({
      args: rest,
      options: { ...command.flags, help: { type: 'boolean', short: 'h' } },
      strict: true
    }).values as typeof flags;
  } catch (err) {
    process.stderr.write(`${errorMessage(err)}\n\n${command.help}\n`);
    return 2;
  }
  if (flags.help) {
    out(`${command.help}\n`);
    return 0;
  }
  try {
    await COMMAND_RUNNERS[name]!(flags, out);
    return 0;
  } catch (err) {
    process.stderr.write(`error: ${errorMessage(err)}\n`);
    return err instanceof InputError ? 2 : 1;
  }
}

type Runner = (
  flags: Record<string, string | boolean | undefined>,
  out: (text: string) => void
) => Promise<void>;

const COMMAND_RUNNERS: Record<string, Runner> = {
  async issue(flags, out) {
    const platform = cliPlatform(flags, process.env, undefined, out);
    const format = platform.input('format') || 'env';
    if (format !== 'env' && format !== 'json')
      throw new InputError(`format "${format}" is not known; use env or json`);
    // The platform writes the variables inside issue, so a failed write revokes the new user.
    await issue(readSettings(platform.input), platform);
  },
  async revoke(flags) {
    const platform = cliPlatform(flags);
    if (!platform.input('state-file')) throw new InputError('revoke needs --state-file');
    const state = await platform.loadState();
    if (!state) throw new InputError(`state file ${platform.input('state-file')} is empty`);
    if (state.provider === 'aws') {
      // There are no later steps to clear variables for: all there is to say is when it ends.
      platform.info(
        `AWS session ${state.username} cannot be revoked on its own; it expires at ${state.expiresAt}`
      );
      return;
    }
    await revoke(state, platform).catch((err: unknown) => {
      const failure = new Error(
        `${errorMessage(err)}; ${state.username} still expires at ${state.expiresAt}`
      );
      throw err instanceof InputError ? new InputError(failure.message) : failure;
    });
  },
  async sweep(flags, out) {
    const platform = cliPlatform(flags);
    const dryRun = readBoolean('dry-run', platform.input('dry-run'), false);
    await sweep(readTarget(platform.input), dryRun, (line) => out(`${line}\n`));
  },
  async serve(flags) {
    const platform = cliPlatform(flags);
    if (!platform.input('config')) throw new InputError('serve needs --config FILE');
    const { loadBrokerConfig } = await import('./broker/config.js');
    const { startBroker } = await import('./broker/server.js');
    const broker = await startBroker(loadBrokerConfig(platform.input('config')));
    process.stderr.write(`ephemeral-credentials broker listening on ${broker.url}\n`);
    // Finish the requests in flight, then stop: what a rolling update or Ctrl-C expects.
    await new Promise<void>((resolve) => {
      const stop = () => void broker.close().then(resolve);
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  },
  async demo(_flags, out) {
    const { runDemo } = await import('./demo/demo.js');
    await runDemo((line) => out(`${line}\n`));
  }
};
