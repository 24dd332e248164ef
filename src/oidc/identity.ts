import { hostname } from 'node:os';

/** Who a credential is for: the facts of the CI run, from the OIDC token or the environment. */
export interface RunIdentity {
  platform: 'github' | 'gitlab' | 'local';
  source: 'oidc' | 'env';
  repository?: string;
  repository_id?: string;
  run_id?: string;
  run_attempt?: string;
  workflow?: string;
  ref?: string;
  actor?: string;
  job?: string;
  /** GitLab: the pipeline the job belongs to. */
  pipeline?: string;
  sub?: string;
}

type Claims = Record<string, unknown>;
type Env = Record<string, string | undefined>;

/** The key a user name's hash is made from: stable for one run, free of readable claim text. */
export function runKey(identity: RunIdentity): string {
  return [
    identity.platform,
    identity.repository_id ?? identity.repository,
    identity.run_id,
    identity.run_attempt
  ]
    .map((part) => part ?? '')
    .join(':');
}

/** A GitHub run's identity: token claims when there is a token, else the runner's GITHUB_* variables. */
export function githubIdentity(env: Env, claims?: Claims): RunIdentity {
  if (claims) {
    return compact({
      platform: 'github',
      source: 'oidc',
      repository: str(claims.repository),
      repository_id: str(claims.repository_id),
      run_id: str(claims.run_id),
      run_attempt: str(claims.run_attempt),
      workflow: str(claims.workflow),
      ref: str(claims.ref),
      actor: str(claims.actor),
      job: env.GITHUB_JOB,
      sub: str(claims.sub)
    });
  }
  return compact({
    platform: 'github',
    source: 'env',
    repository: env.GITHUB_REPOSITORY,
    repository_id: env.GITHUB_REPOSITORY_ID,
    run_id: env.GITHUB_RUN_ID,
    run_attempt: env.GITHUB_RUN_ATTEMPT,
    workflow: env.GITHUB_WORKFLOW,
    ref: env.GITHUB_REF,
    actor: env.GITHUB_ACTOR,
    job: env.GITHUB_JOB
  });
}

/** The identity the CLI sees: GitHub's, a GitLab job's (project and job ids play repository and run), or this machine's. */
export function cliIdentity(env: Env, claims?: Claims): RunIdentity {
  if (env.GITHUB_ACTIONS === 'true' || claims?.run_id !== undefined)
    return githubIdentity(env, claims);
  if (env.GITLAB_CI === 'true' || claims?.project_id) {
    const get = (claim: string, name: string) => str(claims?.[claim]) ?? env[name];
    return compact({
      platform: 'gitlab',
      source: claims ? 'oidc' : 'env',
      repository: get('project_path', 'CI_PROJECT_PATH'),
      repository_id: get('project_id', 'CI_PROJECT_ID'),
      run_id: get('job_id', 'CI_JOB_ID'),
      // GitLab has no attempts: a retried job is a new job with its own id.
      pipeline: get('pipeline_id', 'CI_PIPELINE_ID'),
      ref: get('ref', 'CI_COMMIT_REF_NAME'),
      actor: get('user_login', 'GITLAB_USER_LOGIN'),
      job: env.CI_JOB_NAME,
      sub: str(claims?.sub)
    });
  }
  return compact({
    platform: 'local',
    source: claims ? 'oidc' : 'env',
    repository: str(claims?.repository),
    run_id: `${hostname()}:${process.pid}`,
    actor: str(claims?.sub) ?? env.USER,
    sub: str(claims?.sub)
  });
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

function compact(identity: RunIdentity): RunIdentity {
  return Object.fromEntries(
    Object.entries(identity).filter(([, v]) => v !== undefined && v !== '')
  ) as unknown as RunIdentity;
}
