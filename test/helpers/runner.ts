import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What one step left behind, read back the way the runner reads it. */
export interface StepResult {
  code: number | null;
  stdout: string;
  stderr: string;
  env: Record<string, string>;
  outputs: Record<string, string>;
  state: Record<string, string>;
  summary: string;
  ms: number;
}

/** Parses a GITHUB_ENV / GITHUB_OUTPUT / GITHUB_STATE file (`name<<delimiter` blocks). */
export function parseCommandFile(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heredoc = /^([^<=]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delimiter] = heredoc;
      const body: string[] = [];
      while (++i < lines.length && lines[i] !== delimiter) body.push(lines[i]!);
      values[name!] = body.join('\n');
    } else if (line.includes('=')) {
      values[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return values;
}

/** One job's runner files, shared by its main and post steps. */
export function newJob(): { dir: string; files: Record<string, string> } {
  const dir = mkdtempSync(join(tmpdir(), 'ec-runner-'));
  const files = {
    GITHUB_ENV: join(dir, 'env'),
    GITHUB_OUTPUT: join(dir, 'output'),
    GITHUB_STATE: join(dir, 'state'),
    GITHUB_STEP_SUMMARY: join(dir, 'summary')
  };
  for (const file of Object.values(files)) writeFileSync(file, '');
  return { dir, files };
}

/** The GITHUB_* facts of a run, as the runner sets them. */
export const RUN_ENV = {
  GITHUB_ACTIONS: 'true',
  GITHUB_REPOSITORY: 'acme/app',
  GITHUB_REPOSITORY_ID: '123456789',
  GITHUB_RUN_ID: '777',
  GITHUB_RUN_ATTEMPT: '1',
  GITHUB_WORKFLOW: 'ci',
  GITHUB_REF: 'refs/heads/main',
  GITHUB_ACTOR: 'octocat',
  GITHUB_JOB: 'test'
};

/**
 * Runs a bundled entry as the GitHub runner does: inputs as INPUT_<NAME> (upper case, hyphens
 * kept), the runner's command files, STATE_<name> for the post step.
 */
export async function runStep(
  entry: 'main' | 'post',
  inputs: Record<string, string>,
  job: { files: Record<string, string> },
  extraEnv: Record<string, string> = {}
): Promise<StepResult> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    ...RUN_ENV,
    ...job.files,
    ...extraEnv
  };
  for (const [name, value] of Object.entries(inputs))
    env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value;
  if (entry === 'post') {
    for (const [name, value] of Object.entries(
      parseCommandFile(readFileSync(job.files.GITHUB_STATE!, 'utf8'))
    )) {
      env[`STATE_${name}`] = value;
    }
  }
  const started = Date.now();
  const child = spawn(process.execPath, [join('dist', entry, 'index.js')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe']
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const read = (name: string) => parseCommandFile(readFileSync(job.files[name]!, 'utf8'));
  return {
    code,
    stdout,
    stderr,
    env: read('GITHUB_ENV'),
    outputs: read('GITHUB_OUTPUT'),
    state: read('GITHUB_STATE'),
    summary: readFileSync(job.files.GITHUB_STEP_SUMMARY!, 'utf8'),
    ms: Date.now() - started
  };
}

/** Lines of output that contain a secret outside an ::add-mask:: command. */
export function leakedLines(output: string, secrets: string[]): string[] {
  return output
    .split('\n')
    .filter((line) => !line.startsWith('::add-mask::'))
    .filter((line) => secrets.some((secret) => secret && line.includes(secret)));
}
