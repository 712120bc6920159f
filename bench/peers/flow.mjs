// The BullMQ side of bench/jobs.sh's workflow: one step fanning out to WIDTH steps and back into
// one, as crates/sluice-jobs/benches/throughput.rs runs it on Sluice with SLUICE_BENCH_WORKFLOW.
// A BullMQ flow is a tree (a job has one parent), so the fan-out is the first step's own work:
// its handler adds the flow of the last step (the parent) over the WIDTH middle steps (its
// children), as BullMQ's documentation builds fan-out. One worker of CONCURRENCY slots; jobs
// are kept when done, as Sluice's defaults keep them. Timed from the first step's enqueue to
// the last step's end; prints one line.
//
//   SLUICE_BENCH_WORKFLOW=10000 node flow.mjs redis://127.0.0.1:6379
import { performance } from "node:perf_hooks";
import { FlowProducer, Queue, Worker } from "bullmq";

const url = new URL(process.argv[2] ?? "redis://127.0.0.1:6379");
const width = Number(process.env.SLUICE_BENCH_WORKFLOW ?? 10000);
const concurrency = Number(process.env.SLUICE_BENCH_CONCURRENCY ?? 100);
const connection = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
const name = "sluice-flow";

const queue = new Queue(name, { connection });
await queue.obliterate({ force: true });
const flows = new FlowProducer({ connection });
let enqueued = 0;
let finish;
const finished = new Promise((resolve) => {
  finish = resolve;
});
const worker = new Worker(
  name,
  async (job) => {
    if (job.name === "first") {
      const children = Array.from({ length: width }, (_, i) => ({ name: "middle", queueName: name, data: { i } }));
      const added = performance.now();
      await flows.add({ name: "last", queueName: name, data: {}, children });
      enqueued = performance.now() - added;
    } else if (job.name === "last") {
      finish(job.id);
    }
    return null;
  },
  { connection, concurrency },
);
const started = performance.now();
await queue.add("first", {});
await finished;
const total = (performance.now() - started) / 1000;
await worker.close();
await flows.close();
await queue.obliterate({ force: true });
await queue.close();
const steps = width + 2;
console.log(
  `variant=workflow_bullmq steps=${steps} concurrency=${concurrency} enqueue_s=${(enqueued / 1000).toFixed(3)} ` +
    `total_s=${total.toFixed(3)} steps_per_s=${Math.round(steps / total)}`,
);
process.exit(0);
