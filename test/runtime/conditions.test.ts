import { expect } from 'chai';
import {
  getCondition,
  isConditionTrue,
  removeCondition,
  setCondition,
  setConditions,
  type Condition,
} from '../../src/runtime/conditions.js';

const t0 = new Date('2026-01-01T00:00:00.123Z');
const t1 = new Date('2026-01-01T00:05:00Z');

describe('runtime/conditions', () => {
  const ready = {
    type: 'Ready',
    status: 'False',
    reason: 'Pending',
    message: 'waiting',
    observedGeneration: 1,
  } as const;

  it('adds a new condition with the transition time at second precision', () => {
    const out = setCondition(undefined, ready, t0);
    expect(out).to.deep.equal([{ ...ready, lastTransitionTime: '2026-01-01T00:00:00Z' }]);
  });

  const cases: { name: string; next: Omit<Condition, 'lastTransitionTime'>; transition: string }[] = [
    {
      name: 'same status keeps lastTransitionTime, takes new reason/message/generation',
      next: {
        type: 'Ready',
        status: 'False',
        reason: 'StillPending',
        message: 'still',
        observedGeneration: 2,
      },
      transition: '2026-01-01T00:00:00Z',
    },
    {
      name: 'status change moves lastTransitionTime',
      next: { type: 'Ready', status: 'True', reason: 'Done', message: 'ok', observedGeneration: 2 },
      transition: '2026-01-01T00:05:00Z',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const before = setCondition(undefined, ready, t0);
      const after = setCondition(before, c.next, t1);
      expect(after).to.have.length(1);
      expect(after[0]).to.deep.equal({ ...c.next, lastTransitionTime: c.transition });
      expect(before[0].reason).to.equal('Pending', 'input list untouched');
    });
  }

  it('keeps order, appends new types, finds and removes', () => {
    let list = setConditions(
      undefined,
      [
        { type: 'A', status: 'True', reason: 'R', message: '' },
        { type: 'B', status: 'False', reason: 'R', message: '' },
      ],
      t0,
    );
    list = setCondition(list, { type: 'A', status: 'False', reason: 'R2', message: 'm' }, t1);
    expect(list.map((c) => c.type)).to.deep.equal(['A', 'B']);
    expect(getCondition(list, 'A')?.lastTransitionTime).to.equal('2026-01-01T00:05:00Z');
    expect(isConditionTrue(list, 'A')).to.equal(false);
    expect(isConditionTrue(list, 'missing')).to.equal(false);
    expect(removeCondition(list, 'A').map((c) => c.type)).to.deep.equal(['B']);
  });
});
