/**
 * PgBouncer for the tests: one per test process, in transaction pooling
 * mode and configured as people commonly do
 * (`ignore_startup_parameters = extra_float_digits`), in front of the
 * Postgres at `DATABASE_URL`. It is started on first use (as the `postgres`
 * user when the tests run as root: PgBouncer refuses to run as root) and
 * stopped when the process exits.
 */

/** The Postgres behind it (as `DATABASE_URL` in helpers.ts). */
const DATABASE_URL = Deno.env.get("DATABASE_URL") ??
  "postgresql://postgres@127.0.0.1:5432/test";

/** Why the PgBouncer tests cannot run here, or `null` when they can. */
export function pgbouncerUnavailable(): string | null {
  if (which("pgbouncer") !== null) return null;
  if (Deno.env.get("CI") === "true") {
    throw new Error(
      "pgbouncer is not installed, and CI must run the PgBouncer tests: apt-get install pgbouncer",
    );
  }
  return "pgbouncer is not installed (apt-get install pgbouncer)";
}

function which(command: string): string | null {
  for (const dir of ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/sbin"]) {
    try {
      Deno.statSync(`${dir}/${command}`);
      return `${dir}/${command}`;
    } catch {
      // not there
    }
  }
  return null;
}

let started: Promise<string> | null = null;

/**
 * The URL of this process's PgBouncer (started on first call), for the
 * database and user of `DATABASE_URL`.
 */
export function pgbouncerUrl(): Promise<string> {
  return started ??= start();
}

/**
 * Starts another PgBouncer (stopped when the process exits) whose
 * `ignore_startup_parameters` are `ignored`, and returns its URL.
 */
export function startPgbouncer(ignored: readonly string[]): Promise<string> {
  return start(ignored);
}

async function start(
  ignored: readonly string[] = ["extra_float_digits"],
): Promise<string> {
  const binary = which("pgbouncer");
  if (binary === null) throw new Error(pgbouncerUnavailable() ?? "");
  const upstream = new URL(DATABASE_URL);
  const user = decodeURIComponent(upstream.username || "postgres");
  const port = await freePort();
  const dir = await Deno.makeTempDir({ prefix: "openworkflow-pgbouncer-" });
  await Deno.chmod(dir, 0o777);
  await Deno.writeTextFile(`${dir}/userlist.txt`, `"${user}" ""\n`);
  await Deno.writeTextFile(
    `${dir}/pgbouncer.ini`,
    `[databases]
* = host=${upstream.hostname} port=${upstream.port || 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${dir}/userlist.txt
pool_mode = transaction
ignore_startup_parameters = ${ignored.join(", ")}
max_client_conn = 1000
default_pool_size = 40
logfile = ${dir}/pgbouncer.log
pidfile = ${dir}/pgbouncer.pid
`,
  );
  const asPostgres = Deno.uid() === 0;
  // It daemonizes (-d): the daemon must not hold our pipes open.
  const io = { stdin: "null", stdout: "null", stderr: "null" } as const;
  const command = asPostgres
    ? new Deno.Command("runuser", {
      args: ["-u", "postgres", "--", binary, "-d", `${dir}/pgbouncer.ini`],
      ...io,
    })
    : new Deno.Command(binary, { args: ["-d", `${dir}/pgbouncer.ini`], ...io });
  if (asPostgres) {
    for (const file of ["userlist.txt", "pgbouncer.ini"]) {
      await Deno.chmod(`${dir}/${file}`, 0o644);
    }
  }
  const { code } = await command.output();
  if (code !== 0) {
    const log = await Deno.readTextFile(`${dir}/pgbouncer.log`).catch(() => "");
    throw new Error(`pgbouncer did not start (exit ${code}): ${log}`);
  }
  globalThis.addEventListener("unload", () => {
    try {
      const pid = Number(Deno.readTextFileSync(`${dir}/pgbouncer.pid`));
      if (pid > 0) Deno.kill(pid, "SIGTERM");
    } catch {
      // already gone
    }
  });
  // Wait until it accepts connections.
  for (let i = 0; i < 100; i++) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const url = new URL(DATABASE_URL);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  return url.href;
}

/** A TCP port nobody listens on now. */
async function freePort(): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  await Promise.resolve();
  return port;
}
