import { expect } from 'chai';
import { PassThrough } from 'node:stream';
import type { CoreV1Event } from '@kubernetes/client-node';
import { createLogger } from '../../src/runtime/logging.js';
import { FakeClock } from '../../src/runtime/clock.js';
import { KubeEventRecorder } from '../../src/runtime/events.js';
import { Kinds } from '../../src/runtime/kinds.js';
import { configMap, namespace, useSandbox } from './helpers.js';

describe('runtime/events against the sandbox', () => {
  const { client } = useSandbox();

  it('records Normal and Warning events about an object, aggregating repeats within the window', async () => {
    const c = client();
    const ns = await namespace(c, 'events');
    const obj = await c.create(Kinds.ConfigMap, configMap(ns, 'subject'));
    const clock = new FakeClock(Date.UTC(2026, 5, 1, 12, 0, 0));
    const rec = new KubeEventRecorder(c, {
      component: 'csbs-controller',
      instance: 'pod-1',
      clock,
      aggregateWindowMs: 60_000,
    });

    await rec.normal(obj, 'SnapshotsTaken', '2 VolumeSnapshots ready');
    await rec.warning(obj, 'UploadFailed', 'volume disk0: mover exited 3 (wrong key)');
    await clock.advance(10_000);
    await rec.warning(obj, 'UploadFailed', 'volume disk0: mover exited 3 (wrong key)');
    await clock.advance(120_000); // past the window: a fresh Event
    await rec.warning(obj, 'UploadFailed', 'volume disk0: mover exited 3 (wrong key)');
    await rec.normal(obj, 'Long', 'x'.repeat(5000));

    const events = (await c.list(Kinds.Event, ns)).items as CoreV1Event[];
    const byReason = (r: string) => events.filter((e) => e.reason === r);
    expect(byReason('SnapshotsTaken')).to.have.length(1);
    const normal = byReason('SnapshotsTaken')[0];
    expect(normal).to.include({
      type: 'Normal',
      message: '2 VolumeSnapshots ready',
      count: 1,
      reportingComponent: 'csbs-controller',
      reportingInstance: 'pod-1',
    });
    expect(normal.involvedObject).to.include({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      name: 'subject',
      namespace: ns,
      uid: obj.metadata?.uid,
    });
    expect(normal.source?.component).to.equal('csbs-controller');

    const warnings = byReason('UploadFailed').sort((a, b) => (a.count ?? 0) - (b.count ?? 0));
    expect(warnings.map((w) => [w.type, w.count])).to.deep.equal([
      ['Warning', 1],
      ['Warning', 2],
    ]);
    const aggregated = warnings[1] as unknown as { firstTimestamp: string; lastTimestamp: string };
    expect(aggregated.firstTimestamp).to.equal('2026-06-01T12:00:00.000Z');
    expect(aggregated.lastTimestamp).to.equal('2026-06-01T12:00:10.000Z');
    expect(byReason('Long')[0].message)
      .to.have.length(1024)
      .and.match(/\.\.\.$/);
  });

  it('never rejects: a failed write is logged and dropped', async () => {
    const out = new PassThrough();
    let logged = '';
    out.on('data', (d: Buffer) => (logged += d.toString()));
    const rec = new KubeEventRecorder(client(), { component: 'x', logger: createLogger({ stream: out }) });
    // No such namespace: the create fails, the promise still resolves.
    const subject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'no-such-ns', name: 'a' } };
    await rec.warning(subject, 'R', 'm');
    await new Promise((r) => setImmediate(r));
    const line = JSON.parse(logged.trim().split('\n')[0]) as Record<string, unknown>;
    expect(line).to.include({
      level: 'warn',
      msg: 'could not record event',
      eventReason: 'R',
      reason: 'NotFound',
      namespace: 'no-such-ns',
    });
  });
});
