import { expect } from 'chai';
import { Writable } from 'node:stream';
import { formatBytes, Reporter, StepTimeoutError, waitUntil } from '../../src/demo/report.js';
import { renderTable, type Table } from '../../src/demo/table.js';

/** A stream that keeps what was written. */
function sink(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('csbs demo reporter', () => {
  it('numbers steps, prints their details and how long each took', async () => {
    const out = sink();
    let t = 1000;
    const r = new Reporter(out.stream, undefined, () => t);
    const v = await r.step('first thing', 1000, async (s) => {
      s.detail('a detail');
      t += 1500;
      return 42;
    });
    expect(v).to.equal(42);
    const lines = out.text().split('\n');
    expect(lines[0]).to.equal('[  0.0s] 1. first thing');
    expect(lines[1].trim()).to.equal('a detail');
    expect(lines[2].trim()).to.equal('ok (1.5s)');
  });

  it('ends a step that misses its deadline, naming the step and what it waited for', async () => {
    const r = new Reporter(sink().stream);
    let aborted = false;
    const err = await r
      .step('slow step', 50, async (s) => {
        s.waitingFor('Backup x to become Available');
        await waitUntil(s.signal, async () => undefined, 10).catch(() => {
          aborted = s.signal.aborted;
        });
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).to.be.instanceOf(StepTimeoutError);
    expect((err as Error).message).to.equal(
      'step "slow step" timed out after 0.1s waiting for Backup x to become Available',
    );
    await new Promise((r) => setTimeout(r, 30));
    expect(aborted, 'the step saw its signal abort').to.equal(true);
  });

  it('ends the running step when cancelled (Ctrl-C)', async () => {
    const cancel = new AbortController();
    const r = new Reporter(sink().stream, cancel.signal);
    setTimeout(() => cancel.abort('SIGINT'), 20);
    const err = await r
      .step('waits forever', 10_000, (s) => waitUntil(s.signal, async () => undefined, 5))
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    expect(err?.message).to.equal('step "waits forever" interrupted: SIGINT');
  });

  it('passes a failing step through unchanged', async () => {
    const r = new Reporter(sink().stream);
    const err = await r
      .step('bad', 1000, async () => {
        throw new Error('Backup manualbk_0001 failed: mover exited 3 (WrongKey)');
      })
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    expect(err?.message).to.equal('Backup manualbk_0001 failed: mover exited 3 (WrongKey)');
  });

  it('formats sizes in binary units', () => {
    expect(formatBytes(undefined)).to.equal('-');
    expect(formatBytes(512)).to.equal('512B');
    expect(formatBytes(4 * 1024 * 1024)).to.equal('4.0MiB');
    expect(formatBytes(100663296)).to.equal('96.0MiB');
  });
});

describe('csbs demo kubectl table', () => {
  it('lays out a server-side Table as kubectl get does (priority-0 columns only)', () => {
    const table: Table = {
      kind: 'Table',
      columnDefinitions: [
        { name: 'Name', priority: 0 },
        { name: 'Backup Name', priority: 0 },
        { name: 'Origin', priority: 1 },
        { name: 'Type', priority: 0 },
        { name: 'Age', priority: 0 },
      ],
      rows: [
        { cells: ['manualbk-0a1b', 'manualbk_0a1b', 'OneOff', 'Full', '25s'] },
        { cells: ['manualbk-ffff', 'manualbk_ffff', 'OneOff', null, '3s'] },
      ],
    };
    expect(renderTable(table)).to.deep.equal([
      'NAME            BACKUP NAME     TYPE     AGE',
      'manualbk-0a1b   manualbk_0a1b   Full     25s',
      'manualbk-ffff   manualbk_ffff   <none>   3s',
    ]);
    expect(renderTable({ kind: 'Table', columnDefinitions: [], rows: [] })).to.deep.equal([
      'No resources found.',
    ]);
  });
});
