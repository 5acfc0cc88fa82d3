import { expect } from 'chai';
import { KubeClient } from '../../src/runtime/client.js';
import { Kinds } from '../../src/runtime/kinds.js';
import { LeaderElector, type LeaderElectionConfig } from '../../src/runtime/leaderelection.js';
import { eventually, namespace, useSandbox } from './helpers.js';

const fast = { leaseDurationMs: 800, renewDeadlineMs: 500, retryPeriodMs: 100 };

describe('runtime/leaderelection against the sandbox', () => {
  const { sb, client } = useSandbox();
  const electors: LeaderElector[] = [];
  afterEach(async () => {
    await Promise.all(electors.splice(0).map((e) => e.stop()));
  });

  function elector(ns: string, identity: string, extra: Partial<LeaderElectionConfig> = {}) {
    const log: string[] = [];
    const e = new LeaderElector({
      client: new KubeClient(sb().kubeConfig()),
      leaseName: 'csbs-test',
      leaseNamespace: ns,
      identity,
      ...fast,
      ...extra,
      onStartedLeading: () => log.push('start'),
      onStoppedLeading: () => log.push('stop'),
    });
    electors.push(e);
    return { e, log };
  }

  it('exactly one of two candidates leads; the other follows and takes over on release', async () => {
    const ns = await namespace(client(), 'le');
    const a = elector(ns, 'a');
    const b = elector(ns, 'b');
    a.e.start();
    await eventually(() => a.e.isLeader(), 3000, 'a leads');
    b.e.start();
    await eventually(() => b.e.state() === 'follower', 3000, 'b follows');
    // Several renew periods pass: leadership stays put and is never shared.
    for (let i = 0; i < 10; i++) {
      expect([a.e.isLeader(), b.e.isLeader()]).to.deep.equal([true, false]);
      await new Promise((r) => setTimeout(r, 50));
    }
    const lease = await client().get(Kinds.Lease, ns, 'csbs-test');
    expect(lease.spec?.holderIdentity).to.equal('a');
    expect(lease.spec?.leaseDurationSeconds).to.equal(1);
    const started = Date.now();
    await a.e.stop();
    expect(a.log).to.deep.equal(['start', 'stop']);
    expect((await client().get(Kinds.Lease, ns, 'csbs-test')).spec?.holderIdentity).to.equal('', 'released');
    await eventually(() => b.e.isLeader(), 3000, 'b takes over');
    // A released lease is taken at the next retry, well before it would expire.
    expect(Date.now() - started).to.be.below(fast.leaseDurationMs);
    const after = await client().get(Kinds.Lease, ns, 'csbs-test');
    expect(after.spec?.holderIdentity).to.equal('b');
    expect(after.spec?.leaseTransitions).to.equal(
      0,
      'taking a released lease is not a transition from a holder',
    );
  });

  it('takes over a lease whose holder vanished only after the lease duration', async () => {
    const ns = await namespace(client(), 'expire');
    const a = elector(ns, 'a', { releaseOnCancel: false });
    a.e.start();
    await eventually(() => a.e.isLeader(), 3000, 'a leads');
    const b = elector(ns, 'b');
    b.e.start();
    await eventually(() => b.e.state() === 'follower', 3000, 'b follows');
    const crashed = Date.now();
    await a.e.stop(); // like a crash: no release
    expect((await client().get(Kinds.Lease, ns, 'csbs-test')).spec?.holderIdentity).to.equal('a');
    await eventually(() => b.e.isLeader(), 5000, 'b takes over after expiry');
    // The last renewal came up to a (late) retry period before the crash, and b saw it up to one later.
    expect(Date.now() - crashed).to.be.at.least(fast.leaseDurationMs - 2 * fast.retryPeriodMs);
    const lease = await client().get(Kinds.Lease, ns, 'csbs-test');
    expect(lease.spec?.holderIdentity).to.equal('b');
    expect(lease.spec?.leaseTransitions).to.equal(1);
  });

  it('a leader that cannot renew steps down within the renew deadline', async () => {
    const ns = await namespace(client(), 'renew');
    const a = elector(ns, 'a');
    a.e.start();
    await eventually(() => a.e.isLeader(), 3000, 'a leads');
    sb().failNext({ path: new RegExp(`/namespaces/${ns}/leases`), count: 1000, code: 500 });
    const failing = Date.now();
    await eventually(() => !a.e.isLeader(), 3000, 'a steps down');
    // Measured from the first failing request; the last good renewal was up to a (late) period before.
    expect(Date.now() - failing).to.be.at.least(fast.renewDeadlineMs - 2 * fast.retryPeriodMs);
    expect(a.log).to.deep.equal(['start', 'stop']);
    sb().apiServer.faults.clear();
    await eventually(() => a.e.isLeader(), 3000, 'a leads again once the API answers');
  });

  it('rejects settings where a leader could outlive its lease', () => {
    expect(() => elector('x', 'a', { leaseDurationMs: 1000, renewDeadlineMs: 1000 })).to.throw(
      /renewDeadline/,
    );
    electors.pop();
  });
});
