/**
 * Start-up failures an operator can fix, each told in one actionable line
 * (issue 19): the port, the database, the configuration file. The original
 * error stays attached as `cause` for the debug log; no stack trace reaches
 * the terminal for these.
 */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

interface ErrnoLike {
  code?: string;
  errno?: number;
  address?: string;
  port?: number;
  hostname?: string;
  message?: string;
}

const FILE_ERRORS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  EROFS: 'read-only file system',
};

/** `ENOENT` → "no such file or directory" (the code stays for searching). */
export function fileErrorText(err: unknown): string {
  const code = (err as ErrnoLike)?.code;
  if (code && FILE_ERRORS[code]) return `${FILE_ERRORS[code]} (${code})`;
  return code ?? String((err as Error)?.message ?? err);
}

/** The URL with its password replaced: what may be printed. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
  }
}

/** A listen failure on host:port as one line, or undefined for errors that are not about the port. */
export function portProblem(err: unknown, host: string, port: number): StartupError | undefined {
  const code = (err as ErrnoLike)?.code;
  const where = `${host}:${port}`;
  if (code === 'EADDRINUSE') {
    return new StartupError(`port ${port} is already in use on ${host} (another Tessera, or another program, listens there): stop it, or set PORT to a free port`, { cause: err });
  }
  if (code === 'EACCES') {
    return new StartupError(`not allowed to listen on ${where}: ports below 1024 need privileges; use a higher PORT (e.g. 3000) behind a reverse proxy`, { cause: err });
  }
  if (code === 'EADDRNOTAVAIL') {
    return new StartupError(`cannot listen on ${where}: this machine has no address ${host}; set HOST to one of its addresses, or 0.0.0.0`, { cause: err });
  }
  return undefined;
}

/**
 * A failure to open or reach the store as one line with the fix, or
 * undefined when the error is not about reaching the store.
 */
export function storeProblem(err: unknown, databaseUrl: string): StartupError | undefined {
  const e = err as ErrnoLike;
  if (databaseUrl.startsWith('sqlite:')) {
    const path = databaseUrl.slice('sqlite:'.length);
    if (e?.code === 'SQLITE_CANTOPEN' || (e?.code && FILE_ERRORS[e.code])) {
      return new StartupError(`cannot open the SQLite database ${path} (DATABASE_URL): ${e.code === 'SQLITE_CANTOPEN' ? 'unable to open the file' : fileErrorText(err)}; check that its directory exists and is writable, and that the path is not a directory`, { cause: err });
    }
    if (e?.code === 'SQLITE_NOTADB' || e?.code === 'SQLITE_CORRUPT') {
      return new StartupError(`${path} (DATABASE_URL) is not a usable SQLite database (${e.code}): point DATABASE_URL at Tessera's database file, or restore it from a backup`, { cause: err });
    }
    return undefined;
  }
  let u: URL;
  try {
    u = new URL(databaseUrl);
  } catch {
    return undefined;
  }
  const host = u.hostname || 'localhost';
  const port = u.port || '5432';
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || decodeURIComponent(u.username) || 'postgres';
  const user = decodeURIComponent(u.username) || process.env.USER || 'postgres';
  const where = `${host}:${port}`;
  switch (e?.code) {
    case 'ECONNREFUSED':
      return new StartupError(`cannot reach PostgreSQL at ${where} (connection refused): start PostgreSQL, or correct the host and port in DATABASE_URL`, { cause: err });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new StartupError(`cannot resolve the PostgreSQL host "${host}" in DATABASE_URL (${e.code}): correct the host name`, { cause: err });
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new StartupError(`cannot reach PostgreSQL at ${where} (${e.code}): check the network, a firewall, and the host and port in DATABASE_URL`, { cause: err });
    case '3D000':
      return new StartupError(`the PostgreSQL database "${database}" does not exist on ${where}: create it with \`createdb -h ${host} -p ${port} -U ${user} ${database}\`, or correct DATABASE_URL`, { cause: err });
    case '28P01':
    case '28000':
      return new StartupError(`PostgreSQL at ${where} refused user "${user}" (${e.message}): check the user and password in DATABASE_URL and the server's pg_hba.conf`, { cause: err });
    case '42501':
      return new StartupError(`user "${user}" may not create tables in database "${database}" on ${where} (${e.message}): grant it CREATE on the database or schema`, { cause: err });
    default:
      // pg's TLS and protocol errors carry no code; say where, keep the message.
      if (e instanceof Error && /SSL|certificate|self[- ]signed/i.test(e.message)) {
        return new StartupError(`cannot connect to PostgreSQL at ${where}: ${e.message}; check sslmode in DATABASE_URL`, { cause: err });
      }
      return undefined;
  }
}
