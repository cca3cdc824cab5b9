/**
 * A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` in a temporary directory, `pg_ctl`
 * listening only on a Unix socket in that directory (mode 0700: no other local user reaches its trust
 * authentication), removed again by `stop()`. Nothing depends on a server left running.
 *
 * PostgreSQL refuses to run as root: as root (CI), the cluster's directory is handed to `nobody` and the
 * binaries run as that user through `runuser`.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Cluster {
  /** postgresql://covey@/covey?host=<the socket's directory>&port=<port> */
  url: string;
  dir: string;
  /** Runs SQL through psql as the cluster's user; its output, unaligned. */
  sql(statement: string): string;
  /** Stops the server (immediately) and removes its directory. */
  stop(): void;
}

/** Where Debian (or PATH) keeps initdb and pg_ctl; null when PostgreSQL is not installed. */
export function postgresBinDir(): string | null {
  const fromEnv = process.env.COVEY_PG_BIN;
  if (fromEnv) return existsSync(join(fromEnv, 'initdb')) ? fromEnv : null;
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian).filter((v) => existsSync(join(debian, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return join(debian, versions[0]!, 'bin');
  }
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  return null;
}

/**
 * Starts a fresh cluster; throws (naming the package) when PostgreSQL is not installed. `durable: false`
 * (tests) turns off fsync: a commit still survives any client process's death, which is all the tests
 * kill, but not the machine's; a benchmark keeps it on, to compare with SQLite's synchronous=FULL.
 */
export async function startCluster(opts: { durable?: boolean } = {}): Promise<Cluster> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed (Debian: apt-get install postgresql; or set COVEY_PG_BIN to the folder of initdb and pg_ctl)');
  const dir = mkdtempSync(join(tmpdir(), 'covey-pg-'));
  const asRoot = process.getuid?.() === 0;
  const nobody = 65534;
  if (asRoot) {
    chownSync(dir, nobody, nobody);
    chmodSync(dir, 0o700);
  }
  const run = (file: string, args: string[]) =>
    asRoot ? execFileSync('runuser', ['-u', 'nobody', '--', join(bin, file), ...args], { stdio: 'pipe', cwd: dir }) : execFileSync(join(bin, file), args, { stdio: 'pipe', cwd: dir });
  const data = join(dir, 'data');
  const port = await freePort();
  try {
    run('initdb', ['-D', data, '-U', 'covey', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync']);
    const durability = opts.durable === false ? ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off' : '';
    const options = `-k ${dir} -p ${port} -c listen_addresses= -c max_connections=100 -c shared_buffers=64MB${durability}`;
    run('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
    run('createdb', ['-h', dir, '-p', String(port), '-U', 'covey', 'covey']);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`could not start a PostgreSQL cluster in ${dir}: ${stderr || (e as Error).message}`, { cause: e });
  }
  return {
    url: `postgresql://covey@/covey?host=${encodeURIComponent(dir)}&port=${port}`,
    dir,
    sql: (statement) => run('psql', ['-h', dir, '-p', String(port), '-U', 'covey', '-d', 'covey', '-At', '-v', 'ON_ERROR_STOP=1', '-c', statement]).toString(),
    stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // Already gone: the directory still goes.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}
