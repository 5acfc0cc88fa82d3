import { expect } from 'chai';
import { KubeConfig } from '@kubernetes/client-node';
import { InformerCache } from '../../src/runtime/cache.js';
import { KubeClient } from '../../src/runtime/client.js';
import { FakeClock, flushPromises } from '../../src/runtime/clock.js';
import { ControllerRunner } from '../../src/runtime/controller.js';
import { ApiError } from '../../src/runtime/errors.js';
import type { EventRecorder } from '../../src/runtime/events.js';
import { Kinds } from '../../src/runtime/kinds.js';
import { PassThrough } from 'node:stream';
import { createLogger, silentLogger, type Logger } from '../../src/runtime/logging.js';
import { Metrics } from '../../src/runtime/metrics.js';
import type { ObjectKey, ReconcileContext, ReconcileResult } from '../../src/runtime/reconciler.js';

// The runner's scheduling is pure; the client is real but never called by these reconcilers.
function unusedClient(): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser({ name: 'c', server: 'http://127.0.0.1:9', skipTLSVerify: true }, { name: 'u' });
  return new KubeClient(kc);
}

const noEvents: EventRecorder = {
  normal: async () => undefined,
  warning: async () => undefined,
  event: async () => undefined,
};

type Step = (key: ObjectKey, ctx: ReconcileContext) => Promise<ReconcileResult | void>;

function runner(step: Step, clock: FakeClock, concurrency = 1, logger: Logger = silentLogger()) {
  const metrics = new Metrics({ processMetrics: false });
  const calls: { key: string; at: number }[] = [];
  const r = new ControllerRunner(
    {
      name: 'test',
      for: Kinds.Backup,
      concurrency,
      reconcile: async (key, ctx) => {
        calls.push({ key: `${key.namespace}/${key.name}`, at: clock.nowMs() });
        return step(key, ctx);
      },
    },
    {
      client: unusedClient(),
      cache: new InformerCache(),
      events: noEvents,
      logger,
      clock,
      metrics,
      concurrency: 1,
      backoff: { baseMs: 100, maxMs: 1000 },
    },
  );
  return { r, calls, metrics };
}

async function metric(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

describe('runtime/controller runner', () => {
  it('reconciles each initial key once and records success', async () => {
    const clock = new FakeClock(0);
    const { r, calls, metrics } = runner(async () => undefined, clock);
    r.start([
      { namespace: 'a', name: 'x' },
      { namespace: 'a', name: 'y' },
      { namespace: 'a', name: 'x' },
    ]);
    await flushPromises();
    expect(calls.map((c) => c.key)).to.deep.equal(['a/x', 'a/y']);
    expect(await metric(metrics, 'csbs_reconcile_total', { controller: 'test', result: 'success' })).to.equal(
      2,
    );
    await r.stop();
  });

  it('retries errors with per-key exponential backoff and resets it after a success', async () => {
    const clock = new FakeClock(0);
    let failures = 3;
    const { r, calls, metrics } = runner(async () => {
      if (failures-- > 0) throw new Error('boom');
    }, clock);
    r.start([{ namespace: 'n', name: 'k' }]);
    await flushPromises();
    await clock.advance(100);
    await clock.advance(200);
    await clock.advance(400);
    expect(calls.map((c) => c.at)).to.deep.equal([0, 100, 300, 700]);
    expect(await metric(metrics, 'csbs_reconcile_errors_total', { controller: 'test' })).to.equal(3);
    await clock.advance(10_000);
    expect(calls).to.have.length(4, 'no retry after the success');
    await r.stop();
  });

  it('requeues a 409 Conflict after 1 s without counting an error', async () => {
    const clock = new FakeClock(0);
    let conflicts = 2;
    const { r, calls, metrics } = runner(async () => {
      if (conflicts-- > 0) {
        throw new ApiError({
          code: 409,
          method: 'PUT',
          path: '/x',
          status: { reason: 'Conflict', code: 409 },
        });
      }
    }, clock);
    r.start([{ namespace: 'n', name: 'k' }]);
    await flushPromises();
    await clock.advance(1000);
    await clock.advance(1000);
    expect(calls.map((c) => c.at)).to.deep.equal([0, 1000, 2000]);
    expect(await metric(metrics, 'csbs_reconcile_errors_total', { controller: 'test' })).to.equal(0);
    expect(
      await metric(metrics, 'csbs_reconcile_total', { controller: 'test', result: 'conflict' }),
    ).to.equal(2);
    await r.stop();
  });

  it('honours requeueAfterMs for timed triggers', async () => {
    const clock = new FakeClock(0);
    const { r, calls } = runner(async () => ({ requeueAfterMs: 60_000 }), clock);
    r.start([{ namespace: 'n', name: 'k' }]);
    await flushPromises();
    await clock.advance(59_999);
    expect(calls).to.have.length(1);
    await clock.advance(1);
    expect(calls.map((c) => c.at)).to.deep.equal([0, 60_000]);
    await r.stop();
  });

  it('never runs one key twice at once; an enqueue during a reconcile runs it again afterwards', async () => {
    const clock = new FakeClock(0);
    let running = 0;
    let maxRunning = 0;
    const gates: (() => void)[] = [];
    const { r, calls } = runner(
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise<void>((resolve) => gates.push(resolve));
        running--;
      },
      clock,
      4,
    );
    r.start([{ namespace: 'n', name: 'k' }]);
    await flushPromises();
    r.enqueue({ namespace: 'n', name: 'k' });
    r.enqueue({ namespace: 'n', name: 'k' });
    await flushPromises();
    expect(calls).to.have.length(1);
    gates.shift()?.();
    await flushPromises();
    expect(calls).to.have.length(2);
    gates.shift()?.();
    await flushPromises();
    expect(calls).to.have.length(2);
    expect(maxRunning).to.equal(1);
    await r.stop();
  });

  it('stop() aborts the context signal and waits for the reconcile in flight', async () => {
    const clock = new FakeClock(0);
    let finished = false;
    const { r } = runner(async (_key, ctx) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
      finished = true;
    }, clock);
    r.start([{ namespace: 'n', name: 'k' }]);
    await flushPromises();
    await r.stop();
    expect(finished).to.equal(true);
    expect(r.isRunning()).to.equal(false);
    r.enqueue({ namespace: 'n', name: 'k' }); // ignored while stopped
    expect(r.depth()).to.equal(0);
  });

  it('logs failures as JSON with controller, namespace and name; conflicts only at debug', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 2));
    const out = new PassThrough();
    const lines: Record<string, unknown>[] = [];
    out.on('data', (d: Buffer) => {
      for (const l of d.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(l) as Record<string, unknown>);
    });
    let n = 0;
    const { r } = runner(
      async () => {
        n++;
        if (n === 1)
          throw new ApiError({ code: 409, method: 'PUT', path: '/x', status: { reason: 'Conflict' } });
        if (n === 2) throw new Error('repository not reachable');
      },
      clock,
      1,
      createLogger({ level: 'info', stream: out, clock }),
    );
    r.start([{ namespace: 'team-a', name: 'bk-1' }]);
    await flushPromises();
    await clock.advance(1000);
    await clock.advance(100);
    await r.stop();
    await flushPromises();
    const errors = lines.filter((l) => l.level === 'error');
    expect(errors).to.have.length(1, JSON.stringify(lines));
    expect(errors[0]).to.include({
      msg: 'reconcile failed',
      controller: 'test',
      namespace: 'team-a',
      name: 'bk-1',
      error: 'repository not reachable',
      retryInMs: 100,
      time: '2026-01-02T00:00:01.000Z',
    });
    expect(lines.some((l) => String(l.msg).includes('conflict'))).to.equal(false, 'conflicts are debug-only');
  });
});
