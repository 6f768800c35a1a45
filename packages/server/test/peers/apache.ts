import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/app.js';

/** Debian's Apache and mod_auth_openidc (`apt-get install -y apache2 libapache2-mod-auth-openidc`). */
export const APACHE = process.env.APACHE_BIN ?? '/usr/sbin/apache2';
export const MODULES = process.env.APACHE_MODULES ?? '/usr/lib/apache2/modules';

export interface Apache {
  url: string;
  port: number;
  dir: string;
  errorLog(): string;
  stop(): Promise<void>;
}

/**
 * Runs Apache in the foreground on a loopback port with its own server root,
 * config and logs in a temporary directory, and `directives` (the relying
 * party's configuration) in its main server. A static page answers under
 * /protected and /public.
 */
export async function startApache(directives: (port: number) => string, fixedPort?: number): Promise<Apache> {
  for (const need of [APACHE, join(MODULES, 'mod_auth_openidc.so')]) {
    if (!existsSync(need)) throw new Error(`${need} is missing: apt-get install -y apache2 libapache2-mod-auth-openidc`);
  }
  const port = fixedPort ?? await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tessera-apache-'));
  // Started as root, Apache serves as nobody: the pages must be readable by anyone.
  chmodSync(dir, 0o755);
  const docs = join(dir, 'htdocs');
  for (const sub of ['protected', 'public']) {
    mkdirSync(join(docs, sub), { recursive: true });
    writeFileSync(join(docs, sub, 'index.html'), `<!doctype html><title>${sub}</title><p>${sub} page</p>\n`);
  }
  const modules = ['mpm_event', 'authz_core', 'authz_user', 'authn_core', 'auth_openidc', 'mime', 'dir', 'headers', 'env', 'setenvif']
    .map((m) => `LoadModule ${m}_module ${MODULES}/mod_${m}.so`).join('\n');
  writeFileSync(join(dir, 'httpd.conf'), `${modules}
ServerRoot "${dir}"
ServerName localhost
Listen 127.0.0.1:${port}
PidFile "${dir}/httpd.pid"
ErrorLog "${dir}/error.log"
LogLevel warn auth_openidc:info
DocumentRoot "${docs}"
DirectoryIndex index.html
TypesConfig /etc/mime.types
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
${process.getuid?.() === 0 ? 'User nobody\nGroup nogroup' : ''}
<Directory "${docs}">
  Require all granted
</Directory>
${directives(port)}
`);
  const child: ChildProcess = spawn(APACHE, ['-f', join(dir, 'httpd.conf'), '-DFOREGROUND'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, APACHE_RUN_DIR: dir, APACHE_LOCK_DIR: dir, APACHE_LOG_DIR: dir },
  });
  let output = '';
  child.stdout?.on('data', (c) => (output += String(c)));
  child.stderr?.on('data', (c) => (output += String(c)));
  const url = `http://localhost:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`apache2 exited (${child.exitCode}): ${output}\n${readLog(dir)}`);
    try {
      await fetch(`${url}/public/`);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`apache2 did not start: ${output}\n${readLog(dir)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url, port, dir,
    errorLog: () => readLog(dir),
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readLog(dir: string): string {
  try {
    return readFileSync(join(dir, 'error.log'), 'utf8');
  } catch {
    return '';
  }
}
