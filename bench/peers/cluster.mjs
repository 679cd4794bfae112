// The benchmark's own PostgreSQL cluster: created in a git-ignored folder
// for the run, and removed after it (its WAL alone keeps about 1 GB). Its own cluster rather
// than a stack's database, so that the postgres CPU read from /proc is the
// three queues' work alone (no pg_cron, pg_net or PostgREST beside it) and
// so that its settings (the ones queue-cost.md names, plus a JSON log for the
// server-side claim timings) are the benchmark's to choose.

import { execFileSync } from "node:child_process";
import { Buffer } from "node:buffer";
import process from "node:process";
import {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import pg from "pg";

const SETTINGS = `
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 100
shared_buffers = 256MB
fsync = on
synchronous_commit = on
logging_collector = on
log_destination = 'jsonlog'
log_directory = 'log'
log_filename = 'postgresql.log'
log_rotation_age = 0
log_rotation_size = 0
log_min_duration_statement = -1
`;

/** PostgreSQL 15's server programs: Debian's folder, else pg_config's. */
function binDir() {
  const debian = "/usr/lib/postgresql/15/bin";
  if (existsSync(join(debian, "postgres"))) return debian;
  return execFileSync("pg_config", ["--bindir"], { encoding: "utf8" }).trim();
}

export class Cluster {
  constructor(dataDir, port) {
    this.dataDir = dataDir;
    this.port = port;
    this.bin = binDir();
  }

  /** initdb when the folder holds no cluster yet, then start it. */
  start() {
    if (!existsSync(join(this.dataDir, "PG_VERSION"))) {
      mkdirSync(this.dataDir, { recursive: true });
      this.#own(this.dataDir);
      this.#server("initdb", [
        "-D",
        this.dataDir,
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
      ]);
    }
    // Written at every start, so a changed harness changes the settings.
    const main = join(this.dataDir, "postgresql.conf");
    const conf = readFileSync(main, "utf8").split("\n# bench settings\n")[0];
    writeFileSync(main, `${conf}\n# bench settings\n${SETTINGS}`);
    // A run that was killed leaves its server behind: restart it with these settings.
    if (existsSync(join(this.dataDir, "postmaster.pid"))) this.stop();
    this.#server("pg_ctl", [
      "-D",
      this.dataDir,
      "-o",
      `-p ${this.port}`,
      "-w",
      "-l",
      join(this.dataDir, "startup.log"),
      "start",
    ]);
  }

  stop() {
    this.#server("pg_ctl", ["-D", this.dataDir, "-m", "fast", "-w", "stop"]);
  }

  /** Stops the server and deletes the cluster's folder. */
  remove() {
    this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Runs a server program; as root, as the system's postgres user, which PostgreSQL requires. */
  #server(program, args) {
    const command = join(this.bin, program);
    const [file, argv] = process.getuid() === 0
      ? ["runuser", ["-u", "postgres", "--", command, ...args]]
      : [command, args];
    execFileSync(file, argv, { stdio: ["ignore", "ignore", "inherit"] });
  }

  #own(dir) {
    if (process.getuid() !== 0) return;
    const id = (flag) =>
      Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }));
    chownSync(dir, id("-u"), id("-g"));
  }

  url(database = "postgres") {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** A pg client config for `database`; `extra` adds pg options. */
  config(database, extra = {}) {
    return { connectionString: this.url(database), ...extra };
  }

  async connect(database = "postgres", extra = {}) {
    const client = new pg.Client(this.config(database, extra));
    await client.connect();
    return client;
  }

  /** Drops `name` (ending its sessions) and creates it afresh. */
  async recreateDatabase(name) {
    const admin = await this.connect();
    try {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.query(`create database ${name}`);
    } finally {
      await admin.end();
    }
  }

  async dropDatabase(name) {
    const admin = await this.connect();
    try {
      await admin.query(`drop database if exists ${name} with (force)`);
    } finally {
      await admin.end();
    }
  }

  postmasterPid() {
    return Number(
      readFileSync(join(this.dataDir, "postmaster.pid"), "utf8").split("\n")[0],
    );
  }

  /**
   * CPU time of the whole cluster, in clock ticks: the postmaster with the
   * children it has reaped (cutime, cstime) plus its live children. A backend
   * that ends between two readings moves from the second term to the first,
   * so differences of two readings stay exact, provided no child is reaped
   * during the scan itself (it would then be missed, or counted twice): the
   * scan is repeated until the postmaster's reaped time is the same before
   * and after it.
   */
  cpuTicks() {
    const postmaster = this.postmasterPid();
    for (;;) {
      const before = procStat(postmaster);
      let children = 0;
      for (const entry of readdirSync("/proc")) {
        if (!/^\d+$/.test(entry) || Number(entry) === postmaster) continue;
        const fields = procStat(entry);
        if (fields?.ppid === postmaster) {
          children += fields.utime + fields.stime;
        }
      }
      const after = procStat(postmaster);
      const reaped = (stat) => stat.cutime + stat.cstime;
      if (reaped(before) === reaped(after)) {
        return after.utime + after.stime + reaped(after) + children;
      }
    }
  }

  /** The JSON log file and its current size, to read what follows later. */
  logMark() {
    const file = this.logFile();
    return { file, offset: file ? statSync(file).size : 0 };
  }

  logFile() {
    const dir = join(this.dataDir, "log");
    if (!existsSync(dir)) return null;
    const json = readdirSync(dir).filter((name) => name.endsWith(".json"))
      .sort();
    return json.length ? join(dir, json[json.length - 1]) : null;
  }

  /** The JSON log records written since `mark`. */
  logSince(mark) {
    const file = mark.file ?? this.logFile();
    if (!file) return [];
    const size = statSync(file).size;
    const length = size - (mark.file ? mark.offset : 0);
    const buffer = Buffer.alloc(length);
    const fd = openSync(file, "r");
    try {
      readSync(fd, buffer, 0, length, size - length);
    } finally {
      closeSync(fd);
    }
    return buffer.toString("utf8").split("\n").filter(Boolean).map((line) =>
      JSON.parse(line)
    );
  }
}

/** Fields of /proc/PID/stat (after the command name, which may hold spaces). */
function procStat(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null; // the process ended meanwhile
  }
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state) of proc(5).
  return {
    ppid: Number(fields[1]),
    utime: Number(fields[11]),
    stime: Number(fields[12]),
    cutime: Number(fields[13]),
    cstime: Number(fields[14]),
  };
}

/** Machine-wide CPU counters from /proc/stat (all cores, clock ticks). */
export function machineTicks() {
  const [, ...values] = readFileSync("/proc/stat", "utf8").split("\n")[0].trim()
    .split(/\s+/);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = values.map(
    Number,
  );
  const busy = user + nice + system + irq + softirq;
  return {
    busy,
    idle: idle + iowait,
    steal,
    total: busy + idle + iowait + steal,
  };
}

/** Clock ticks per second (sysconf(_SC_CLK_TCK)); 100 on Linux. */
export const TICKS_PER_SECOND = Number(
  execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim(),
);
