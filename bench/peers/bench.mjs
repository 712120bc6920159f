// The peers of bench/jobs.sh, measured as crates/sluice-jobs/benches/throughput.rs measures
// Sluice: enqueue JOBS no-op jobs in batches of 1,000; on PostgreSQL, ANALYZE (as autovacuum
// would before long, and as bench/jobs.sh does for Sluice); work them down; then, with the
// workers idle, enqueue one job every 5 ms and measure enqueue -> start. Prints one line of
// figures. Each peer runs with the settings its documentation gives for throughput, written
// where it is set up below with the reason.
//
//   node bench.mjs graphile postgres://postgres@127.0.0.1:5432/test
//   node bench.mjs pgboss postgres://postgres@127.0.0.1:5432/test
//   node bench.mjs bullmq redis://127.0.0.1:6379
import { performance } from "node:perf_hooks";

const [mode, url] = process.argv.slice(2);
const jobs = Number(process.env.SLUICE_BENCH_JOBS ?? 100000);
const concurrency = Number(process.env.SLUICE_BENCH_CONCURRENCY ?? 100);
const samples = Number(process.env.SLUICE_BENCH_SAMPLES ?? 500);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const waits = [];
let done = 0;
const noop = (payload) => {
  if (payload && payload.sent_us) waits.push((nowUs() - payload.sent_us) / 1000);
  done += 1;
};
const until = async (n) => {
  while (done < n) await sleep(2);
};
const pct = (sorted, p) => sorted[Math.round((sorted.length - 1) * p)];

// The measurement every peer goes through: the bulk inserts, ANALYZE where `analyze` is given,
// the work, then the pickup samples. `peer` says how to insert a batch of 1,000, start the
// workers, send one job and stop.
async function measure(peer) {
  const started = performance.now();
  for (let b = 0; b < jobs / 1000; b++) await peer.insert(b);
  const inserts = jobs / ((performance.now() - started) / 1000);
  if (peer.analyze) await peer.analyze();
  const t0 = performance.now();
  await peer.start();
  await until(jobs);
  const worked = jobs / ((performance.now() - t0) / 1000);
  await sleep(300);
  for (let i = 0; i < samples; i++) {
    await peer.send({ sent_us: nowUs() });
    await sleep(5);
  }
  await until(jobs + samples);
  await peer.stop();
  return { inserts, worked, label: peer.label };
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
  await client.query("DELETE FROM graphile_worker_bench._private_jobs");
  const batch = JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ identifier: "noop", payload: { i } })));
  let runner;
  return measure({
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
  await boss.deleteQueue(queue).catch(() => {});
  await boss.createQueue(queue, { notify: true, deleteAfterSeconds: 1, retryLimit: 2 });
  // PGBOSS_BATCH (default 500): on this machine 25 per fetch works 16,000 jobs/s, 250 32,000,
  // 500 33,000, 1,000 36,000 with a p99 pickup twice as long.
  const batchSize = Number(process.env.PGBOSS_BATCH ?? 500);
  return measure({
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
    stop: () => boss.stop({ graceful: true, wait: true }),
    label: `batch=${batchSize}x4`,
  });
}

async function bullmq() {
  const { Queue, Worker } = await import("bullmq");
  const u = new URL(url);
  const connection = { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null };
  const queue = new Queue("sluice-bench", { connection });
  await queue.obliterate({ force: true });
  const opts = { removeOnComplete: true, removeOnFail: 1000 };
  let worker;
  return measure({
    insert: () => queue.addBulk(Array.from({ length: 1000 }, (_, i) => ({ name: "noop", data: { i }, opts }))),
    start: async () => {
      worker = new Worker("sluice-bench", async (job) => noop(job.data), { connection, concurrency });
    },
    send: (payload) => queue.add("noop", payload, opts),
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
  `variant=${mode} jobs=${jobs} ${result.label} inserts_per_s=${Math.round(result.inserts)} ` +
    `items_per_s=${Math.round(result.worked)} p50_ms=${pct(waits, 0.5).toFixed(2)} p99_ms=${pct(waits, 0.99).toFixed(2)}`,
);
process.exit(0);
