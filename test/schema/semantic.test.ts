import { expect } from 'chai';
import {
  checkBackupPolicySpec,
  cronProblem,
  formatFieldError,
  isTimeZone,
  timesOfDay,
} from '../../src/schema/index.js';

describe('schema: semantic checks', () => {
  it('accepts five-field cron expressions and explains the others', () => {
    expect(cronProblem('0 2 * * *')).to.equal(undefined);
    expect(cronProblem('*/15 1-3 1,15 JAN-JUN MON-FRI')).to.equal(undefined);
    expect(cronProblem('0 2 * *')).to.match(/exactly five fields/);
    expect(cronProblem('0 0 2 * * *')).to.match(/exactly five fields/);
    expect(cronProblem('@daily')).to.match(/exactly five fields/);
    expect(cronProblem('0 0 31 2 *')).to.match(/not a valid cron expression/);
    expect(cronProblem('61 * * * *')).to.match(/not a valid cron expression: .*61/);
  });

  it('counts the times of day a schedule fires', () => {
    expect(timesOfDay(['0 * * * *']).size).to.equal(24);
    expect(timesOfDay(['0 2 * * *', '0 2 * * MON', '30 14 * * *']).size).to.equal(2);
    expect(timesOfDay(['*/30 * * * *']).size).to.equal(48);
  });

  it('knows IANA time zones', () => {
    expect(isTimeZone('UTC')).to.equal(true);
    expect(isTimeZone('Europe/Paris')).to.equal(true);
    expect(isTimeZone('Mars/Olympus_Mons')).to.equal(false);
  });

  it('reports policy problems as field errors', () => {
    const errs = checkBackupPolicySpec({
      repositoryRef: { name: 'r' },
      schedule: { cron: ['0 0 31 2 *', '*/2 * * * *'], timeZone: 'Nowhere/Land' },
    });
    expect(errs.map(formatFieldError)).to.deep.equal([
      'spec.schedule.cron[0]: Invalid value: "0 0 31 2 *": is not a valid cron expression: Invalid explicit day of month definition',
      'spec.schedule.cron: Invalid value: ["0 0 31 2 *","*/2 * * * *"]: fires at 720 times of day; at most 24 runs a day are allowed (e.g. \'0 * * * *\' is hourly)',
      "spec.schedule.timeZone: Invalid value: \"Nowhere/Land\": unknown time zone: use an IANA name such as 'UTC' or 'Europe/Paris'",
    ]);
  });
});
