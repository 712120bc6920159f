// The peers of bench/jobs.sh, measured as crates/sluice-jobs/benches/throughput.rs measures
// Sluice: enqueue JOBS no-op jobs in batches of 1,000; on PostgreSQL, ANALYZE (as autovacuum
// would before long, and as bench/jobs.sh does for Sluice); work them down with PROCESSES
// processes; then, with one process's workers idle, enqueue one job every 5 ms and measure
// enqueue -> start. Prints one line of figures. Each peer runs with the settings its
// documentation gives for throughput, written where it is set up below with the reason.
//
//   node bench.mjs graphile postgres://postgres@127.0.0.1:5432/test
//   node bench.mjs pgboss postgres://postgres@127.0.0.1:5432/test
//   SLUICE_BENCH_PROCESSES=2 node bench.mjs bullmq redis://127.0.0.1:6379
//
// With PROCESSES=2 the second process is this script forked with SLUICE_BENCH_ROLE=helper: it
// sets up its peer without clearing anything, starts its workers on a "start" message, reports
// how many jobs it has done every 2 ms and stops on "stop".
import { fork } from "node:child_process";
import { performance } from "node:perf_hooks";

const [mode, url] = process.argv.slice(2);
const jobs = Number(process.env.SLUICE_BENCH_JOBS ?? 100000);
const concurrency = Number(process.env.SLUICE_BENCH_CONCURRENCY ?? 100);
const samples = Number(process.env.SLUICE_BENCH_SAMPLES ?? 500);
const processes = Math.max(1, Number(process.env.SLUICE_BENCH_PROCESSES ?? 1));
const helper = process.env.SLUICE_BENCH_ROLE === "helper";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const waits = [];
let done = 0;
let helped = 0;
const noop = (payload) => {
  if (payload && payload.sent_us) waits.push((nowUs() - payload.sent_us) / 1000);
  done += 1;
};
const until = async (n) => {
  while (done + helped < n) await sleep(2);
};
const pct = (sorted, p) => sorted[Math.round((sorted.length - 1) * p)];

// Starts a helper process (a fork of this script) and resolves once it is ready.
async function spawnHelper() {
  const child = fork(process.argv[1], process.argv.slice(2), {
    env: { ...process.env, SLUICE_BENCH_ROLE: "helper" },
  });
  child.count = 0;
  const ready = new Promise((resolve) => {
    child.on("message", (m) => {
      if (m.ready) resolve();
      if (m.done !== undefined) child.count = m.done;
    });
  });
  await ready;
  return child;
}

// The measurement every peer goes through: the bulk inserts, ANALYZE where `analyze` is given,
// the work, then the pickup samples. `peer` says how to insert a batch of 1,000, start the
// workers, send one job, stop its workers (`halt`) and stop.
async function measure(peer) {
  const started = performance.now();
  for (let b = 0; b < jobs / 1000; b++) await peer.insert(b);
  const inserts = jobs / ((performance.now() - started) / 1000);
  if (peer.analyze) await peer.analyze();
  const helpers = [];
  for (let p = 1; p < processes; p++) helpers.push(await spawnHelper());
  const count = setInterval(() => {
    helped = helpers.reduce((sum, h) => sum + h.count, 0);
  }, 2);
  const t0 = performance.now();
  for (const h of helpers) h.send({ start: true });
  await peer.start();
  await until(jobs);
  const worked = jobs / ((performance.now() - t0) / 1000);
  for (const h of helpers) {
    const exited = new Promise((resolve) => h.on("exit", resolve));
    h.send({ stop: true });
    await exited;
  }
  clearInterval(count);
  helped = helpers.reduce((sum, h) => sum + h.count, 0);
  await sleep(300);
  for (let i = 0; i < samples; i++) {
    await peer.send({ sent_us: nowUs() });
    await sleep(5);
  }
  await until(jobs + samples);
  await peer.stop();
  return { inserts, worked, label: peer.label };
}

// Measures `peer`, or in a helper process lends it its workers.
const runAs = (peer) => (helper ? help(peer) : measure(peer));

// The helper's side: the same peer's workers, started and stopped by the measuring process;
// it never returns (the process exits once its workers have stopped).
async function help(peer) {
  const report = setInterval(() => process.send({ done }), 2);
  process.on("message", async (m) => {
    if (m.start) await peer.start();
    if (m.stop) {
      await peer.halt();
      clearInterval(report);
      process.send({ done }, () => process.exit(0));
    }
  });
  process.send({ ready: true });
  return new Promise(() => {});
}

async function graphile() {
  const { run, runMigrations } = await import("graphile-worker");
  const pg = (await import("pg")).default;
  // Its performance guide's batching: a local queue the pool fetches (and locks) jobs into, and
  // completions batched together; with those, the workers no longer need a connection each.
  // GRAPHILE_CONCURRENCY (default 24) and a local queue of 500: the best of the settings tried
  // on this machine (docs/jobs.md).
  const options = {
    connectionString: url, concurrency: graphileConcurrency, maxPoolSize: 10, noHandleSignals: true,
    pollInterval: 1000, schema: "graphile_worker_bench", logger: quiet(),
    preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
  };
  await runMigrations(options);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  if (!helper) await client.query("DELETE FROM graphile_worker_bench._private_jobs");
  const batch = JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ identifier: "noop", payload: { i } })));
  let runner;
  return runAs({
    // The bulk API: graphile_worker.add_jobs(job_spec[]).
    insert: () => client.query(
      "SELECT graphile_worker_bench.add_jobs(array(SELECT json_populate_recordset(null::graphile_worker_bench.job_spec, $1::json)))",
      [batch],
    ),
    analyze: () => client.query("ANALYZE"),
    start: async () => {
      runner = await run({ ...options, taskList: { noop: async (payload) => noop(payload) } });
    },
    send: (payload) => client.query("SELECT graphile_worker_bench.add_job('noop', $1::json)", [JSON.stringify(payload)]),
    halt: () => runner.stop(),
    stop: async () => {
      await runner.stop();
      await client.end();
    },
    label: `concurrency=${graphileConcurrency}`,
  });
}

async function pgboss() {
  const { PgBoss } = await import("pg-boss");
  // Its docs' settings for throughput: workers fetch batches (batchSize) and keep fetching while
  // batches come back full (burstWhenBatchFull); several pollers per process
  // (localConcurrency); LISTEN/NOTIFY wakes an idle worker when a job is sent (notify); jobs
  // are deleted as soon as they complete (deleteAfterSeconds: 1, its least), as the tuned
  // Sluice runs delete theirs.
  const boss = new PgBoss({ connectionString: url, schema: "pgboss_bench", max: 10, useListenNotify: true });
  boss.on("error", console.error);
  await boss.start();
  const queue = "noop";
  if (!helper) {
    await boss.deleteQueue(queue).catch(() => {});
    await boss.createQueue(queue, { notify: true, deleteAfterSeconds: 1, retryLimit: 2 });
  }
  // PGBOSS_BATCH (default 500): on this machine 25 per fetch works 16,000 jobs/s, 250 32,000,
  // 500 33,000, 1,000 36,000 with a p99 pickup twice as long.
  const batchSize = Number(process.env.PGBOSS_BATCH ?? 500);
  return runAs({
    insert: () => boss.insert(queue, Array.from({ length: 1000 }, (_, i) => ({ data: { i } }))),
    analyze: () => boss.getDb().executeSql("ANALYZE"),
    start: () => boss.work(
      queue,
      { batchSize, localConcurrency: 4, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 },
      async (batch) => {
        for (const job of batch) noop(job.data);
      },
    ),
    send: (payload) => boss.send(queue, payload),
    halt: () => boss.stop({ graceful: true, wait: true }),
    stop: () => boss.stop({ graceful: true, wait: true }),
    label: `batch=${batchSize}x4`,
  });
}

async function bullmq() {
  const { Queue, Worker } = await import("bullmq");
  const u = new URL(url);
  const connection = { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null };
  const queue = new Queue("sluice-bench", { connection });
  if (!helper) await queue.obliterate({ force: true });
  const opts = { removeOnComplete: true, removeOnFail: 1000 };
  let worker;
  return runAs({
    insert: () => queue.addBulk(Array.from({ length: 1000 }, (_, i) => ({ name: "noop", data: { i }, opts }))),
    start: async () => {
      worker = new Worker("sluice-bench", async (job) => noop(job.data), { connection, concurrency });
    },
    send: (payload) => queue.add("noop", payload, opts),
    halt: () => worker.close(),
    stop: async () => {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
    },
    label: `concurrency=${concurrency}`,
  });
}

function quiet() {
  const scope = () => logger;
  const logger = { scope, info() {}, debug() {}, warn() {}, error: console.error };
  return { scope: () => ({ ...logger, scope }) , info() {}, debug() {}, warn() {}, error: console.error };
}

const graphileConcurrency = Number(process.env.GRAPHILE_CONCURRENCY ?? 24);
const result = await { graphile, pgboss, bullmq }[mode]();
waits.sort((a, b) => a - b);
console.log(
  `variant=${mode} processes=${processes} jobs=${jobs} ${result.label} inserts_per_s=${Math.round(result.inserts)} ` +
    `items_per_s=${Math.round(result.worked)} p50_ms=${pct(waits, 0.5).toFixed(2)} p99_ms=${pct(waits, 0.99).toFixed(2)}`,
);
process.exit(0);
